use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::vault_setup;

pub(super) fn run(config: &Path) -> ExitCode {
    // Before the runtime starts any thread: a master key given in the environment
    // is read and wiped from it here. A configuration that does not load is
    // reported, with all its problems, by the gateway itself.
    let master = match Config::load(config) {
        Ok(loaded) => vault_setup::take_master_key_from_env(&loaded.keys),
        Err(_) => Ok(None),
    };
    let master = match master {
        Ok(master) => master,
        Err(error) => {
            eprintln!("greffier: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    super::block_on(crate::gateway::run(config, master))
}
