//! Path values: environment expansion, then resolution against the
//! directory of the file that names them.

use std::path::{Path, PathBuf};

/// How deep `${A:-${B:-...}}` defaults may nest.
const MAX_NESTING: usize = 4;

/// Expands `${NAME}` and `${NAME:-fallback}` (the fallback is expanded in
/// turn) with `lookup`. A variable that is unset, or set to an empty value,
/// without a fallback is an error, so that a path never silently collapses.
pub(crate) fn expand_env(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    expand_at_depth(text, lookup, 0)
}

fn expand_at_depth(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Result<String, String> {
    if depth > MAX_NESTING {
        return Err("`${...}` defaults are nested too deeply".to_string());
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 2..).unwrap_or_default();
        let end = matching_brace(after).ok_or("`${` without its closing `}`")?;
        let inner = after.get(..end).unwrap_or_default();
        let (name, fallback) = match inner.split_once(":-") {
            Some((name, fallback)) => (name, Some(fallback)),
            None => (inner, None),
        };
        if !is_env_name(name) {
            return Err(format!("`{name}` is not an environment variable name"));
        }
        match (lookup(name).filter(|v| !v.is_empty()), fallback) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(fallback)) => out.push_str(&expand_at_depth(fallback, lookup, depth + 1)?),
            (None, None) => return Err(format!("environment variable {name} is not set")),
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// Index of the `}` closing a `${` whose content starts `text`.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b'{' if index > 0 && bytes.get(index - 1) == Some(&b'$') => depth += 1,
            b'}' if depth == 0 => return Some(index),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Names of the form `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Expands `text` and makes it absolute against `base_dir` when relative.
pub(crate) fn resolve_path(
    text: &str,
    base_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("the path is empty".to_string());
    }
    let expanded = expand_env(text, lookup)?;
    let path = PathBuf::from(expanded);
    Ok(if path.is_absolute() {
        path
    } else {
        base_dir.join(path)
    })
}

/// What relative paths and `${...}` references resolve against.
pub(crate) struct PathContext<'a> {
    pub(crate) base_dir: &'a Path,
    pub(crate) lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl PathContext<'_> {
    pub(crate) fn resolve(&self, text: &str) -> Result<PathBuf, String> {
        resolve_path(text, self.base_dir, self.lookup)
    }
}

/// The process environment, as `expand_env` wants it.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/srv/op".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_and_fallbacks() {
        assert_eq!(expand_env("${HOME}/data", &env).unwrap(), "/srv/op/data");
        assert_eq!(
            expand_env("${XDG_DATA_HOME:-${HOME}/.local/share}/greffier", &env).unwrap(),
            "/srv/op/.local/share/greffier"
        );
        assert_eq!(expand_env("${EMPTY:-x}", &env).unwrap(), "x");
        assert_eq!(expand_env("plain/$dollar", &env).unwrap(), "plain/$dollar");
    }

    #[test]
    fn rejects_unset_or_malformed_references() {
        assert!(expand_env("${NOPE}/x", &env).unwrap_err().contains("NOPE"));
        assert!(expand_env("${EMPTY}", &env).is_err());
        assert!(expand_env("${HOME", &env).is_err());
        assert!(expand_env("${1X}", &env).is_err());
        assert!(expand_env("${A:-${B:-${C:-${D:-${E:-${F:-x}}}}}}", &env).is_err());
    }

    #[test]
    fn resolves_relative_paths_against_the_base() {
        let base = Path::new("/etc/greffier");
        assert_eq!(
            resolve_path("tenants", base, &env).unwrap(),
            PathBuf::from("/etc/greffier/tenants")
        );
        assert_eq!(
            resolve_path("/var/lib/g", base, &env).unwrap(),
            PathBuf::from("/var/lib/g")
        );
        assert_eq!(
            resolve_path("${HOME}/k", base, &env).unwrap(),
            PathBuf::from("/srv/op/k")
        );
        assert!(resolve_path("", base, &env).is_err());
    }
}
