//! The clients' console in a real headless Chromium (chromedriver, through
//! `fantoccini`) against the real binary: the pages load under a
//! Content-Security-Policy that refuses inline scripts and speak English and
//! French; on calls recorded through the binary, a supervisor finds a call by
//! number and plays it but can neither see nor use deletion, a user sees only
//! its own calls, and an admin's new retention is what the next sweep
//! applies. Each page is saved as a screenshot under
//! `$CARGO_TARGET_TMPDIR/console-screenshots/`.
//!
//! Chromium and chromedriver come from scripts/setup.sh; without them the
//! test fails, naming the packages.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use support::browser::Browser;
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::{binary, Gateway};
use support::ports::free_port;
use support::recorded::{
    cli_ok, output_text, wait_recordings, RecordedCall, CARRIER_IP, DIALLED, PBX_IP, TENANT,
};
use support::vault::{job_json, sample_transcript, store_transcription};

const ACME_NUMBER: &str = "+33123456789";
/// The number the second call dials: not the user's.
const OTHER_DIALLED: &str = "+33198765433";
const STORED_BOUND: Duration = Duration::from_secs(30);
/// Cheap Argon2id for the test's credentials (the defaults cost 64 MiB
/// each), and one declared sub-processor to object to.
const SECTIONS: &str = r#"
[admin]
argon2_memory_kib = 64
argon2_iterations = 1
argon2_parallelism = 1

[[subprocessors]]
name = "speechco"
purpose = "transcription"
country = "FR"
transfer_mechanism = "none"
announced = "2025-01-15"
"#;
const SUPERVISOR: (&str, &str) = ("sofia", "supervisor password 1");
const USER: (&str, &str) = ("ugo", "user password 1");

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

    // The server's language follows Accept-Language, and every answer
    // carries the policy.
    let served = browser
        .run(
            "const response = await fetch('/', { headers: { 'Accept-Language': 'fr-CA,fr;q=0.9,en;q=0.5' } });\n\
             return { page: await response.text(), policy: response.headers.get('content-security-policy') };",
        )
        .await;
    assert!(
        served["page"]
            .as_str()
            .unwrap_or_default()
            .contains("<html lang=\"fr\">"),
        "{served}"
    );
    let policy = served["policy"].as_str().unwrap_or_default();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");

    // The switch loads the French table and is remembered.
    let select = browser.wait_for("#language").await;
    select.select_by_value("fr").await.expect("choose French");
    browser.wait_text("#page-login h1", "Connexion").await;
    browser.screenshot("login-fr").await;
    browser.open(&console).await;
    assert_eq!(browser.text("#page-login h1").await, "Connexion");

    browser.close().await;
}

/// `greffier user add` for the tenant, the password through the environment.
fn add_user(config: &Path, (username, password): (&str, &str), role: &str, numbers: &[&str]) {
    let mut command = Command::new(binary());
    command
        .args([
            "user",
            "add",
            "--tenant",
            TENANT,
            "--role",
            role,
            "--username",
            username,
        ])
        .args(["--password-env", "CONSOLE_TEST_PASSWORD", "--config"])
        .arg(config)
        .env("CONSOLE_TEST_PASSWORD", password)
        .stdin(Stdio::null());
    for number in numbers {
        command.args(["--number", number]);
    }
    let output = command.output().expect("run greffier user add");
    assert!(
        output.status.success(),
        "user add: {}",
        output_text(&output)
    );
}

/// `greffier token create` for the tenant; returns the token it printed.
fn create_token(config: &Path, role: &str, name: &str) -> String {
    let printed = cli_ok(
        config,
        &[
            "token", "create", "--tenant", TENANT, "--role", role, "--name", name,
        ],
    );
    printed
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .expect("a token")
        .to_string()
}

async fn login_with_password(browser: &Browser, console: &str, (username, password): (&str, &str)) {
    browser.open(console).await;
    browser
        .fill("#login-password input[name=username]", username)
        .await;
    browser
        .fill("#login-password input[name=password]", password)
        .await;
    browser.click("#login-password button[type=submit]").await;
    browser.wait_for("#logout").await;
}

