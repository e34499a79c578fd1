mod parse;
mod plan;
mod rewrite;
