mod edge;
mod parse;
mod plan;
mod rewrite;