async fn login_with_token(browser: &Browser, console: &str, token: &str) {
    browser.open(console).await;
    browser.fill("#login-token input[name=token]", token).await;
    browser.click("#login-token button[type=submit]").await;
    browser.wait_for("#logout").await;
}

async fn logout(browser: &Browser) {
    browser.click("#logout").await;
    browser.wait_for("#page-login").await;
}

/// The record ids of the rows the calls page lists, once it has loaded.
async fn listed_ids(browser: &Browser) -> Vec<String> {
    browser.wait_for("#page-calls").await;
    let ids = browser
        .run(
            "const deadline = Date.now() + 20000;\n\
             while (Date.now() < deadline) {\n\
               const rows = document.querySelectorAll('#calls-table tbody tr');\n\
               if (rows.length > 0 || !document.querySelector('#calls-empty').hidden) {\n\
                 return Array.from(rows, (row) => row.dataset.id);\n\
               }\n\
               await new Promise((resolve) => requestAnimationFrame(resolve));\n\
             }\n\
             return null;",
        )
        .await;
    serde_json::from_value(ids).expect("the calls page listed its rows")
}

/// Searches the calls page by `number`, waiting for the new result.
async fn search_by_number(browser: &Browser, number: &str) -> Vec<String> {
    browser
        .fill("#calls-search input[name=number]", number)
        .await;
    browser
        .run("document.querySelector('#calls-table tbody').replaceChildren(); return true;")
        .await;
    browser.click("#calls-search button[type=submit]").await;
    listed_ids(browser).await
}

/// A request from the page itself, with the session cookie and its CSRF
/// token; returns the status.
async fn fetch_status(browser: &Browser, method: &str, path: &str) -> u64 {
    let script = format!(
        "const session = await (await fetch('/v1/session')).json();\n\
         const response = await fetch({path:?}, {{ method: {method:?}, \
           headers: {{ 'X-CSRF-Token': session.csrf_token }} }});\n\
         return response.status;"
    );
    browser.run(&script).await.as_u64().expect("a status")
}

