//! A master key given in the environment does not stay there: once the gateway
//! has read it, neither `/proc/<pid>/environ` (readable by any process of the
//! same user, and copied into core dumps) nor child processes show it.

mod support;

use std::net::SocketAddr;

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;

const VARIABLE: &str = "GREFFIER_TEST_MASTER_KEY";

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn the_master_key_variable_is_wiped_from_the_running_process() {
    let pbx: SocketAddr = "127.0.0.1:5999".parse().unwrap();
    let carrier: SocketAddr = "127.0.0.2:5998".parse().unwrap();
    let config = GatewayConfig::write(vec![TenantSpec::new("acme", "+33199000001", pbx, carrier)])
        .with_master_key_env(VARIABLE);
    let key = GatewayConfig::master_key_hex();
    let gateway = Gateway::start_with_env(config, &[(VARIABLE, key.as_str())]);
    // Ready means the keyring was created and sealed with the key it read.
    assert_eq!(gateway.get("/healthz").status, 200);

    let environ = std::fs::read(format!("/proc/{}/environ", gateway.pid()))
        .expect("read the gateway's environment block");
    assert!(
        holds(&environ, b"GREFFIER_LOG="),
        "the rest of the environment is left alone"
    );
    assert!(
        !holds(&environ, key.as_bytes()),
        "the master key is still in /proc/<pid>/environ"
    );
    assert!(
        !holds(&environ, VARIABLE.as_bytes()),
        "the variable's name is still in /proc/<pid>/environ"
    );
}
