use std::path::Path;
use std::process::ExitCode;

pub(super) fn run(config: &Path) -> ExitCode {
    super::block_on(crate::gateway::run(config))
}
