use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

pub(super) fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(loaded) => {
            for warning in loaded.warnings() {
                eprintln!("warning: {warning}");
            }
            println!(
                "{}: ok ({} tenants)",
                path.display(),
                loaded.tenants().len()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{problems}");
            ExitCode::FAILURE
        }
    }
}
