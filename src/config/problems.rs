//! Collected configuration problems: loading reports all of them at once.

use std::fmt;
use std::path::{Path, PathBuf};

use greffier_types::mask_numbers_in_text;

/// One thing wrong in one file, at one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file the value comes from.
    pub file: PathBuf,
    /// Dotted path of the value, e.g. `node.media_ports` or
    /// `tenants.demo.pbx.sources[0]`; empty when the whole file is at fault
    /// (unreadable, or not valid TOML).
    pub key: String,
    /// What is wrong, on one line; telephone numbers are masked.
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.reason)
        }
    }
}

/// Every problem found while loading a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Accumulates problems while validation goes on.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<ConfigProblem>,
}

impl Problems {
    pub(crate) fn push(&mut self, file: &Path, key: impl Into<String>, reason: impl fmt::Display) {
        let reason = reason.to_string().replace(['\n', '\r'], " ");
        self.list.push(ConfigProblem {
            file: file.to_path_buf(),
            key: key.into(),
            reason: mask_numbers_in_text(&reason),
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn into_errors(self) -> ConfigErrors {
        ConfigErrors {
            problems: self.list,
        }
    }
}

/// A file and a key prefix: where the values being validated come from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) file: &'a Path,
    pub(crate) prefix: &'a str,
}

impl<'a> Origin<'a> {
    pub(crate) fn new(file: &'a Path, prefix: &'a str) -> Self {
        Self { file, prefix }
    }

    /// The full dotted key of `field` below this origin's prefix.
    pub(crate) fn key(&self, field: &str) -> String {
        join_key(self.prefix, field)
    }
}

pub(crate) fn join_key(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if field.starts_with('[') => format!("{prefix}{field}"),
        (false, false) => format!("{prefix}.{field}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_per_problem() {
        let mut problems = Problems::default();
        problems.push(Path::new("a.toml"), "node.id", "is empty");
        problems.push(
            Path::new("t/demo.toml"),
            "tenants.demo.numbers[0]",
            "bad\nvalue",
        );
        let text = problems.into_errors().to_string();
        assert_eq!(
            text,
            "a.toml: node.id: is empty\nt/demo.toml: tenants.demo.numbers[0]: bad value"
        );
    }

    #[test]
    fn reasons_never_carry_numbers_in_clear() {
        let mut problems = Problems::default();
        problems.push(Path::new("a.toml"), "k", "duplicate number +33612345678");
        let errors = problems.into_errors();
        assert!(!errors.to_string().contains("12345678"));
    }

    #[test]
    fn keys_join_with_dots_and_brackets() {
        assert_eq!(join_key("", "node"), "node");
        assert_eq!(join_key("node", "id"), "node.id");
        assert_eq!(join_key("pbx.sources", "[2]"), "pbx.sources[2]");
        assert_eq!(join_key("node", ""), "node");
    }
}
