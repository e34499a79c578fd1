//! The log as the real binary writes it: plain text without colour codes
//! when it goes to a file (journald and `grep` see the bytes), and one JSON
//! object a line when asked, by `[log] format` or `--log-format`.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::scene::{CARRIER_IP, PBX_IP};

fn config() -> GatewayConfig {
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    GatewayConfig::write(vec![TenantSpec::new("acme", "+33123456789", pbx, carrier)])
}

const STARTED: &str = "greffier started";

#[test]
fn a_log_written_to_a_file_holds_no_escape_byte() {
    let mut gateway = Gateway::start(config());
    let log = gateway.wait_for_log(&[STARTED], Duration::from_secs(10));
    gateway.stop(Duration::from_secs(10));
    assert!(log.contains(STARTED));
    assert!(
        !log.as_bytes().contains(&0x1b),
        "colour codes in a log file: {:?}",
        log.lines().find(|line| line.contains('\u{1b}'))
    );
}

/// Each line a JSON object with the level and the message.
fn assert_json_lines(log: &str) {
    let mut lines = 0;
    for line in log.lines().filter(|line| !line.trim().is_empty()) {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {line:?}"));
        assert!(entry["level"].is_string(), "{line}");
        assert!(entry["fields"]["message"].is_string(), "{line}");
        lines += 1;
    }
    assert!(lines > 0, "no log line at all");
}

#[test]
fn the_configuration_asks_for_json_lines() {
    let mut gateway = Gateway::start(config().with_sections("[log]\nformat = \"json\"\n"));
    let log = gateway.wait_for_log(&[STARTED], Duration::from_secs(10));
    gateway.stop(Duration::from_secs(10));
    assert_json_lines(&log);
}

#[test]
fn the_command_line_asks_for_json_lines_over_the_configuration() {
    let config = config().with_sections("[log]\nformat = \"text\"\n");
    let mut gateway = Gateway::start_with_options(config, &[], &["--log-format", "json"]);
    let log = gateway.wait_for_log(&[STARTED], Duration::from_secs(10));
    gateway.stop(Duration::from_secs(10));
    assert_json_lines(&log);
}

#[test]
fn a_wrong_log_section_is_a_configuration_problem() {
    let config = config().with_sections("[log]\nformat = \"xml\"\nlevel = \"loud\"\n");
    let output = std::process::Command::new(support::gateway::binary())
        .args(["check-config", "--config"])
        .arg(config.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("log.format"), "{text}");
}