fn sweep_at(config: &Path, days: i64) -> serde_json::Value {
    let now =
        (Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let printed = cli_ok(config, &["retention", "sweep", "--now", &now]);
    let summary: serde_json::Value =
        serde_json::from_str(printed.lines().last().expect("a summary line"))
            .expect("a JSON summary");
    summary["summary"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_and_does_only_what_it_may() {
    support::browser::require_chromium();
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut acme = TenantSpec::new(TENANT, ACME_NUMBER, pbx, carrier);
    acme.recording_policy = "all".to_string();
    let config = GatewayConfig::write(vec![acme]).with_sections(SECTIONS);
    let config_path = config.path().to_path_buf();
    add_user(&config_path, SUPERVISOR, "supervisor", &[]);
    add_user(&config_path, USER, "user", &[DIALLED]);
    let admin_token = create_token(&config_path, "admin", "console-admin");
    let super_token = create_token(&config_path, "super_admin", "console-owner");
    let operator_token = cli_ok(
        &config_path,
        &["token", "create", "--operator", "--name", "node-staff"],
    )
    .trim()
    .to_string();

    let gateway = Gateway::start(config);
    std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
    RecordedCall::start(&gateway, pbx, carrier, "1000").finish();
    let users_call = wait_recordings(&config_path, 1, STORED_BOUND)[0].clone();
    RecordedCall::start_dialling(&gateway, pbx, carrier, OTHER_DIALLED, "1000").finish();
    let other_call = wait_recordings(&config_path, 2, STORED_BOUND)
        .into_iter()
        .find(|id| *id != users_call)
        .expect("the second call's record");
    let transcribed = other_call.clone();
    let config_file = config_path.clone();
    tokio::task::spawn_blocking(move || {
        let config = greffier::config::Config::load(&config_file)
            .unwrap_or_else(|problems| panic!("{problems}"));
        let id = transcribed.parse().expect("a record id");
        let transcript = sample_transcript("bonjour la console");
        let done = job_json(serde_json::json!({"state": "done"}), 1);
        store_transcription(&config, TENANT, &id, Some(&transcript), Some(&done));
    })
    .await
    .expect("store the transcript");

    let browser = Browser::start(&gateway.config.run_dir()).await;
    let console = format!("http://{}/", gateway.admin);
    let recording_path = |id: &str| format!("/v1/tenants/{TENANT}/recordings/{id}");

    // A supervisor finds the call by its number and plays it to the end.
    login_with_password(&browser, &console, SUPERVISOR).await;
    let mut all = listed_ids(&browser).await;
    all.sort();
    let mut expected = vec![users_call.clone(), other_call.clone()];
    expected.sort();
    assert_eq!(all, expected, "the supervisor sees the tenant's calls");
    assert_eq!(
        search_by_number(&browser, DIALLED).await,
        vec![users_call.clone()]
    );
    browser.screenshot("supervisor-calls").await;
    assert!(!browser.displayed("#nav a[data-page=retention]").await);
    assert!(!browser.displayed("#nav a[data-page=users]").await);
    assert!(!browser.displayed("#nav a[data-page=audit]").await);
    browser
        .click(&format!("#calls-table tr[data-id='{users_call}'] a"))
        .await;
    browser.wait_for("#page-recording").await;
    browser.wait_for("#no-transcript").await;
    let played = browser
        .run(
            "const audio = document.querySelector('#recording-audio');\n\
             audio.muted = true;\n\
             return await new Promise((resolve) => {\n\
               audio.addEventListener('ended', () => resolve({ ended: true, duration: audio.duration }), { once: true });\n\
               audio.addEventListener('error', () => resolve({ error: audio.error ? audio.error.code : 'unknown' }), { once: true });\n\
               audio.play().catch((error) => resolve({ error: String(error) }));\n\
             });",
        )
        .await;
    assert_eq!(
        played["ended"], true,
        "the recording did not play to its end: {played}"
    );
    assert!(played["duration"].as_f64().unwrap_or(0.0) > 0.5, "{played}");
    browser.screenshot("supervisor-recording").await;
    assert!(
        !browser.displayed("#recording-delete").await,
        "the supervisor sees the delete button"
    );
    assert_eq!(
        fetch_status(&browser, "DELETE", &recording_path(&users_call)).await,
        403
    );
    // The other call has a transcript: its lines show under the player,
    // each with its speaker.
    browser
        .run(&format!(
            "location.hash = '#/recording/{other_call}'; return true;"
        ))
        .await;
    browser.wait_for("#recording-transcript p strong").await;
    let shown = browser.text("#recording-transcript").await;
    assert!(shown.contains("Caller: bonjour la console"), "{shown}");
    assert!(shown.contains("Callee: je vous écoute"), "{shown}");
    browser.click("#nav a[data-page=subprocessors]").await;
    browser
        .wait_for("#subprocessors-table tr[data-name=speechco]")
        .await;
    assert!(
        !browser
            .displayed("#subprocessors-table tr[data-name=speechco] button")
            .await,
        "the supervisor may not object"
    );
    browser.screenshot("supervisor-subprocessors").await;
    logout(&browser).await;

    // A user sees only the call to its own number, and not the other one.
    login_with_password(&browser, &console, USER).await;
    assert_eq!(listed_ids(&browser).await, vec![users_call.clone()]);
    browser.screenshot("user-calls").await;
    assert_eq!(
        fetch_status(&browser, "GET", &recording_path(&other_call)).await,
        404
    );
    logout(&browser).await;

    // The super administrator's pages: users, tokens, audit, objections.
    login_with_token(&browser, &console, &super_token).await;
    for page in ["users", "tokens", "audit", "subprocessors", "retention"] {
        browser.click(&format!("#nav a[data-page={page}]")).await;
        browser.wait_for(&format!("#page-{page}")).await;
        if page == "users" {
            browser.wait_for("#users-table tbody td:first-child").await;
            let users = browser.text("#users-table").await;
            assert!(users.contains(SUPERVISOR.0), "{users}");
        }
        browser.screenshot(&format!("super-admin-{page}")).await;
    }
    // A token made on the page is shown once; the audit log downloads.
    browser.click("#nav a[data-page=tokens]").await;
    browser
        .fill("#tokens-form input[name=name]", "from-the-console")
        .await;
    browser
        .wait_for("#tokens-form select[name=role]")
        .await
        .select_by_value("supervisor")
        .await
        .expect("choose a role");
    browser.click("#tokens-form button[type=submit]").await;
    let secret = browser.text("#tokens-secret code").await;
    assert!(secret.len() > 20, "no token shown: {secret:?}");
    browser
        .wait_for("#tokens-table tbody tr:nth-child(3)")
        .await;
    browser.screenshot("super-admin-token-created").await;
    let audit = browser
        .run(&format!(
            "const response = await fetch('/v1/tenants/{TENANT}/audit');\n\
             return {{ status: response.status, body: await response.text() }};"
        ))
        .await;
    assert_eq!(audit["status"], 200, "{audit}");

    // The super administrator objects to the sub-processor; the API keeps it.
    browser.click("#nav a[data-page=subprocessors]").await;
    browser
        .click("#subprocessors-table tr[data-name=speechco] button")
        .await;
    browser
        .wait_text(
            "#subprocessors-table tr[data-name=speechco] td:last-child button",
            "Withdraw the objection",
        )
        .await;
    browser.screenshot("super-admin-objection").await;
    let objections = browser
        .run(&format!(
            "return await (await fetch('/v1/tenants/{TENANT}/objections')).json();"
        ))
        .await;
    assert_eq!(objections["subprocessors"], serde_json::json!(["speechco"]));
    logout(&browser).await;

    // The operator has no tenant: the console shows it nothing of one.
    login_with_token(&browser, &console, &operator_token).await;
    browser.wait_for("#page-operator").await;
    assert!(!browser.displayed("#nav a[data-page=calls]").await);
    browser.screenshot("operator").await;
    logout(&browser).await;

    // An admin sees deletion, and sets a retention the next sweep applies.
    login_with_token(&browser, &console, &admin_token).await;
    browser
        .click(&format!("#calls-table tr[data-id='{other_call}'] a"))
        .await;
    browser.wait_for("#recording-delete").await;
    browser.screenshot("admin-recording").await;
    assert!(!browser.displayed("#nav a[data-page=users]").await);
    // A data subject's export: a job in the gateway, then its zip.
    browser.click("#nav a[data-page=subjects]").await;
    browser.wait_for("#subjects-export").await;
    browser
        .fill("#subjects-export input[name=number]", DIALLED)
        .await;
    browser.click("#subjects-export button[type=submit]").await;
    let link = browser.wait_for("#subjects-download").await;
    let href = link
        .attr("href")
        .await
        .expect("the link's href")
        .expect("a download link");
    assert!(href.ends_with("/zip"), "{href}");
    let path = href
        .trim_start_matches(&console[..console.len() - 1])
        .to_string();
    assert_eq!(fetch_status(&browser, "GET", &path).await, 200, "{path}");
    browser.screenshot("admin-subject-export").await;
    let before = sweep_at(&config_path, 11);
    assert_eq!(
        before["deleted"], 0,
        "30 days kept before the change: {before}"
    );
    browser.click("#nav a[data-page=retention]").await;
    browser.wait_for("#retention-form").await;
    let bounds = browser.text("#retention-bounds-recordings").await;
    assert!(
        bounds.contains("730"),
        "the operator's bound is shown: {bounds}"
    );
    browser
        .fill("#retention-form input[name=recordings_days]", "10")
        .await;
    browser.click("#retention-form button[type=submit]").await;
    browser.wait_for("#retention-saved").await;
    browser.screenshot("admin-retention").await;
    let after = sweep_at(&config_path, 11);
    assert!(
        after["deleted"].as_u64().unwrap_or(0) > 0,
        "the sweep at day 11 kept the recordings after a 10-day retention: {after}"
    );
    let left = cli_ok(&config_path, &["recordings", "list", "--tenant", TENANT]);
    assert!(
        left.trim().is_empty(),
        "recordings left after the sweep: {left}"
    );
    browser.close().await;
}
