//! Loading: reading the main file and the tenant files from disk, and the
//! environment, for the pure schema (`schema.rs`) to validate.

use std::path::{Path, PathBuf};

use super::problems::{ConfigErrors, Problems};
use super::schema::{self, MainPart};
use super::{Config, Tenant};

/// A configuration file larger than this is a mistake, not a configuration.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

pub(crate) struct LoadOptions<'a> {
    /// Read tenants from here instead of `node.tenants_dir` (a reload keeps
    /// the directory the node started with).
    pub(crate) tenants_dir: Option<&'a Path>,
    pub(crate) lookup: &'a dyn Fn(&str) -> Option<String>,
}

pub(crate) fn load(path: &Path, options: &LoadOptions<'_>) -> Result<Config, ConfigErrors> {
    let mut problems = Problems::default();
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let Some(text) = read_text(&path, &mut problems) else {
        return Err(problems.into_errors());
    };
    let Some(main) = schema::parse_main(&path, &text, options.lookup, &mut problems) else {
        return Err(problems.into_errors());
    };
    let tenants_dir = options
        .tenants_dir
        .map(Path::to_path_buf)
        .or_else(|| main.tenants_dir.clone());
    let tenants = match &tenants_dir {
        Some(dir) => load_tenants(dir, &path, &main, &mut problems),
        None => Vec::new(),
    };
    schema::finish(path, main, tenants, problems)
}

/// Reads one file as UTF-8 text; its problems are recorded with an empty key.
fn read_text(path: &Path, problems: &mut Problems) -> Option<String> {
    let bytes = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            problems.push(path, "", format!("larger than {MAX_FILE_BYTES} bytes"));
            return None;
        }
        Ok(_) => std::fs::read(path),
        Err(error) => Err(error),
    };
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(error) => {
            problems.push(path, "", format!("cannot read the file: {error}"));
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(_) => {
            problems.push(path, "", "not valid UTF-8");
            None
        }
    }
}

/// Every `*.toml` file of `dir` (hidden files and editors' leftovers aside),
/// in name order so that problems come out the same way every time.
pub(crate) fn tenant_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let visible = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| !name.starts_with('.'));
        let toml = path.extension().is_some_and(|ext| ext == "toml");
        if visible && toml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn load_tenants(
    dir: &Path,
    main_file: &Path,
    main: &MainPart,
    problems: &mut Problems,
) -> Vec<Tenant> {
    let files = match tenant_files(dir) {
        Ok(files) => files,
        Err(error) => {
            problems.push(
                main_file,
                "node.tenants_dir",
                format!("cannot read the directory {}: {error}", dir.display()),
            );
            return Vec::new();
        }
    };
    let context = main.tenant_context();
    files
        .into_iter()
        .filter_map(|file| {
            let text = read_text(&file, problems)?;
            schema::parse_tenant(file, &text, &context, problems)
        })
        .collect()
}
