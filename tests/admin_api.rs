//! The admin API through the real binary: every endpoint × role × own or
//! other tenant answers exactly what the role table says (the same table
//! as docs/admin-api.md), foreign `Host` headers and cross-site posts are
//! refused, tokens are re-read without a restart, credentials never reach
//! the log, the OpenAPI document is the checked-in one, and the listener
//! speaks TLS when configured.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use greffier_vault::store::RecordId;
use support::gateway::Gateway;
use support::vault::{
    job_json, record_blocking, sample_transcript, store_transcription, streamed_wav, KeyMode,
    TestCall, VaultTree,
};

const DEMO: &str = "+33199000001";
const OTHER: &str = "+33199000002";
const ALICE: &str = "+33612345678";
const BOB: &str = "+33698765432";
/// A number no call of either tenant has.
const NOBODY: &str = "+33600000999";
const USER_PASSWORD: &str = "a long passphrase for alice";

/// Cheap Argon2 for the tests (the defaults take 64 MiB and three passes
/// per hash); the subprocessor list the endpoint serves.
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

// --- The table -------------------------------------------------------------

const ROLES: [&str; 5] = ["operator", "super_admin", "admin", "supervisor", "user"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fixture {
    None,
    /// A call id that is not in progress.
    Call,
    /// A recording of the tenant, read but never deleted.
    Recording,
    /// A recording made for this one request.
    FreshRecording,
    /// A transcript made for this one request.
    FreshTranscript,
    /// A hold placed for this one request.
    FreshHold,
    /// A token made for this one request.
    FreshToken,
    /// A user made for this one request.
    FreshUser,
    /// A data-subject export job of demo.
    Export,
}

struct Row {
    method: &'static str,
    path: &'static str,
    fixture: Fixture,
    /// Statuses for operator, super_admin, admin, supervisor, user: on
    /// their own tenant, and on another one.
    own: [u16; 5],
    other: [u16; 5],
}

const fn row(
    method: &'static str,
    path: &'static str,
    fixture: Fixture,
    own: [u16; 5],
    other: [u16; 5],
) -> Row {
    Row {
        method,
        path,
        fixture,
        own,
        other,
    }
}

use Fixture as F;

/// The role table, as docs/admin-api.md prints it.
#[rustfmt::skip]
const TABLE: &[Row] = &[
    row("GET", "/v1/subprocessors", F::None, [200, 200, 200, 200, 200], [200, 200, 200, 200, 200]),
    row("GET", "/v1/tenants/{tenant}/objections", F::None, [200, 200, 200, 403, 403], [200, 404, 404, 404, 404]),
    row("PUT", "/v1/tenants/{tenant}/objections", F::None, [403, 200, 403, 403, 403], [403, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/calls", F::None, [200, 200, 200, 200, 200], [200, 404, 404, 404, 404]),
    row("POST", "/v1/tenants/{tenant}/calls/{call}/pause", F::Call, [404, 404, 404, 403, 404], [404, 404, 404, 404, 404]),
    row("POST", "/v1/tenants/{tenant}/calls/{call}/resume", F::Call, [404, 404, 404, 403, 404], [404, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/recordings", F::None, [403, 200, 200, 200, 200], [403, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/recordings/{record}", F::Recording, [403, 200, 200, 200, 200], [403, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/recordings/{record}/audio", F::Recording, [403, 200, 200, 200, 200], [403, 404, 404, 404, 404]),
    row("DELETE", "/v1/tenants/{tenant}/recordings/{record}", F::FreshRecording, [403, 204, 204, 403, 403], [403, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/recordings/{record}/transcript", F::Recording, [403, 200, 200, 200, 200], [403, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/recordings/{record}/transcript/status", F::Recording, [403, 200, 200, 200, 200], [403, 404, 404, 404, 404]),
    row("DELETE", "/v1/tenants/{tenant}/recordings/{record}/transcript", F::FreshTranscript, [403, 204, 204, 403, 403], [403, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/retention", F::None, [200, 200, 200, 403, 403], [200, 404, 404, 404, 404]),
    row("PUT", "/v1/tenants/{tenant}/retention", F::None, [403, 200, 200, 403, 403], [403, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/holds", F::None, [200, 200, 200, 403, 403], [200, 404, 404, 404, 404]),
    row("POST", "/v1/tenants/{tenant}/holds", F::None, [201, 403, 403, 403, 403], [201, 404, 404, 404, 404]),
    row("DELETE", "/v1/tenants/{tenant}/holds/{hold}", F::FreshHold, [204, 403, 403, 403, 403], [204, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/audit", F::None, [200, 200, 403, 403, 403], [200, 404, 404, 404, 404]),
    row("POST", "/v1/tenants/{tenant}/subjects/export", F::None, [403, 202, 202, 403, 403], [403, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/subjects/exports/{job}", F::Export, [403, 200, 200, 403, 403], [403, 404, 404, 404, 404]),
    row("POST", "/v1/tenants/{tenant}/subjects/erase", F::None, [403, 200, 200, 403, 403], [403, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/tokens", F::None, [200, 200, 403, 403, 403], [200, 404, 404, 404, 404]),
    row("POST", "/v1/tenants/{tenant}/tokens", F::None, [201, 201, 403, 403, 403], [201, 404, 404, 404, 404]),
    row("DELETE", "/v1/tenants/{tenant}/tokens/{token}", F::FreshToken, [204, 204, 403, 403, 403], [204, 404, 404, 404, 404]),
    row("GET", "/v1/tenants/{tenant}/users", F::None, [200, 200, 403, 403, 403], [200, 404, 404, 404, 404]),
    row("POST", "/v1/tenants/{tenant}/users", F::None, [201, 201, 403, 403, 403], [201, 404, 404, 404, 404]),
    row("DELETE", "/v1/tenants/{tenant}/users/{username}", F::FreshUser, [204, 204, 403, 403, 403], [204, 404, 404, 404, 404]),
];

/// The table as docs/admin-api.md holds it: each cell is "own tenant /
/// another tenant"; without a valid credential every route answers 401.
fn table_markdown() -> String {
    let mut text = String::from("| Method | Path |");
    for role in ROLES {
        text.push_str(&format!(" `{role}` |"));
    }
    text.push_str(" no, wrong, expired or revoked credential |\n|---|---|");
    text.push_str(&"---|".repeat(ROLES.len() + 1));
    text.push('\n');
    for row in TABLE {
        text.push_str(&format!("| {} | `{}` |", row.method, row.path));
        for (own, other) in row.own.iter().zip(row.other.iter()) {
            text.push_str(&format!(" {own} / {other} |"));
        }
        text.push_str(" 401 |\n");
    }
    text
}

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

#[test]
fn the_documented_role_table_is_the_tested_one() {
    let doc = std::fs::read_to_string(repo_file("docs/admin-api.md")).expect("docs/admin-api.md");
    let expected = table_markdown();
    assert!(
        doc.contains(&expected),
        "docs/admin-api.md does not hold the role table of tests/admin_api.rs; it should read:\n\n{expected}"
    );
}

// --- A small HTTP/1.0 client ----------------------------------------------

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect to the admin listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut request = format!("{method} {path} HTTP/1.0\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        && !body.is_empty()
    {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the reply");
    parse_reply(&raw)
}

// --- The node under test ----------------------------------------------------

fn greffier_cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_greffier"))
        .args(args)
        .envs(env.iter().copied())
        .env("GREFFIER_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run greffier");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// How a role's requests authenticate.
#[derive(Clone, Debug)]
enum Credential {
    Bearer(String),
    Session { cookie: String, csrf: String },
}

struct Node {
    gateway: Gateway,
    config: PathBuf,
    /// By role name: demo's client roles and the operator.
    credentials: HashMap<&'static str, Credential>,
    /// A recording of each tenant that is read, never deleted.
    kept: HashMap<&'static str, RecordId>,
    /// Recordings each tenant gives up to the deleting rows.
    spare: HashMap<&'static str, Vec<RecordId>>,
    /// Transcripts each tenant gives up to the deleting rows.
    spare_transcripts: HashMap<&'static str, Vec<RecordId>>,
    /// Every token and password the run used, for the log scan.
    secrets: Vec<String>,
    counter: std::cell::Cell<u32>,
}

fn record_call(
    tree: &VaultTree,
    tenant: &str,
    caller: &str,
    callee: &str,
    minutes_ago: i64,
) -> RecordId {
    let start = Utc::now() - chrono::Duration::minutes(minutes_ago);
    let call = TestCall::new(tenant, caller, callee, start);
    record_blocking(&tree.load(), &call, &streamed_wav(16_000))
}

impl Node {
    /// Two tenants with recordings, a token per role of `demo`, an
    /// operator token, and `alice`, a `user` of demo with ALICE's number.
    fn start() -> Self {
        let mut tree = VaultTree::new().with_sections(SECTIONS);
        tree.write_tenant("demo", &[DEMO], &KeyMode::Managed);
        tree.write_tenant("other", &[OTHER], &KeyMode::Managed);
        let mut kept = HashMap::new();
        let mut spare: HashMap<&'static str, Vec<RecordId>> = HashMap::new();
        kept.insert("demo", record_call(&tree, "demo", ALICE, DEMO, 120));
        kept.insert("bob", record_call(&tree, "demo", BOB, DEMO, 110));
        kept.insert("other", record_call(&tree, "other", ALICE, OTHER, 100));
        let config = tree.load();
        let done = job_json(serde_json::json!({"state": "done"}), 1);
        for tenant in ["demo", "other"] {
            let transcript = sample_transcript(&format!("bonjour {tenant}"));
            store_transcription(
                &config,
                tenant,
                &kept[tenant],
                Some(&transcript),
                Some(&done),
            );
        }
        let refused = serde_json::json!({"state": "refused", "code": "objected",
            "reason": "the tenant objects to sub-processor speechco"});
        store_transcription(
            &config,
            "demo",
            &kept["bob"],
            None,
            Some(&job_json(refused, 0)),
        );
        let mut spare_transcripts: HashMap<&'static str, Vec<RecordId>> = HashMap::new();
        for (tenant, number) in [("demo", DEMO), ("other", OTHER)] {
            for minutes in 0..ROLES.len() {
                let id = record_call(&tree, tenant, ALICE, number, 60 + minutes as i64);
                spare.entry(tenant).or_default().push(id);
                let transcribed = RecordId::generate();
                let transcript = sample_transcript("à supprimer");
                store_transcription(&config, tenant, &transcribed, Some(&transcript), None);
                spare_transcripts
                    .entry(tenant)
                    .or_default()
                    .push(transcribed);
            }
        }
        let config = tree.config();
        let gateway = Gateway::start(tree.into_gateway());
        let mut node = Node {
            gateway,
            config,
            credentials: HashMap::new(),
            kept,
            spare,
            spare_transcripts,
            secrets: Vec::new(),
            counter: std::cell::Cell::new(0),
        };
        let operator = node.token(&["--operator"], "ops");
        node.credentials
            .insert("operator", Credential::Bearer(operator));
        for role in ["super_admin", "admin", "supervisor"] {
            let token = node.token(
                &["--tenant", "demo", "--role", role],
                &role.replace('_', "-"),
            );
            node.credentials.insert(role, Credential::Bearer(token));
        }
        node.add_user("demo", "alice", "user", &[ALICE]);
        let session = node.login_password("alice", USER_PASSWORD);
        node.credentials.insert("user", session);
        node
    }

    fn config_arg(&self) -> String {
        self.config.display().to_string()
    }

    fn unique(&self, prefix: &str) -> String {
        let next = self.counter.get() + 1;
        self.counter.set(next);
        format!("{prefix}-{next}")
    }

    /// `greffier token create`; returns the token.
    fn token(&mut self, owner: &[&str], name: &str) -> String {
        let config = self.config_arg();
        let mut args = vec!["token", "create", "--config", &config, "--name", name];
        args.extend_from_slice(owner);
        let (ok, stdout, stderr) = greffier_cli(&args, &[]);
        assert!(ok, "token create: {stderr}");
        let token = stdout.trim().to_string();
        assert!(token.starts_with("grf_"), "{stdout}");
        self.secrets.push(token.clone());
        token
    }

    /// `greffier user add`, the password from the environment.
    fn add_user(&mut self, tenant: &str, username: &str, role: &str, numbers: &[&str]) {
        let config = self.config_arg();
        let mut args = vec![
            "user",
            "add",
            "--config",
            &config,
            "--tenant",
            tenant,
            "--role",
            role,
            "--username",
            username,
            "--password-env",
            "GREFFIER_TEST_PASSWORD",
        ];
        for number in numbers {
            args.extend_from_slice(&["--number", number]);
        }
        let (ok, _, stderr) = greffier_cli(&args, &[("GREFFIER_TEST_PASSWORD", USER_PASSWORD)]);
        assert!(ok, "user add: {stderr}");
        self.secrets.push(USER_PASSWORD.to_string());
    }

    fn login(&self, body: &str) -> Reply {
        send(self.gateway.admin, "POST", "/v1/session", &[], Some(body))
    }

    fn session_of(reply: &Reply) -> Credential {
        assert_eq!(reply.status, 200, "login: {}", reply.text());
        let cookie = reply
            .header("set-cookie")
            .expect("a session cookie")
            .to_string();
        let pair = cookie.split(';').next().expect("name=value").to_string();
        let csrf = reply.json()["csrf_token"]
            .as_str()
            .expect("a CSRF token")
            .to_string();
        Credential::Session { cookie: pair, csrf }
    }

    fn login_password(&self, username: &str, password: &str) -> Credential {
        let body = serde_json::json!({"username": username, "password": password}).to_string();
        Self::session_of(&self.login(&body))
    }

    fn request(
        &self,
        credential: Option<&Credential>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Reply {
        let mut headers = Vec::new();
        match credential {
            Some(Credential::Bearer(token)) => {
                headers.push(("Authorization", format!("Bearer {token}")))
            }
            Some(Credential::Session { cookie, csrf }) => {
                headers.push(("Cookie", cookie.clone()));
                headers.push(("X-CSRF-Token", csrf.clone()));
            }
            None => {}
        }
        send(self.gateway.admin, method, path, &headers, body)
    }

    fn as_role(&self, role: &str, method: &str, path: &str, body: Option<&str>) -> Reply {
        self.request(Some(&self.credentials[role]), method, path, body)
    }

    /// The path and body of `row` on `tenant`, with what it needs made.
    fn prepare(&mut self, row: &Row, tenant: &'static str) -> (String, Option<String>) {
        let mut path = row.path.replace("{tenant}", tenant);
        match row.fixture {
            F::None => {}
            F::Call => path = path.replace("{call}", &uuid::Uuid::new_v4().to_string()),
            F::Recording => path = path.replace("{record}", &self.kept[tenant].to_string()),
            F::FreshRecording => {
                let id = self
                    .spare
                    .get_mut(tenant)
                    .and_then(Vec::pop)
                    .expect("a spare recording");
                path = path.replace("{record}", &id.to_string());
            }
            F::FreshTranscript => {
                let id = self
                    .spare_transcripts
                    .get_mut(tenant)
                    .and_then(Vec::pop)
                    .expect("a spare transcript");
                path = path.replace("{record}", &id.to_string());
            }
            F::FreshHold => {
                let body =
                    serde_json::json!({"record": RecordId::generate().uuid(), "reason": "case 1"});
                let made = self.as_role(
                    "operator",
                    "POST",
                    &format!("/v1/tenants/{tenant}/holds"),
                    Some(&body.to_string()),
                );
                assert_eq!(made.status, 201, "{}", made.text());
                path = path.replace("{hold}", made.json()["id"].as_str().expect("a hold id"));
            }
            F::FreshToken => {
                let name = self.unique("spare");
                let token = self.token(&["--tenant", tenant, "--role", "supervisor"], &name);
                let id = token.split('_').nth(1).expect("grf_ID_SECRET").to_string();
                path = path.replace("{token}", &id);
            }
            F::FreshUser => {
                let name = self.unique("spare");
                self.add_user(tenant, &name, "supervisor", &[]);
                path = path.replace("{username}", &name);
            }
            F::Export => {
                let body = serde_json::json!({ "number": NOBODY }).to_string();
                let made = self.as_role(
                    "super_admin",
                    "POST",
                    "/v1/tenants/demo/subjects/export",
                    Some(&body),
                );
                assert_eq!(made.status, 202, "{}", made.text());
                path = path.replace("{job}", made.json()["id"].as_str().expect("a job id"));
            }
        }
        let body = match (row.method, row.path) {
            ("PUT", p) if p.ends_with("/objections") => Some(r#"{"subprocessors":[]}"#.to_string()),
            ("PUT", p) if p.ends_with("/retention") => {
                Some(r#"{"recordings_days":30,"transcripts_days":30}"#.to_string())
            }
            ("POST", p) if p.ends_with("/holds") => Some(
                serde_json::json!({"record": RecordId::generate().uuid(), "reason": "case 2"})
                    .to_string(),
            ),
            ("POST", p) if p.ends_with("/subjects/export") || p.ends_with("/subjects/erase") => {
                Some(serde_json::json!({ "number": NOBODY }).to_string())
            }
            ("POST", p) if p.ends_with("/tokens") => Some(
                serde_json::json!({"name": self.unique("made"), "role": "supervisor"}).to_string(),
            ),
            ("POST", p) if p.ends_with("/users") => Some(
                serde_json::json!({"username": self.unique("made"), "role": "supervisor",
                    "password": "another long passphrase"})
                .to_string(),
            ),
            _ => None,
        };
        (path, body)
    }
}

#[test]
fn every_endpoint_answers_each_role_as_the_table_says() {
    let mut node = Node::start();
    let mut wrong = Vec::new();
    for row in TABLE {
        for (tenant, statuses) in [("demo", row.own), ("other", row.other)] {
            for (role, expected) in ROLES.iter().zip(statuses) {
                let (path, body) = node.prepare(row, tenant);
                let reply = node.as_role(role, row.method, &path, body.as_deref());
                if reply.status != expected {
                    wrong.push(format!(
                        "{} {path} as {role}: {} (expected {expected}) {}",
                        row.method,
                        reply.status,
                        reply.text()
                    ));
                }
                if reply.status >= 400 {
                    assert_eq!(
                        reply.header("content-type"),
                        Some("application/problem+json"),
                        "{} {path} as {role}",
                        row.method
                    );
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "cells that differ from the table:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn transcripts_are_read_by_whoever_reads_recordings_and_kept_by_holds() {
    let node = Node::start();
    let (alice, bob) = (node.kept["demo"], node.kept["bob"]);
    let may = |role: &str| -> Vec<String> {
        let reply = node.as_role(role, "GET", "/v1/session", None);
        serde_json::from_value(reply.json()["may"].clone()).expect("a list")
    };
    for (role, read, delete) in [
        ("operator", false, false),
        ("super_admin", true, true),
        ("admin", true, true),
        ("supervisor", true, false),
        ("user", true, false),
    ] {
        let may = may(role);
        assert_eq!(
            may.contains(&"read_transcript".to_string()),
            read,
            "{role}: {may:?}"
        );
        assert_eq!(
            may.contains(&"delete_transcript".to_string()),
            delete,
            "{role}: {may:?}"
        );
    }

    // The list says which calls have a transcript.
    let page = node
        .as_role("supervisor", "GET", "/v1/tenants/demo/recordings", None)
        .json();
    let flag = |id: RecordId| {
        page["recordings"]
            .as_array()
            .expect("recordings")
            .iter()
            .find(|entry| entry["id"] == id.to_string())
            .map(|entry| entry["transcript"].clone())
    };
    assert_eq!(flag(alice), Some(serde_json::json!(true)), "{page:#}");
    assert_eq!(flag(bob), Some(serde_json::json!(false)), "{page:#}");

    let transcript = format!("/v1/tenants/demo/recordings/{alice}/transcript");
    let reply = node.as_role("supervisor", "GET", &transcript, None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), sample_transcript("bonjour demo"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    // The operator never reads content; a user only its own calls'.
    assert_eq!(
        node.as_role("operator", "GET", &transcript, None).status,
        403
    );
    let status = node.as_role(
        "user",
        "GET",
        &format!("/v1/tenants/demo/recordings/{bob}/transcript/status"),
        None,
    );
    assert_eq!(status.status, 404, "{}", status.text());

    // A refused job says why, by code; a call without transcript is 404.
    let status = node
        .as_role(
            "admin",
            "GET",
            &format!("/v1/tenants/demo/recordings/{bob}/transcript/status"),
            None,
        )
        .json();
    assert_eq!(status["state"], "refused", "{status}");
    assert_eq!(status["code"], "objected");
    assert_eq!(status["transcript"], false);
    let none = node.as_role(
        "admin",
        "GET",
        &format!("/v1/tenants/demo/recordings/{bob}/transcript"),
        None,
    );
    assert_eq!(none.status, 404);

    // A hold keeps it; once released, it goes alone.
    let hold = node.as_role(
        "operator",
        "POST",
        "/v1/tenants/demo/holds",
        Some(&serde_json::json!({"record": alice.uuid(), "reason": "case 9"}).to_string()),
    );
    assert_eq!(hold.status, 201, "{}", hold.text());
    let hold = hold.json()["id"].as_str().expect("a hold id").to_string();
    let refused = node.as_role("admin", "DELETE", &transcript, None);
    assert_eq!(refused.status, 409, "{}", refused.text());
    let released = node.as_role(
        "operator",
        "DELETE",
        &format!("/v1/tenants/demo/holds/{hold}"),
        None,
    );
    assert_eq!(released.status, 204);
    assert_eq!(
        node.as_role("admin", "DELETE", &transcript, None).status,
        204
    );
    assert_eq!(node.as_role("admin", "GET", &transcript, None).status, 404);
    assert_eq!(
        node.as_role("admin", "DELETE", &transcript, None).status,
        404
    );
    let entry = node
        .as_role(
            "admin",
            "GET",
            &format!("/v1/tenants/demo/recordings/{alice}"),
            None,
        )
        .json();
    assert_eq!(entry["transcript"], false, "{entry}");
    let status = node
        .as_role("admin", "GET", &format!("{transcript}/status"), None)
        .json();
    assert_eq!(status["state"], "done");
    assert_eq!(status["transcript"], false);
}

#[test]
fn bad_credentials_get_401_and_revocation_needs_no_restart() {
    let mut node = Node::start();
    let config = node.config_arg();
    let expired = node.token(
        &[
            "--tenant",
            "demo",
            "--role",
            "admin",
            "--expires",
            "2020-01-01",
        ],
        "old",
    );
    let revoked = node.token(&["--tenant", "demo", "--role", "admin"], "gone");
    let path = "/v1/tenants/demo/recordings";
    assert_eq!(
        node.request(
            Some(&Credential::Bearer(revoked.clone())),
            "GET",
            path,
            None
        )
        .status,
        200
    );
    let id = revoked
        .split('_')
        .nth(1)
        .expect("grf_ID_SECRET")
        .to_string();
    let (ok, _, stderr) = greffier_cli(&["token", "revoke", "--config", &config, "--id", &id], &[]);
    assert!(ok, "{stderr}");
    let wrong_secret = format!("grf_{id}_not-the-secret");
    let unknown = "grf_0123456789ab_whatever".to_string();
    let (demo_record, other_record) = (node.kept["demo"], node.kept["other"]);
    for row in TABLE {
        let path = row
            .path
            .replace("{tenant}", "demo")
            .replace("{call}", &uuid::Uuid::new_v4().to_string())
            .replace("{record}", &demo_record.to_string())
            .replace("{hold}", &uuid::Uuid::new_v4().to_string())
            .replace("{token}", "0123456789ab")
            .replace("{username}", "alice");
        for credential in [
            None,
            Some(Credential::Bearer(expired.clone())),
            Some(Credential::Bearer(revoked.clone())),
            Some(Credential::Bearer(wrong_secret.clone())),
            Some(Credential::Bearer(unknown.clone())),
            Some(Credential::Session {
                cookie: "greffier_session=forged".into(),
                csrf: "forged".into(),
            }),
        ] {
            let reply = node.request(credential.as_ref(), row.method, &path, Some("{}"));
            assert_eq!(
                reply.status,
                401,
                "{} {path} with {credential:?}: {}",
                row.method,
                reply.text()
            );
        }
    }
    // Another tenant's record under one's own tenant is missing, too.
    let reply = node.as_role(
        "admin",
        "GET",
        &format!("/v1/tenants/demo/recordings/{other_record}"),
        None,
    );
    assert_eq!(reply.status, 404, "{}", reply.text());
    let reply = node.as_role(
        "admin",
        "GET",
        "/v1/tenants/demo/recordings/not-a-uuid",
        None,
    );
    assert_eq!(reply.status, 404);
}

#[test]
fn a_user_sees_only_the_calls_of_its_numbers() {
    let node = Node::start();
    let listed = node.as_role("user", "GET", "/v1/tenants/demo/recordings", None);
    assert_eq!(listed.status, 200, "{}", listed.text());
    let ids: Vec<String> = listed.json()["recordings"]
        .as_array()
        .expect("recordings")
        .iter()
        .map(|entry| entry["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let supervisor = node.as_role("supervisor", "GET", "/v1/tenants/demo/recordings", None);
    let all = supervisor.json()["recordings"]
        .as_array()
        .expect("recordings")
        .len();
    // Alice is a party to every demo call but Bob's.
    assert_eq!(ids.len() + 1, all, "{ids:?}");
    assert!(ids.contains(&node.kept["demo"].to_string()));
    let bobs = supervisor.json()["recordings"]
        .as_array()
        .expect("recordings")
        .iter()
        .map(|entry| entry["id"].as_str().unwrap_or_default().to_string())
        .find(|id| !ids.contains(id))
        .expect("Bob's call");
    for suffix in ["", "/audio"] {
        let path = format!("/v1/tenants/demo/recordings/{bobs}{suffix}");
        assert_eq!(
            node.as_role("user", "GET", &path, None).status,
            404,
            "{path}"
        );
        assert_eq!(
            node.as_role("supervisor", "GET", &path, None).status,
            200,
            "{path}"
        );
    }
}

#[test]
fn recordings_page_by_cursor_and_audio_honours_ranges() {
    let node = Node::start();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/tenants/demo/recordings?limit=3&cursor={cursor}"),
            None => "/v1/tenants/demo/recordings?limit=3".to_string(),
        };
        let page = node.as_role("admin", "GET", &path, None).json();
        for entry in page["recordings"].as_array().expect("recordings") {
            seen.push(entry["id"].as_str().expect("id").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len());
    let by_number = node.as_role(
        "admin",
        "GET",
        &format!("/v1/tenants/demo/recordings?number=%2B{}", &BOB[1..]),
        None,
    );
    assert_eq!(
        by_number.json()["recordings"].as_array().map(Vec::len),
        Some(1),
        "{}",
        by_number.text()
    );

    let audio_path = format!("/v1/tenants/demo/recordings/{}/audio", node.kept["demo"]);
    let whole = node.as_role("supervisor", "GET", &audio_path, None);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-type"), Some("audio/wav"));
    assert_eq!(&whole.body[..4], b"RIFF");
    let mut headers = vec![("Range", "bytes=100-199".to_string())];
    if let Credential::Bearer(token) = &node.credentials["supervisor"] {
        headers.push(("Authorization", format!("Bearer {token}")));
    }
    let part = send(node.gateway.admin, "GET", &audio_path, &headers, None);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, whole.body[100..200].to_vec());
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100-199/{}", whole.body.len()).as_str())
    );
    headers[0].1 = format!("bytes={}-", whole.body.len() + 10);
    assert_eq!(
        send(node.gateway.admin, "GET", &audio_path, &headers, None).status,
        416
    );
}

/// A data-subject export through the API is a job whose zip holds every
/// call of that number in the tenant and nothing else; an erasure deletes
/// its recordings and keeps its call records; another tenant sees neither.
#[test]
fn a_subject_export_is_a_zip_of_the_numbers_calls_and_an_erasure_reports() {
    let node = Node::start();
    let body = serde_json::json!({ "number": ALICE }).to_string();
    let started = node.as_role(
        "admin",
        "POST",
        "/v1/tenants/demo/subjects/export",
        Some(&body),
    );
    assert_eq!(started.status, 202, "{}", started.text());
    let job = started.json()["id"].as_str().expect("a job id").to_string();
    let job_path = format!("/v1/tenants/demo/subjects/exports/{job}");
    // The export runs in the gateway: poll its state, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let status = node.as_role("admin", "GET", &job_path, None).json();
        match status["state"].as_str() {
            Some("ready") => break status,
            Some("running") => {}
            other => panic!("the export ended {other:?}: {status}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the export never ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // ALICE called demo once long ago and once for each of the five spares.
    assert_eq!(ready["records"], 6, "{ready}");
    let zip_reply = node.as_role("admin", "GET", &format!("{job_path}/zip"), None);
    assert_eq!(zip_reply.status, 200, "{}", zip_reply.text());
    assert_eq!(zip_reply.header("content-type"), Some("application/zip"));
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip_reply.body.clone())).expect("a zip");
    let mut manifest = String::new();
    archive
        .by_name("manifest.json")
        .expect("a manifest")
        .read_to_string(&mut manifest)
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("JSON");
    let files = manifest["files"].as_array().expect("files");
    let recordings = files
        .iter()
        .filter(|file| file["kind"] == "recording")
        .count();
    assert_eq!(recordings, 6, "{manifest}");
    let wav = files
        .iter()
        .find(|file| file["kind"] == "recording")
        .and_then(|file| file["file"].as_str())
        .expect("a recording's path");
    let mut riff = [0u8; 4];
    archive.by_name(wav).unwrap().read_exact(&mut riff).unwrap();
    assert_eq!(&riff, b"RIFF");
    // Another tenant's view of the job, and a supervisor's: nothing.
    let elsewhere = format!("/v1/tenants/other/subjects/exports/{job}");
    assert_eq!(node.as_role("admin", "GET", &elsewhere, None).status, 404);
    assert_eq!(
        node.as_role("supervisor", "GET", &job_path, None).status,
        403
    );

    let erased = node.as_role(
        "admin",
        "POST",
        "/v1/tenants/demo/subjects/erase",
        Some(&body),
    );
    assert_eq!(erased.status, 200, "{}", erased.text());
    let report = erased.json();
    assert_eq!(report["records"], 6, "{report}");
    assert_eq!(report["call_records_kept"], 6, "{report}");
    assert!(report["deleted"].as_u64().unwrap_or(0) >= 6, "{report}");
    let left = node.as_role(
        "admin",
        "GET",
        &format!("/v1/tenants/demo/recordings?number=%2B{}", &ALICE[1..]),
        None,
    );
    assert_eq!(
        left.json()["recordings"].as_array().map(Vec::len),
        Some(0),
        "{}",
        left.text()
    );
    let bob = node.as_role(
        "admin",
        "GET",
        &format!("/v1/tenants/demo/recordings?number=%2B{}", &BOB[1..]),
        None,
    );
    assert_eq!(bob.json()["recordings"].as_array().map(Vec::len), Some(1));
    let other = node.as_role("operator", "GET", "/v1/tenants/other/audit", None);
    assert!(!other.text().contains("subject_erase"), "{}", other.text());
    let number = serde_json::json!({ "number": "not a number" }).to_string();
    let refused = node.as_role(
        "admin",
        "POST",
        "/v1/tenants/demo/subjects/erase",
        Some(&number),
    );
    assert_eq!(refused.status, 422, "{}", refused.text());
}

#[test]
fn rebinding_and_cross_site_posts_are_refused_and_sessions_need_csrf() {
    let node = Node::start();
    let admin_token = match &node.credentials["admin"] {
        Credential::Bearer(token) => token.clone(),
        Credential::Session { .. } => unreachable!("admin has a token"),
    };
    // DNS rebinding: the page's own name in Host, with a valid token even.
    let rebound = send(
        node.gateway.admin,
        "GET",
        "/v1/tenants/demo/calls",
        &[
            ("Host", "evil.example:80".into()),
            ("Authorization", format!("Bearer {admin_token}")),
        ],
        None,
    );
    assert_eq!(rebound.status, 421, "{}", rebound.text());
    let legacy = send(
        node.gateway.admin,
        "GET",
        "/calls",
        &[("Host", "evil.example".into())],
        None,
    );
    assert_eq!(legacy.status, 421);
    // The older unauthenticated route refuses a cross-site form too.
    let legacy_form = send(
        node.gateway.admin,
        "POST",
        "/calls/1/recording/pause",
        &[
            ("Origin", "https://evil.example".into()),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ],
        Some("x=1"),
    );
    assert_eq!(legacy_form.status, 403, "{}", legacy_form.text());

    let session = node.login_password("alice", USER_PASSWORD);
    let Credential::Session { cookie, csrf } = &session else {
        unreachable!("a session")
    };
    // A session whose user may pause: an admin logs in with its token.
    let admin_session =
        Node::session_of(&node.login(&serde_json::json!({"token": admin_token}).to_string()));
    let Credential::Session {
        cookie: admin_cookie,
        csrf: admin_csrf,
    } = &admin_session
    else {
        unreachable!("a session")
    };
    let login = node.login(&serde_json::json!({"token": admin_token}).to_string());
    let set_cookie = login.header("set-cookie").expect("cookie").to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    assert!(login.header("access-control-allow-origin").is_none());

    let pause = format!("/v1/tenants/demo/calls/{}/pause", uuid::Uuid::new_v4());
    // The cross-site form: the browser sends the cookie and its Origin.
    let form = send(
        node.gateway.admin,
        "POST",
        &pause,
        &[
            ("Cookie", admin_cookie.clone()),
            ("Origin", "https://evil.example".into()),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ],
        Some("x=1"),
    );
    assert_eq!(form.status, 403, "{}", form.text());
    // Without Origin (an older browser): the missing CSRF token stops it.
    let no_token = send(
        node.gateway.admin,
        "POST",
        &pause,
        &[
            ("Cookie", admin_cookie.clone()),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ],
        Some("x=1"),
    );
    assert_eq!(no_token.status, 403, "{}", no_token.text());
    let wrong_token = send(
        node.gateway.admin,
        "POST",
        &pause,
        &[
            ("Cookie", admin_cookie.clone()),
            ("X-CSRF-Token", csrf.clone()),
        ],
        None,
    );
    assert_eq!(
        wrong_token.status,
        403,
        "another session's token: {}",
        wrong_token.text()
    );
    // With its own token the request goes through (no such call: 404).
    let good = send(
        node.gateway.admin,
        "POST",
        &pause,
        &[
            ("Cookie", admin_cookie.clone()),
            ("X-CSRF-Token", admin_csrf.clone()),
            ("Origin", format!("http://{}", node.gateway.admin)),
        ],
        None,
    );
    assert_eq!(good.status, 404, "{}", good.text());
    // Preflight: no CORS answer.
    let preflight = send(
        node.gateway.admin,
        "OPTIONS",
        "/v1/tenants/demo/recordings",
        &[
            ("Origin", "https://evil.example".into()),
            ("Access-Control-Request-Method", "DELETE".into()),
        ],
        None,
    );
    assert!(preflight.header("access-control-allow-origin").is_none());
    assert!(preflight.status >= 400, "{}", preflight.status);

    // The session reads who it is, and ends.
    let me = node.request(Some(&session), "GET", "/v1/session", None);
    assert_eq!(me.json()["role"], "user");
    assert_eq!(
        me.json()["may"],
        serde_json::json!([
            "list_calls",
            "control_call",
            "list_recordings",
            "read_recording",
            "read_transcript"
        ])
    );
    assert_eq!(
        node.request(Some(&session), "DELETE", "/v1/session", None)
            .status,
        204
    );
    assert_eq!(
        node.request(Some(&session), "GET", "/v1/session", None)
            .status,
        401
    );
    let Credential::Session { .. } = session else {
        unreachable!()
    };
    assert_eq!(
        node.login(
            &serde_json::json!({"username": "alice", "password": "not her passphrase"}).to_string()
        )
        .status,
        401
    );
    let _ = cookie;
}

/// What must stay secret in a token (`grf_<id>_<secret>`, the secret in
/// base64url, which may hold `_`) or a password (all of it).
fn secret_of(credential: &str) -> &str {
    match credential.strip_prefix("grf_") {
        Some(rest) => rest.split_once('_').map_or(rest, |(_, secret)| secret),
        None => credential,
    }
}

#[test]
fn tokens_and_passwords_never_reach_the_log() {
    let mut node = Node::start();
    let made = node.as_role(
        "super_admin",
        "POST",
        "/v1/tenants/demo/tokens",
        Some(r#"{"name":"made-here","role":"admin"}"#),
    );
    assert_eq!(made.status, 201, "{}", made.text());
    let token = made.json()["token"]
        .as_str()
        .expect("the new token")
        .to_string();
    node.secrets.push(token.clone());
    assert_eq!(
        node.request(
            Some(&Credential::Bearer(token.clone())),
            "GET",
            "/v1/tenants/demo/recordings",
            None
        )
        .status,
        200
    );
    let password = "yet another long passphrase";
    node.secrets.push(password.to_string());
    let user = node.as_role(
        "super_admin",
        "POST",
        "/v1/tenants/demo/users",
        Some(
            &serde_json::json!({"username": "bob", "role": "supervisor", "password": password})
                .to_string(),
        ),
    );
    assert_eq!(user.status, 201, "{}", user.text());
    node.login_password("bob", password);
    assert_eq!(
        node.login(
            &serde_json::json!({"username": "bob", "password": "wrong one, long"}).to_string()
        )
        .status,
        401
    );
    assert_eq!(
        node.login(&serde_json::json!({"token": format!("{token}x")}).to_string())
            .status,
        401
    );
    node.gateway.wait_for_log(
        &["token created through the admin API"],
        Duration::from_secs(10),
    );
    let log = node.gateway.log_text();
    assert!(!log.is_empty());
    for secret in &node.secrets {
        let secret_part = secret_of(secret);
        assert!(
            !log.contains(secret_part),
            "a credential is in the gateway's log"
        );
    }
    let credentials = std::fs::read_to_string(node.config.with_file_name("admin-credentials.json"))
        .expect("the credentials file");
    for secret in &node.secrets {
        let secret_part = secret_of(secret);
        assert!(
            !credentials.contains(secret_part),
            "a credential is stored in clear"
        );
    }
    assert!(credentials.contains("$argon2id$"));
}

#[test]
fn the_served_openapi_document_is_the_checked_in_one() {
    let node = Node::start();
    let served = send(node.gateway.admin, "GET", "/v1/openapi.json", &[], None);
    assert_eq!(served.status, 200);
    let document = served.json();
    assert_eq!(document["openapi"], "3.1.0");
    let checked_in = std::fs::read_to_string(repo_file("docs/openapi.json")).unwrap_or_default();
    assert!(
        served.text() == checked_in,
        "docs/openapi.json differs from /v1/openapi.json; regenerate it with \
         `greffier openapi > docs/openapi.json`"
    );
    for row in TABLE {
        let method = row.method.to_ascii_lowercase();
        assert!(
            document["paths"][row.path][method.as_str()].is_object(),
            "{} {} is not described",
            row.method,
            row.path
        );
    }
}

#[test]
fn the_admin_listener_speaks_tls_when_configured() {
    let dir = tempfile::tempdir().expect("a directory");
    let cert = dir.path().join("admin.crt");
    let key = dir.path().join("admin.key");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let sections = SECTIONS.replace(
        "[admin]\n",
        &format!(
            "[admin]\ntls_cert = {:?}\ntls_key = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    );
    let mut tree = VaultTree::new().with_sections(&sections);
    tree.write_tenant("demo", &[DEMO], &KeyMode::Managed);
    let config = tree.config();
    let gateway = Gateway::start(tree.into_gateway());
    let (ok, token, stderr) = greffier_cli(
        &[
            "token",
            "create",
            "--config",
            &config.display().to_string(),
            "--tenant",
            "demo",
            "--role",
            "admin",
            "--name",
            "tls",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    // Plain HTTP gets nothing out of it.
    let mut plain = TcpStream::connect(gateway.admin).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    plain
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("ok"),
        "plain HTTP was served"
    );
    let url = format!("https://localhost:{}/v1/session", gateway.admin.port());
    let body = serde_json::json!({"token": token.trim()}).to_string();
    let curl = Command::new("curl")
        .args(["-sS", "-i", "--cacert"])
        .arg(&cert)
        .args([
            "--resolve",
            &format!("localhost:{}:127.0.0.1", gateway.admin.port()),
        ])
        .args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
            &url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run curl");
    let mut curl = curl;
    curl.stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("send the body");
    let output = curl.wait_with_output().expect("curl ends");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.starts_with("HTTP/2 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    let cookie = text
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[test]
fn check_config_refuses_a_wildcard_admin_address_and_warns_on_plain_http() {
    let tree = VaultTree::new();
    let config = tree.config();
    let original = std::fs::read_to_string(&config).expect("the main file");
    let admin_line = original
        .lines()
        .find(|line| line.starts_with("admin_listen"))
        .expect("admin_listen")
        .to_string();
    let check = || {
        greffier_cli(
            &["check-config", "--config", &config.display().to_string()],
            &[],
        )
    };

    let (ok, _, stderr) = check();
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");

    std::fs::write(
        &config,
        original.replace(&admin_line, "admin_listen = \"0.0.0.0:18080\""),
    )
    .expect("write");
    let (ok, _, stderr) = check();
    assert!(!ok);
    assert!(
        stderr.contains("node.admin_listen") && stderr.contains("admin_public"),
        "{stderr}"
    );

    std::fs::write(
        &config,
        original.replace(
            &admin_line,
            "admin_listen = \"0.0.0.0:18080\"\nadmin_public = true",
        ),
    )
    .expect("write");
    let (ok, _, stderr) = check();
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("tls_cert"),
        "{stderr}"
    );
}

/// How many lines of the gateway's log hold `needle`, once there are
/// `count` of them (within `bound`).
fn await_log_count(gateway: &Gateway, needle: &str, count: usize, bound: Duration) {
    let deadline = std::time::Instant::now() + bound;
    while gateway.log_text().matches(needle).count() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {count} `{needle}` lines within {bound:?}:\n{}",
            gateway.stderr_tail(40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_retention_set_through_the_api_is_what_the_next_sweep_applies() {
    let mut tree = VaultTree::new().with_sections(SECTIONS);
    tree.write_tenant("demo", &[DEMO], &KeyMode::Managed);
    let ten_days_old = record_call(&tree, "demo", ALICE, DEMO, 10 * 24 * 60);
    let recent = record_call(&tree, "demo", ALICE, DEMO, 24 * 60);
    let config = tree.config().display().to_string();
    let mut gateway = Gateway::start(tree.into_gateway());
    let (ok, token, stderr) = greffier_cli(
        &[
            "token", "create", "--config", &config, "--tenant", "demo", "--role", "admin",
            "--name", "ret",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let auth = [("Authorization", format!("Bearer {}", token.trim()))];
    let recording = |gateway: &Gateway, id: &RecordId| {
        send(
            gateway.admin,
            "GET",
            &format!("/v1/tenants/demo/recordings/{id}"),
            &auth,
            None,
        )
        .status
    };
    const SWEPT: &str = "retention sweep done";
    await_log_count(&gateway, SWEPT, 1, Duration::from_secs(30));
    // The tenant file keeps recordings 30 days.
    assert_eq!(recording(&gateway, &ten_days_old), 200);

    let too_long = send(
        gateway.admin,
        "PUT",
        "/v1/tenants/demo/retention",
        &auth,
        Some(r#"{"recordings_days":731,"transcripts_days":5}"#),
    );
    assert_eq!(too_long.status, 422, "beyond [limits]: {}", too_long.text());
    let set = send(
        gateway.admin,
        "PUT",
        "/v1/tenants/demo/retention",
        &auth,
        Some(r#"{"recordings_days":5,"transcripts_days":5}"#),
    );
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.json()["recordings_days"], 5);
    let read = send(
        gateway.admin,
        "GET",
        "/v1/tenants/demo/retention",
        &auth,
        None,
    );
    assert_eq!(read.json()["recordings_days"], 5);
    assert_eq!(read.json()["max_recordings_days"], 730);

    // The gateway sweeps at each start.
    gateway.stop(Duration::from_secs(20));
    gateway.restart();
    await_log_count(&gateway, SWEPT, 2, Duration::from_secs(30));
    assert_eq!(recording(&gateway, &ten_days_old), 404);
    assert_eq!(recording(&gateway, &recent), 200);
}

#[test]
fn the_credential_commands_refuse_what_they_cannot_keep_safe() {
    let mut tree = VaultTree::new().with_sections(SECTIONS);
    tree.write_tenant("demo", &[DEMO], &KeyMode::Managed);
    let config = tree.config().display().to_string();
    let base = ["--config", config.as_str()];
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&base);
        greffier_cli(&all, env)
    };
    // A user role needs numbers: a console user, not a token.
    let (ok, _, stderr) = run(
        &[
            "token", "create", "--tenant", "demo", "--role", "user", "--name", "u",
        ],
        &[],
    );
    assert!(!ok && stderr.contains("greffier user add"), "{stderr}");
    let (ok, _, stderr) = run(
        &[
            "token", "create", "--tenant", "nowhere", "--role", "admin", "--name", "x",
        ],
        &[],
    );
    assert!(!ok && stderr.contains("nowhere"), "{stderr}");
    let (ok, _, _) = run(&["token", "create", "--name", "x"], &[]);
    assert!(!ok, "neither a tenant nor --operator");
    let (ok, _, stderr) = run(
        &[
            "user",
            "add",
            "--tenant",
            "demo",
            "--role",
            "admin",
            "--username",
            "short",
            "--password-env",
            "PW",
        ],
        &[("PW", "too short")],
    );
    assert!(!ok && stderr.contains("12 characters"), "{stderr}");
    let (ok, _, stderr) = run(
        &[
            "user",
            "add",
            "--tenant",
            "demo",
            "--role",
            "admin",
            "--username",
            "x",
            "--password",
            "p",
        ],
        &[],
    );
    assert!(
        !ok,
        "a password on the command line is not an option: {stderr}"
    );

    let (ok, token, stderr) = run(&["token", "create", "--operator", "--name", "noc"], &[]);
    assert!(ok, "{stderr}");
    let (ok, listed, _) = run(&["token", "list"], &[]);
    assert!(ok);
    assert!(
        listed.contains("\"noc\"") && listed.contains("\"operator\""),
        "{listed}"
    );
    assert!(
        !listed.contains(secret_of(token.trim())) && !listed.contains("argon2"),
        "{listed}"
    );
    let (ok, _, stderr) = run(&["token", "revoke", "--id", "0123456789ab"], &[]);
    assert!(!ok && stderr.contains("0123456789ab"), "{stderr}");
}
