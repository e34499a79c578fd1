mod parse;
mod plan;
mod rewrite;
mod edge;
