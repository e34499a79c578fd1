//! The clients' console in a real headless Chromium (chromedriver, through
//! `fantoccini`) against the real binary: the pages load under a
//! Content-Security-Policy that refuses inline scripts, speak English and
//! French, and each page is saved as a screenshot under
//! `$CARGO_TARGET_TMPDIR/console-screenshots/`.
//!
//! Chromium and chromedriver come from scripts/setup.sh; without them the
//! test fails, naming the packages.

mod support;

use std::net::SocketAddr;

use support::browser::Browser;
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{CARRIER_IP, PBX_IP, TENANT};

const ACME_NUMBER: &str = "+33123456789";

fn gateway() -> Gateway {
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let gateway = Gateway::start(GatewayConfig::write(vec![TenantSpec::new(
        TENANT,
        ACME_NUMBER,
        pbx,
        carrier,
    )]));
    std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
    gateway
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_loads_in_both_languages_and_refuses_inline_scripts() {
    support::browser::require_chromium();
    let gateway = gateway();
    let browser = Browser::start(&gateway.config.run_dir()).await;
    let console = format!("http://{}/", gateway.admin);

    browser.open(&console).await;
    browser.wait_for("#login-password").await;
    browser.wait_for("#login-token").await;
    assert!(!browser.displayed("#nav").await, "navigation before login");
    assert_eq!(browser.text("#page-login h1").await, "Sign in");
    browser.screenshot("login-en").await;

    // The policy the server sent refuses a script injected into the page.
    let ran = browser
        .run(
            "const script = document.createElement('script');\n\
             script.textContent = 'window.injected = true';\n\
             document.body.append(script);\n\
             await new Promise((resolve) => setTimeout(resolve, 0));\n\
             return window.injected === true;",
        )
        .await;
    assert_eq!(ran, false, "an inline script ran despite the policy");

    // The switch loads the French table and is remembered.
    let select = browser.wait_for("#language").await;
    select.select_by_value("fr").await.expect("choose French");
    browser.wait_text("#page-login h1", "Connexion").await;
    browser.screenshot("login-fr").await;
    browser.open(&console).await;
    assert_eq!(browser.text("#page-login h1").await, "Connexion");

    browser.close().await;
}
