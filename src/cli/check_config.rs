use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

pub(super) fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(loaded) => {
            for warning in loaded.warnings() {
                eprintln!("warning: {warning}");
            }
            // The limit of this shell, raised as the gateway raises its own;
            // a service gets its unit's LimitNOFILE instead.
            let node = &loaded.node;
            let plan = crate::gateway::descriptors::plan_for(
                node.media_ports.len(),
                node.edge.tcp_limits().max_connections,
            );
            if plan.is_short() {
                eprintln!(
                    "warning: {}: here only {} concurrent calls would be kept; raise the limit \
                     (LimitNOFILE= in the systemd unit, ulimit -n) to at least {}",
                    plan.describe(),
                    plan.calls,
                    plan.needs.total() + plan.open
                );
            } else {
                println!("descriptors: {}", plan.describe());
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
