//! Configuration loading, validation and reloading, on real file trees.

use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use greffier::config::{
    AnchorFailurePolicy, Config, ConfigProblem, ConfigWatcher, ProviderKey, ProviderKind,
    ReloadOutcome, SourceRole, StorageBackend, TenantKeys, Transport, WatchOptions,
};
use tempfile::TempDir;
use tokio::sync::watch;

const MAIN: &str = r#"
[node]
id = "test-node"
sip_listen = ["udp:127.0.0.1:5060", "tcp:[::1]:5060"]
media_address = "127.0.0.1"
media_ports = "30000-30099"
admin_listen = "127.0.0.1:8080"
rtp_timeout_secs = 20
new_dialogs_per_source_per_sec = 5
new_dialogs_burst = 10
tenants_dir = "tenants"

[limits]
max_recordings_days = 100
max_transcripts_days = 50

[storage]
kind = "local"
path = "data"
spool_dir = "spool"

[keys]
keyring = "keyring.grk"
master_key_file = "master.key"

[[subprocessors]]
name = "EuroScribe"
purpose = "transcription"
country = "DE"
transfer_mechanism = "none"
announced = "2024-01-10"

[[subprocessors]]
name = "FarScribe"
purpose = "transcription"
country = "US"
transfer_mechanism = "scc"
announced = 2024-02-01

[[providers]]
name = "euro"
kind = "openai"
subprocessor = "EuroScribe"
endpoint = "https://euro.example.net/v1"
model = "whisper-large-v3"
key_env = "EURO_API_KEY"

[[providers]]
name = "gladia"
kind = "gladia"
subprocessor = "EuroScribe"
endpoint = "https://api.gladia.example"
key_file = "gladia.key"

[[providers]]
name = "far"
kind = "mistral"
subprocessor = "FarScribe"
endpoint = "https://far.example.com"
model = "voxtral-mini-2507"
"#;

const ALPHA: &str = r#"
id = "alpha"
numbers = ["+33199000001", "+33199000002"]

[pbx]
sources = ["127.0.0.1/32"]
uri = "sip:127.0.0.1:5080"

[carrier]
sources = ["127.0.0.2/32"]
uri = "sip:127.0.0.1:5070"

[recording]
policy = "all"
do_not_record = ["+33199000099"]
format = "wav"
mask_dtmf = true

[retention]
recordings_days = 30
transcripts_days = 30

[transcription]
enabled = true
provider = "euro"
objections = []
accepted_transfer_mechanisms = []

[keys]
mode = "managed"
"#;

const BETA: &str = r#"
id = "beta"
numbers = ["+4930123456"]

[pbx]
sources = ["127.0.1.0/24", "::1/128"]
uri = "sip:pbx.beta.example.net;transport=tcp"

[carrier]
sources = ["127.0.2.0/24"]
uri = "sip:[::1]:5090"

[recording]
policy = "inbound"

[retention]
recordings_days = 0
transcripts_days = 0

[keys]
mode = "client"
public_key = "5Q7gu/lmPVWPca7tLzJmMdqmRlFOCCsjZEdrqCbRv+0="
"#;

#[test]
fn the_schema_validates_text_without_any_file() {
    let root = Path::new("/nonexistent/greffier");
    let tenants = [
        (root.join("tenants/alpha.toml"), ALPHA.to_string()),
        (root.join("tenants/beta.toml"), BETA.to_string()),
    ];
    let config = Config::parse(&root.join("main.toml"), MAIN, &tenants, &|_| None)
        .expect("a valid configuration from text alone");
    let ids: Vec<String> = config.tenants().iter().map(|t| t.id.to_string()).collect();
    assert_eq!(ids, ["alpha", "beta"]);
    assert_eq!(
        config
            .tenant_for_number("33199000002")
            .map(|t| t.id.as_str()),
        Some("alpha")
    );
    assert_eq!(config.storage.spool_dir, root.join("spool"));

    let wrong = [(
        root.join("tenants/alpha.toml"),
        ALPHA.replace("\"+33199000002\"]", "\"+0199000002\"]"),
    )];
    let errors = Config::parse(&root.join("main.toml"), MAIN, &wrong, &|_| None)
        .expect_err("a number with a leading zero after `+`");
    let text = errors.to_string();
    assert!(text.contains("tenants.alpha.numbers[1]"), "{text}");
    assert!(!text.contains("0199000002"), "the number is masked: {text}");
}

/// A configuration tree in a temporary directory.
struct Tree {
    dir: TempDir,
}

impl Tree {
    fn new(main: &str, tenants: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(dir.path().join("tenants")).expect("tenants directory");
        let tree = Self { dir };
        tree.write("greffier.toml", main);
        for (name, text) in tenants {
            tree.write(&format!("tenants/{name}.toml"), text);
        }
        tree
    }

    fn standard() -> Self {
        Self::new(MAIN, &[("alpha", ALPHA), ("beta", BETA)])
    }

    fn main_path(&self) -> PathBuf {
        self.dir.path().join("greffier.toml")
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes through a temporary name and a rename, as editors do, so a
    /// watcher never sees a half-written file.
    fn write(&self, relative: &str, text: &str) {
        let target = self.path(relative);
        let staging = target.with_file_name(".staging");
        std::fs::write(&staging, text).expect("write");
        std::fs::rename(&staging, &target).expect("rename");
    }

    fn load(&self) -> Result<Config, Vec<ConfigProblem>> {
        Config::load(&self.main_path()).map_err(|errors| errors.problems)
    }
}

fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the edit expects `{from}` in the text");
    text.replacen(from, to, 1)
}

/// A provider the tenant objected to, or outside the EEA under a mechanism
/// the tenant does not accept, or under none: the files load (a reload that
/// withdraws consent must take effect, not be refused and leave the old
/// configuration sending), each is a warning, and the gate refuses to send.
#[test]
fn refused_sub_processors_are_warnings_not_errors() {
    let cases = [
        (
            "alpha.toml",
            "objections = []",
            "objections = [\"EuroScribe\"]",
            "objected",
        ),
        (
            "alpha.toml",
            "provider = \"euro\"",
            "provider = \"far\"",
            "outside the EEA",
        ),
        (
            "greffier.toml",
            "country = \"DE\"",
            "country = \"US\"",
            "outside the EEA",
        ),
    ];
    for (file, from, to, expected) in cases {
        let tree = Tree::standard();
        let original = std::fs::read_to_string(tree.path(file_path(file))).unwrap();
        tree.write(file_path(file), &edit(&original, from, to));
        let config = tree.load().expect("loads");
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 1, "{file}: {warnings:?}");
        assert!(warnings[0].contains(expected), "{warnings:?}");
        assert!(warnings[0].starts_with("tenant alpha:"), "{warnings:?}");
    }
    assert!(Tree::standard().load().unwrap().warnings().is_empty());
}

fn file_path(file: &str) -> &str {
    match file {
        "greffier.toml" => "greffier.toml",
        "alpha.toml" => "tenants/alpha.toml",
        other => panic!("{other}"),
    }
}

#[test]
fn the_standard_tree_loads_with_typed_values() {
    let tree = Tree::standard();
    let config = tree.load().expect("valid configuration");
    assert_eq!(config.node.id, "test-node");
    assert_eq!(config.node.sip_listen.len(), 2);
    assert_eq!(config.node.sip_listen[1].transport, Transport::Tcp);
    assert_eq!(
        config.node.sip_listen[1].addr,
        "[::1]:5060".parse().unwrap()
    );
    assert_eq!(config.node.media_ports.len(), 100);
    assert_eq!(config.node.rtp_timeout, Duration::from_secs(20));
    assert_eq!(config.sweep.sweep_every, Duration::from_secs(3600));
    let tenants_dir = std::fs::canonicalize(tree.path("tenants")).unwrap();
    assert_eq!(
        std::fs::canonicalize(&config.node.tenants_dir).unwrap(),
        tenants_dir
    );
    match &config.storage.backend {
        StorageBackend::Local { path } => assert!(path.ends_with("data") && path.is_absolute()),
        other => panic!("expected local storage, got {other:?}"),
    }
    assert_eq!(config.subprocessors.len(), 2);
    let euro = config.provider("euro").unwrap();
    assert_eq!(euro.kind, ProviderKind::OpenAi);
    assert_eq!(euro.key, ProviderKey::Env("EURO_API_KEY".into()));
    let ProviderKey::File(gladia_key) = &config.provider("gladia").unwrap().key else {
        panic!("a key file");
    };
    assert!(gladia_key.is_absolute() && gladia_key.ends_with("gladia.key"));
    let ids: Vec<&str> = config.tenants().iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["alpha", "beta"]);
    let beta = config.tenant("beta").unwrap();
    assert!(matches!(beta.keys, TenantKeys::Client { .. }));
    assert_eq!(beta.retention.cdr_days, 365);
    assert_eq!(
        beta.recording.on_anchor_failure,
        AnchorFailurePolicy::Reject,
        "calls that cannot be anchored are refused unless the tenant says otherwise"
    );
}

#[test]
fn sources_and_numbers_find_their_tenant() {
    let config = Tree::standard().load().expect("valid configuration");
    let ip = |text: &str| text.parse::<IpAddr>().unwrap();
    let found = |text: &str| {
        config
            .tenant_for_source(ip(text))
            .map(|(tenant, role)| (tenant.id.to_string(), role))
    };
    assert_eq!(found("127.0.0.1"), Some(("alpha".into(), SourceRole::Pbx)));
    assert_eq!(
        found("127.0.0.2"),
        Some(("alpha".into(), SourceRole::Carrier))
    );
    assert_eq!(
        found("::ffff:127.0.0.2"),
        Some(("alpha".into(), SourceRole::Carrier))
    );
    assert_eq!(found("127.0.1.200"), Some(("beta".into(), SourceRole::Pbx)));
    assert_eq!(found("::1"), Some(("beta".into(), SourceRole::Pbx)));
    assert_eq!(
        found("127.0.2.9"),
        Some(("beta".into(), SourceRole::Carrier))
    );
    assert_eq!(found("127.0.0.3"), None);
    let number = |text: &str| config.tenant_for_number(text).map(|t| t.id.to_string());
    assert_eq!(number("+33199000002").as_deref(), Some("alpha"));
    assert_eq!(number("33199000002").as_deref(), Some("alpha"));
    assert_eq!(number("+4930123456").as_deref(), Some("beta"));
    assert_eq!(number("+33199000003"), None);
    assert_eq!(number("alice"), None);
}

#[test]
fn the_examples_load_cleanly() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let local = Config::load(&examples.join("local.toml"))
        .unwrap_or_else(|errors| panic!("examples/local.toml:\n{errors}"));
    let demo = local.tenant("demo").expect("the demo tenant");
    assert_eq!(demo.pbx.uri.to_string(), "sip:127.0.0.1:5080");
    assert_eq!(demo.carrier.uri.to_string(), "sip:127.0.0.1:5070");
    let source = |text: &str| {
        local
            .tenant_for_source(text.parse().unwrap())
            .map(|(tenant, role)| (tenant.id.to_string(), role))
    };
    assert_eq!(source("127.0.0.1"), Some(("demo".into(), SourceRole::Pbx)));
    assert_eq!(
        source("127.0.0.2"),
        Some(("demo".into(), SourceRole::Carrier))
    );
    let listens: Vec<String> = local
        .node
        .sip_listen
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listens, ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]);
    assert_eq!(local.node.admin_listen, "127.0.0.1:8080".parse().unwrap());
    let ports = local.node.media_ports;
    let clashes = |port: u16| ports.contains(port);
    assert!(!clashes(6000) && !(20000..=29999).any(clashes));
    match &local.storage.backend {
        StorageBackend::Local { path } => {
            assert!(
                !path.starts_with(env!("CARGO_MANIFEST_DIR")),
                "data must not land in the checkout"
            );
        }
        other => panic!("expected local storage, got {other:?}"),
    }

    let cluster = Config::load(&examples.join("cluster-s3.toml"))
        .unwrap_or_else(|errors| panic!("examples/cluster-s3.toml:\n{errors}"));
    assert!(matches!(cluster.storage.backend, StorageBackend::S3(_)));
    assert!(cluster.tenants().len() >= 2);
}

/// Loads the standard tree with one file replaced and returns the problems.
fn problems_with(file: &str, text: &str) -> Vec<ConfigProblem> {
    let mut main = MAIN.to_string();
    let mut alpha = ALPHA.to_string();
    let mut beta = BETA.to_string();
    match file {
        "greffier.toml" => main = text.to_string(),
        "alpha.toml" => alpha = text.to_string(),
        "beta.toml" => beta = text.to_string(),
        other => panic!("unknown file {other}"),
    }
    let tree = Tree::new(&main, &[("alpha", &alpha), ("beta", &beta)]);
    match tree.load() {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

struct Case {
    name: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    key: &'static str,
}

const fn case(
    name: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    key: &'static str,
) -> Case {
    Case {
        name,
        file,
        from,
        to,
        key,
    }
}

const MAIN_CASES: &[Case] = &[
    case("node id not a slug", "greffier.toml", "id = \"test-node\"", "id = \"Test Node\"", "node.id"),
    case("listener transport", "greffier.toml", "\"udp:127.0.0.1:5060\"", "\"sctp:127.0.0.1:5060\"", "node.sip_listen[0]"),
    case("listener address", "greffier.toml", "\"tcp:[::1]:5060\"", "\"tcp:::1:5060\"", "node.sip_listen[1]"),
    case("listener twice", "greffier.toml", "\"tcp:[::1]:5060\"", "\"udp:127.0.0.1:5060\"", "node.sip_listen[1]"),
    case("no listener", "greffier.toml", "sip_listen = [\"udp:127.0.0.1:5060\", \"tcp:[::1]:5060\"]", "sip_listen = []", "node.sip_listen"),
    case("media address", "greffier.toml", "media_address = \"127.0.0.1\"", "media_address = \"localhost\"", "node.media_address"),
    case("media ports odd start", "greffier.toml", "\"30000-30099\"", "\"30001-30099\"", "node.media_ports"),
    case("media ports single", "greffier.toml", "\"30000-30099\"", "\"30000-30000\"", "node.media_ports"),
    case("media ports over sip", "greffier.toml", "\"30000-30099\"", "\"5000-5099\"", "node.media_ports"),
    case("admin listen", "greffier.toml", "\"127.0.0.1:8080\"", "\"127.0.0.1\"", "node.admin_listen"),
    case("rtp timeout zero", "greffier.toml", "rtp_timeout_secs = 20", "rtp_timeout_secs = 0", "node.rtp_timeout_secs"),
    case("rtp timeout type", "greffier.toml", "rtp_timeout_secs = 20", "rtp_timeout_secs = \"20\"", "node.rtp_timeout_secs"),
    case("dialog rate zero", "greffier.toml", "new_dialogs_per_source_per_sec = 5", "new_dialogs_per_source_per_sec = 0", "node.new_dialogs_per_source_per_sec"),
    case("burst below rate", "greffier.toml", "new_dialogs_burst = 10", "new_dialogs_burst = 2", "node.new_dialogs_burst"),
    case("tenants dir missing", "greffier.toml", "tenants_dir = \"tenants\"", "tenants_dir = \"nowhere\"", "node.tenants_dir"),
    case("tenants dir unset variable", "greffier.toml", "tenants_dir = \"tenants\"", "tenants_dir = \"${GREFFIER_TEST_SURELY_UNSET}/t\"", "node.tenants_dir"),
    case("unknown node key", "greffier.toml", "rtp_timeout_secs = 20", "rtp_timeout_secs = 20\nrtp_timeuot = 3", "node.rtp_timeuot"),
    case("missing node key", "greffier.toml", "id = \"test-node\"\n", "", "node.id"),
    case("missing node section", "greffier.toml", "[node]", "[nodes]", "node"),
    case("unknown section", "greffier.toml", "[limits]", "[extra]\na = 1\n\n[limits]", "extra"),
    case("sweep too often", "greffier.toml", "[limits]", "[retention]\nsweep_every = \"10s\"\n\n[limits]", "retention.sweep_every"),
    case("sweep without unit", "greffier.toml", "[limits]", "[retention]\nsweep_every = \"60\"\n\n[limits]", "retention.sweep_every"),
    case("unknown retention key", "greffier.toml", "[limits]", "[retention]\nsweep = \"1h\"\n\n[limits]", "retention.sweep"),
    case("limit too high", "greffier.toml", "max_recordings_days = 100", "max_recordings_days = 4000", "limits.max_recordings_days"),
    case("local without path", "greffier.toml", "path = \"data\"\n", "", "storage.path"),
    case("local with s3 key", "greffier.toml", "path = \"data\"", "path = \"data\"\nbucket = \"b-1\"", "storage.bucket"),
    case("storage kind", "greffier.toml", "kind = \"local\"", "kind = \"nfs\"", "storage.kind"),
    case("s3 missing bucket", "greffier.toml", "kind = \"local\"\npath = \"data\"", "kind = \"s3\"\nendpoint = \"https://s3.example.net\"\nregion = \"fr-par\"", "storage.bucket"),
    case("s3 plain http", "greffier.toml", "kind = \"local\"\npath = \"data\"", "kind = \"s3\"\nendpoint = \"http://s3.example.net\"\nregion = \"fr-par\"\nbucket = \"rec\"", "storage.endpoint"),
    case("s3 bad bucket", "greffier.toml", "kind = \"local\"\npath = \"data\"", "kind = \"s3\"\nendpoint = \"https://s3.example.net\"\nregion = \"fr-par\"\nbucket = \"Rec_1\"", "storage.bucket"),
    case("s3 bad region", "greffier.toml", "kind = \"local\"\npath = \"data\"", "kind = \"s3\"\nendpoint = \"https://s3.example.net\"\nregion = \"fr par\"\nbucket = \"rec\"", "storage.region"),
    case("s3 with local path", "greffier.toml", "kind = \"local\"", "kind = \"s3\"\nendpoint = \"https://s3.example.net\"\nregion = \"fr-par\"\nbucket = \"rec\"", "storage.path"),
    case("literal master key", "greffier.toml", "master_key_file = \"master.key\"", "master_key = \"q3Jk8vX2mN5pL9sT1uW4yZ7aB0cD6eF8gH2iJ4kL6mA=\"", "keys.master_key"),
    case("both key sources", "greffier.toml", "master_key_file = \"master.key\"", "master_key_file = \"master.key\"\nmaster_key_env = \"GREFFIER_KEY\"", "keys.master_key_env"),
    case("no key source", "greffier.toml", "master_key_file = \"master.key\"", "", "keys.master_key_file"),
    case("key pasted as variable", "greffier.toml", "master_key_file = \"master.key\"", "master_key_env = \"ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12\"", "keys.master_key_env"),
    case("key pasted as file", "greffier.toml", "master_key_file = \"master.key\"", "master_key_file = \"q3Jk8vX2mN5pL9sT1uW4yZ7aB0cD6eF8gH2iJ4kL6mA=\"", "keys.master_key_file"),
    case("country code", "greffier.toml", "country = \"DE\"", "country = \"Germany\"", "subprocessors[0].country"),
    case("unknown mechanism", "greffier.toml", "transfer_mechanism = \"scc\"", "transfer_mechanism = \"bcr\"", "subprocessors[1].transfer_mechanism"),
    case("announced date", "greffier.toml", "announced = \"2024-01-10\"", "announced = \"2024-02-30\"", "subprocessors[0].announced"),
    case("sub-processor twice", "greffier.toml", "name = \"FarScribe\"\npurpose", "name = \"EuroScribe\"\npurpose", "subprocessors[1].name"),
    case("provider without sub-processor", "greffier.toml", "subprocessor = \"EuroScribe\"\n", "", "providers[0].subprocessor"),
    case("provider unknown sub-processor", "greffier.toml", "subprocessor = \"EuroScribe\"", "subprocessor = \"Nobody\"", "providers[0].subprocessor"),
    case("provider without endpoint", "greffier.toml", "endpoint = \"https://euro.example.net/v1\"\n", "", "providers[0].endpoint"),
    case("provider plain http", "greffier.toml", "\"https://euro.example.net/v1\"", "\"http://euro.example.net/v1\"", "providers[0].endpoint"),
    case("provider without model", "greffier.toml", "model = \"whisper-large-v3\"\n", "", "providers[0].model"),
    case("provider both key sources", "greffier.toml", "key_file = \"gladia.key\"", "key_file = \"gladia.key\"\nkey_env = \"GLADIA_KEY\"", "providers[1].key_file"),
    case("provider key pasted as variable", "greffier.toml", "key_env = \"EURO_API_KEY\"", "key_env = \"sk-live-0123456789\"", "providers[0].key_env"),
    case("provider language", "greffier.toml", "model = \"voxtral-mini-2507\"", "model = \"voxtral-mini-2507\"\nlanguage = \"French\"", "providers[2].language"),
    case("provider timeout", "greffier.toml", "model = \"voxtral-mini-2507\"", "model = \"voxtral-mini-2507\"\ntimeout_secs = 0", "providers[2].timeout_secs"),
    case("provider twice", "greffier.toml", "name = \"far\"", "name = \"euro\"", "providers[2].name"),
    case("provider kind", "greffier.toml", "kind = \"gladia\"", "kind = \"whisper\"", "providers[1].kind"),
    case("job workers", "greffier.toml", "[[providers]]\nname = \"euro\"", "[transcription]\nworkers = 0\n\n[[providers]]\nname = \"euro\"", "transcription.workers"),
    case("job duration", "greffier.toml", "[[providers]]\nname = \"euro\"", "[transcription]\ngive_up_after = \"1 day\"\n\n[[providers]]\nname = \"euro\"", "transcription.give_up_after"),
    // Media sources and destinations.
    case("learning packets zero", "greffier.toml", "tenants_dir = \"tenants\"", "tenants_dir = \"tenants\"\nrtp_learning_packets = 0", "node.rtp_learning_packets"),
    case("learning packets too many", "greffier.toml", "tenants_dir = \"tenants\"", "tenants_dir = \"tenants\"\nrtp_learning_packets = 11", "node.rtp_learning_packets"),
    case("strict source type", "greffier.toml", "tenants_dir = \"tenants\"", "tenants_dir = \"tenants\"\nstrict_source = \"yes\"", "node.strict_source"),
    case("media destinations empty", "greffier.toml", "tenants_dir = \"tenants\"", "tenants_dir = \"tenants\"\nmedia_destinations = []", "node.media_destinations"),
    case("media destination not a cidr", "greffier.toml", "tenants_dir = \"tenants\"", "tenants_dir = \"tenants\"\nmedia_destinations = [\"0.0.0.0/0\", \"everywhere\"]", "node.media_destinations[1]"),
    case("media destination host bits", "greffier.toml", "tenants_dir = \"tenants\"", "tenants_dir = \"tenants\"\nmedia_destinations = [\"10.1.2.3/8\"]", "node.media_destinations[0]"),
    case("loopback destination on a public node", "greffier.toml", "media_address = \"127.0.0.1\"", "media_address = \"192.0.2.1\"\nmedia_destinations = [\"0.0.0.0/0\", \"127.0.0.0/8\"]", "node.media_destinations[1]"),
];

const TENANT_CASES: &[Case] = &[
    case(
        "tenant id",
        "alpha.toml",
        "id = \"alpha\"",
        "id = \"Alpha!\"",
        "tenants.alpha.id",
    ),
    case(
        "tenant id twice",
        "beta.toml",
        "id = \"beta\"",
        "id = \"alpha\"",
        "tenants.alpha.id",
    ),
    case(
        "number format",
        "alpha.toml",
        "\"+33199000001\",",
        "\"0199000001\",",
        "tenants.alpha.numbers[0]",
    ),
    case(
        "number length",
        "alpha.toml",
        "\"+33199000002\"]",
        "\"+3319900000222222\"]",
        "tenants.alpha.numbers[1]",
    ),
    case(
        "number twice",
        "alpha.toml",
        "\"+33199000002\"]",
        "\"+33199000001\"]",
        "tenants.alpha.numbers[1]",
    ),
    case(
        "number in two tenants",
        "beta.toml",
        "\"+4930123456\"",
        "\"+33199000001\"",
        "tenants.beta.numbers[0]",
    ),
    case(
        "number as integer",
        "alpha.toml",
        "\"+33199000001\",",
        "33199000001,",
        "tenants.alpha.numbers[0]",
    ),
    case(
        "pbx cidr",
        "alpha.toml",
        "sources = [\"127.0.0.1/32\"]",
        "sources = [\"127.0.0.1/40\"]",
        "tenants.alpha.pbx.sources[0]",
    ),
    case(
        "pbx cidr host bits",
        "beta.toml",
        "\"127.0.1.0/24\"",
        "\"127.0.1.7/24\"",
        "tenants.beta.pbx.sources[0]",
    ),
    case(
        "pbx no sources",
        "alpha.toml",
        "sources = [\"127.0.0.1/32\"]",
        "sources = []",
        "tenants.alpha.pbx.sources",
    ),
    case(
        "pbx uri",
        "alpha.toml",
        "uri = \"sip:127.0.0.1:5080\"",
        "uri = \"sip:127.0.0.1:99999\"",
        "tenants.alpha.pbx.uri",
    ),
    case(
        "carrier uri scheme",
        "alpha.toml",
        "uri = \"sip:127.0.0.1:5070\"",
        "uri = \"tel:+33199000001\"",
        "tenants.alpha.carrier.uri",
    ),
    case(
        "carrier uri over TLS, not supported yet",
        "alpha.toml",
        "uri = \"sip:127.0.0.1:5070\"",
        "uri = \"sip:127.0.0.1:5070;transport=tls\"",
        "tenants.alpha.carrier.uri",
    ),
    case(
        "pbx uri sips, not supported yet",
        "alpha.toml",
        "uri = \"sip:127.0.0.1:5080\"",
        "uri = \"sips:127.0.0.1:5081\"",
        "tenants.alpha.pbx.uri",
    ),
    case(
        "carrier uri unknown transport",
        "alpha.toml",
        "uri = \"sip:127.0.0.1:5070\"",
        "uri = \"sip:127.0.0.1:5070;transport=sctp\"",
        "tenants.alpha.carrier.uri",
    ),
    case(
        "sources overlap across tenants",
        "beta.toml",
        "\"127.0.1.0/24\"",
        "\"127.0.0.0/24\"",
        "tenants.beta.pbx.sources[0]",
    ),
    case(
        "pbx and carrier overlap",
        "alpha.toml",
        "sources = [\"127.0.0.2/32\"]",
        "sources = [\"127.0.0.0/30\"]",
        "tenants.alpha.carrier.sources[0]",
    ),
    case(
        "recording policy",
        "alpha.toml",
        "policy = \"all\"",
        "policy = \"some\"",
        "tenants.alpha.recording.policy",
    ),
    case(
        "do not record number",
        "alpha.toml",
        "do_not_record = [\"+33199000099\"]",
        "do_not_record = [\"33199000099\"]",
        "tenants.alpha.recording.do_not_record[0]",
    ),
    case(
        "audio format",
        "alpha.toml",
        "format = \"wav\"",
        "format = \"mp3\"",
        "tenants.alpha.recording.format",
    ),
    case(
        "anchor failure handling",
        "alpha.toml",
        "mask_dtmf = true",
        "mask_dtmf = true\non_anchor_failure = \"forward\"",
        "tenants.alpha.recording.on_anchor_failure",
    ),
    case(
        "recordings over the limit",
        "alpha.toml",
        "recordings_days = 30",
        "recordings_days = 101",
        "tenants.alpha.retention.recordings_days",
    ),
    case(
        "transcripts over the limit",
        "alpha.toml",
        "transcripts_days = 30",
        "transcripts_days = 51",
        "tenants.alpha.retention.transcripts_days",
    ),
    case(
        "negative retention",
        "alpha.toml",
        "recordings_days = 30",
        "recordings_days = -1",
        "tenants.alpha.retention.recordings_days",
    ),
    case(
        "cdr retention",
        "alpha.toml",
        "transcripts_days = 30",
        "transcripts_days = 30\ncdr_days = 30",
        "tenants.alpha.retention.cdr_days",
    ),
    case(
        "missing retention",
        "beta.toml",
        "[retention]\nrecordings_days = 0\ntranscripts_days = 0\n",
        "",
        "tenants.beta.retention",
    ),
    case(
        "transcription without provider",
        "alpha.toml",
        "provider = \"euro\"\n",
        "",
        "tenants.alpha.transcription.provider",
    ),
    case(
        "transcription unknown provider",
        "alpha.toml",
        "provider = \"euro\"",
        "provider = \"nope\"",
        "tenants.alpha.transcription.provider",
    ),
    case(
        "objection unknown",
        "alpha.toml",
        "objections = []",
        "objections = [\"Nobody\"]",
        "tenants.alpha.transcription.objections[0]",
    ),
    case(
        "transcribing with zero transcript days",
        "alpha.toml",
        "transcripts_days = 30",
        "transcripts_days = 0",
        "tenants.alpha.transcription.enabled",
    ),
    case(
        "transcribing without recording",
        "alpha.toml",
        "policy = \"all\"",
        "policy = \"none\"",
        "tenants.alpha.transcription.enabled",
    ),
    case(
        "client mode without key",
        "beta.toml",
        "public_key = \"5Q7gu/lmPVWPca7tLzJmMdqmRlFOCCsjZEdrqCbRv+0=\"\n",
        "",
        "tenants.beta.keys.public_key",
    ),
    case(
        "client key length",
        "beta.toml",
        "\"5Q7gu/lmPVWPca7tLzJmMdqmRlFOCCsjZEdrqCbRv+0=\"",
        "\"5Q7gu/lmPVWPca7tLzJmMdqm\"",
        "tenants.beta.keys.public_key",
    ),
    case(
        "managed mode with key",
        "alpha.toml",
        "mode = \"managed\"",
        "mode = \"managed\"\npublic_key = \"5Q7gu/lmPVWPca7tLzJmMdqmRlFOCCsjZEdrqCbRv+0=\"",
        "tenants.alpha.keys.public_key",
    ),
    case(
        "key mode",
        "alpha.toml",
        "mode = \"managed\"",
        "mode = \"hsm\"",
        "tenants.alpha.keys.mode",
    ),
    case(
        "unknown tenant key",
        "alpha.toml",
        "id = \"alpha\"",
        "id = \"alpha\"\ncolour = \"blue\"",
        "tenants.alpha.colour",
    ),
    case(
        "unknown section key",
        "alpha.toml",
        "uri = \"sip:127.0.0.1:5080\"",
        "uri = \"sip:127.0.0.1:5080\"\nport = 5080",
        "tenants.alpha.pbx.port",
    ),
    // Media sources.
    case(
        "strict source type",
        "alpha.toml",
        "mode = \"managed\"",
        "mode = \"managed\"\n\n[media]\nstrict_source = 1",
        "tenants.alpha.media.strict_source",
    ),
    case(
        "unknown media key",
        "alpha.toml",
        "mode = \"managed\"",
        "mode = \"managed\"\n\n[media]\nlearning = 5",
        "tenants.alpha.media.learning",
    ),
];

fn check_cases(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let original = match case.file {
            "greffier.toml" => MAIN,
            "alpha.toml" => ALPHA,
            _ => BETA,
        };
        let problems = problems_with(case.file, &edit(original, case.from, case.to));
        let hit = problems
            .iter()
            .any(|p| p.file.file_name().is_some_and(|n| n == case.file) && p.key == case.key);
        if !hit {
            failures.push(format!(
                "{}: expected {} {}, got {problems:#?}",
                case.name, case.file, case.key
            ));
        }
        for problem in &problems {
            assert!(
                !problem.reason.contains("199000"),
                "{}: a number in clear in {problem}",
                case.name
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn media_sources_and_destinations_come_from_the_node_and_the_tenant() {
    let tree = Tree::standard();
    let config = tree.load().expect("valid configuration");
    let policy = &config.node.media_policy;
    assert!(!policy.strict_source);
    assert_eq!(policy.learning_packets, 3);
    assert_eq!(policy.destinations, None);
    assert!(!config.latch_rules("alpha").strict_source);

    let main = edit(
        MAIN,
        "tenants_dir = \"tenants\"",
        "tenants_dir = \"tenants\"\nstrict_source = true\nrtp_learning_packets = 5\nmedia_destinations = [\"127.0.0.2/32\", \"2001:db8::/32\"]",
    );
    let alpha = edit(
        ALPHA,
        "mode = \"managed\"",
        "mode = \"managed\"\n\n[media]\nstrict_source = false",
    );
    let tree = Tree::new(&main, &[("alpha", &alpha), ("beta", BETA)]);
    let config = tree.load().expect("valid configuration");
    assert_eq!(config.node.media_policy.learning_packets, 5);
    assert!(
        config.latch_rules("beta").strict_source,
        "the node's default"
    );
    assert!(
        !config.latch_rules("alpha").strict_source,
        "the tenant's choice"
    );
    let destinations = config.node.media_destinations();
    let at = |text: &str| text.parse().unwrap();
    assert!(destinations.allows(at("127.0.0.2:4000")));
    assert!(destinations.allows(at("[2001:db8::1]:4000")));
    assert!(!destinations.allows(at("127.0.0.3:4000")), "not listed");
    assert!(
        !destinations.allows(at("127.0.0.1:30000")),
        "the relay's own port"
    );
    assert!(!destinations.allows(at("127.0.0.1:5060")), "a SIP listener");
}

#[test]
fn every_main_file_rule_names_its_file_and_key() {
    check_cases(MAIN_CASES);
}

#[test]
fn every_tenant_file_rule_names_its_file_and_key() {
    check_cases(TENANT_CASES);
}

#[test]
fn syntax_errors_give_line_and_column() {
    let problems = problems_with(
        "alpha.toml",
        &edit(ALPHA, "policy = \"all\"", "policy = \"all"),
    );
    let problem = problems
        .iter()
        .find(|p| p.file.ends_with("tenants/alpha.toml"))
        .expect("a problem in alpha.toml");
    assert_eq!(problem.key, "");
    let line = ALPHA.lines().position(|l| l.starts_with("policy")).unwrap() + 1;
    assert!(
        problem.reason.contains(&format!("line {line}, column")),
        "{}",
        problem.reason
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let main = edit(
        &edit(MAIN, "media_ports = \"30000-30099\"", "media_ports = \"3\""),
        "country = \"DE\"",
        "country = \"XX\"",
    );
    let alpha = edit(
        &edit(
            &edit(ALPHA, "uri = \"sip:127.0.0.1:5080\"", "uri = \"pbx\""),
            "recordings_days = 30",
            "recordings_days = 1000",
        ),
        "policy = \"all\"",
        "policy = \"sometimes\"",
    );
    let beta = edit(BETA, "\"+4930123456\"", "\"12\"");
    let tree = Tree::new(&main, &[("alpha", &alpha), ("beta", &beta)]);
    let errors = Config::load(&tree.main_path()).expect_err("five problems");
    let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    for expected in [
        "node.media_ports",
        "subprocessors[0].country",
        "tenants.alpha.pbx.uri",
        "tenants.alpha.retention.recordings_days",
        "tenants.alpha.recording.policy",
        "tenants.beta.numbers[0]",
    ] {
        assert!(keys.contains(&expected), "{expected} missing from {keys:?}");
    }
    let text = errors.to_string();
    assert_eq!(text.lines().count(), errors.problems.len());
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "{}: node.media_ports: ",
            tree.main_path().display()
        )),
        "{first}"
    );
}

#[test]
fn a_literal_master_key_is_one_problem() {
    let main = edit(
        MAIN,
        "master_key_file = \"master.key\"",
        "master_key = \"c2VjcmV0\"",
    );
    let problems = problems_with("greffier.toml", &main);
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["keys.master_key"]);
    assert!(
        !problems[0].reason.contains("c2VjcmV0"),
        "the key is never echoed"
    );
}

#[test]
fn missing_or_unreadable_files_are_problems() {
    let tree = Tree::standard();
    let errors = Config::load(&tree.path("absent.toml")).expect_err("no such file");
    assert_eq!(errors.problems.len(), 1);
    assert!(errors.problems[0].file.ends_with("absent.toml"));
    std::fs::write(tree.path("tenants/binary.toml"), [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let problems = tree.load().expect_err("binary tenant file");
    assert!(problems
        .iter()
        .any(|p| p.file.ends_with("binary.toml") && p.reason.contains("UTF-8")));
}

#[test]
fn other_files_in_the_tenants_directory_are_ignored() {
    let tree = Tree::standard();
    std::fs::write(tree.path("tenants/README.md"), "not a tenant").unwrap();
    std::fs::write(tree.path("tenants/.alpha.toml.swp"), "garbage").unwrap();
    std::fs::write(tree.path("tenants/.hidden.toml"), "garbage").unwrap();
    assert_eq!(tree.load().expect("valid").tenants().len(), 2);
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let tree = Tree::standard();
            std::fs::write(tree.path("greffier.toml"), &bytes).unwrap();
            std::fs::write(tree.path("tenants/alpha.toml"), &bytes).unwrap();
            let problems = tree.load().expect_err("random bytes are no configuration");
            prop_assert!(!problems.is_empty());
            prop_assert!(problems.iter().all(|p| !p.reason.contains('\n')));
        }

        #[test]
        fn mangled_files_never_panic(cut in 0usize..2000, junk in "[\\[\\]=\"a-z0-9.,{} \n+-]{0,40}") {
            let tree = Tree::standard();
            let splice = |text: &str| {
                let at = cut.min(text.len());
                let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
                format!("{}{junk}{}", &text[..at], &text[at..])
            };
            tree.write("greffier.toml", &splice(MAIN));
            tree.write("tenants/alpha.toml", &splice(ALPHA));
            if let Err(problems) = tree.load() {
                prop_assert!(!problems.is_empty());
            }
        }
    }
}

const RELOAD_BOUND: Duration = Duration::from_secs(20);

/// Waits, within a bound, until `rx` holds a value for which `accept` is true.
async fn wait_for<T, F>(rx: &mut watch::Receiver<T>, accept: F) -> T
where
    T: Clone,
    F: Fn(&T) -> bool,
{
    let waiting = async {
        loop {
            let current = rx.borrow_and_update().clone();
            if accept(&current) {
                return current;
            }
            rx.changed().await.expect("the watcher is running");
        }
    };
    bounded(waiting).await
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(RELOAD_BOUND, future)
        .await
        .expect("the reload came within the bound")
}

fn rejected(outcome: &ReloadOutcome) -> bool {
    outcome.result.is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_edit_keeps_the_old_config_and_a_good_one_applies() {
    let tree = Tree::standard();
    let mut watcher =
        ConfigWatcher::spawn_with(tree.main_path(), WatchOptions::default()).expect("initial load");
    let before = watcher.config.borrow().clone();

    tree.write(
        "tenants/alpha.toml",
        &edit(ALPHA, "policy = \"all\"", "policy = \"sometimes\""),
    );
    let outcome = wait_for(&mut watcher.reloads, rejected).await;
    let problems = outcome.result.expect_err("rejected");
    assert!(problems.problems.iter().any(
        |p| p.file.ends_with("tenants/alpha.toml") && p.key == "tenants.alpha.recording.policy"
    ));
    assert!(
        Arc::ptr_eq(&before, &watcher.config.borrow()),
        "the old configuration stays"
    );

    tree.write(
        "tenants/alpha.toml",
        &edit(ALPHA, "recordings_days = 30", "recordings_days = 7"),
    );
    let config = wait_for(&mut watcher.config, |config: &Arc<Config>| {
        config
            .tenant("alpha")
            .is_some_and(|t| t.retention.recordings_days == 7)
    })
    .await;
    assert_eq!(config.tenants().len(), 2);
    let outcome = wait_for(&mut watcher.reloads, |o: &ReloadOutcome| {
        o.result.as_ref().is_ok_and(|s| s.changed_anything())
    })
    .await;
    let summary = outcome.result.expect("applied");
    assert_eq!(summary.tenants_changed, ["alpha"]);
    assert!(summary.tenants_added.is_empty() && summary.tenants_removed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_come_and_go_but_node_changes_wait_for_a_restart() {
    let tree = Tree::new(MAIN, &[("alpha", ALPHA)]);
    let mut watcher =
        ConfigWatcher::spawn_with(tree.main_path(), WatchOptions::default()).expect("initial load");

    tree.write("tenants/beta.toml", BETA);
    wait_for(&mut watcher.config, |config: &Arc<Config>| {
        config.tenant("beta").is_some()
    })
    .await;

    std::fs::remove_file(tree.path("tenants/alpha.toml")).unwrap();
    let outcome = wait_for(&mut watcher.reloads, |o: &ReloadOutcome| {
        o.result
            .as_ref()
            .is_ok_and(|s| !s.tenants_removed.is_empty())
    })
    .await;
    assert_eq!(outcome.result.expect("applied").tenants_removed, ["alpha"]);
    let config = watcher.config.borrow().clone();
    assert_eq!(config.tenants().len(), 1);
    assert!(config.tenant("alpha").is_none());

    let moved = edit(MAIN, "\"udp:127.0.0.1:5060\"", "\"udp:127.0.0.1:5062\"");
    let moved = edit(
        &moved,
        "max_recordings_days = 100",
        "max_recordings_days = 99",
    );
    tree.write("greffier.toml", &moved);
    let outcome = wait_for(&mut watcher.reloads, |o: &ReloadOutcome| {
        o.result
            .as_ref()
            .is_ok_and(|s| s.settings_changed.contains(&"limits"))
    })
    .await;
    assert_eq!(
        outcome.result.expect("applied").restart_needed,
        ["node.sip_listen"]
    );
    let config = watcher.config.borrow().clone();
    assert_eq!(config.limits.max_recordings_days, 99);
    assert_eq!(
        config.node.sip_listen[0].addr.port(),
        5060,
        "listeners change only on restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads() {
    let tree = Tree::new(MAIN, &[("alpha", ALPHA)]);
    let options = WatchOptions {
        files: false,
        ..WatchOptions::default()
    };
    let mut watcher = ConfigWatcher::spawn_with(tree.main_path(), options).expect("initial load");
    tree.write("tenants/beta.toml", BETA);
    // SAFETY: raise() only delivers a signal to this process, whose SIGHUP
    // handler the watcher installed before returning.
    let raised = unsafe { libc::raise(libc::SIGHUP) };
    assert_eq!(raised, 0);
    let config = wait_for(&mut watcher.config, |config: &Arc<Config>| {
        config.tenant("beta").is_some()
    })
    .await;
    assert_eq!(config.tenants().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_fails_when_the_first_load_does() {
    let tree = Tree::new(&edit(MAIN, "id = \"test-node\"", "id = \"\""), &[]);
    let errors = ConfigWatcher::spawn(tree.main_path()).expect_err("invalid node id");
    assert!(errors.problems.iter().any(|p| p.key == "node.id"));
}

/// ALPHA's file as another tenant's, on addresses and numbers of its own.
fn gamma() -> String {
    let text = edit(ALPHA, "id = \"alpha\"", "id = \"gamma\"");
    let text = edit(
        &text,
        "\"+33199000001\", \"+33199000002\"",
        "\"+33199000003\"",
    );
    let text = edit(&text, "\"127.0.0.1/32\"", "\"127.0.3.1/32\"");
    edit(&text, "\"127.0.0.2/32\"", "\"127.0.3.2/32\"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tenant_is_published_only_once_prepared_and_a_refusal_keeps_the_old_config() {
    let tree = Tree::standard();
    // What the hook saw when each configuration was prepared, and whether it
    // refuses tenants called gamma (a keyring that cannot give them keys).
    let prepared: Arc<std::sync::Mutex<Vec<Vec<String>>>> = Arc::default();
    let refuse = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let hook: greffier::config::Prepare = {
        let (prepared, refuse) = (prepared.clone(), refuse.clone());
        Arc::new(move |config: &Config| {
            let ids: Vec<String> = config.tenants().iter().map(|t| t.id.to_string()).collect();
            prepared.lock().unwrap().push(ids);
            match config.tenant("gamma") {
                Some(gamma) if refuse.load(std::sync::atomic::Ordering::SeqCst) => {
                    Err(greffier::config::ConfigErrors {
                        problems: vec![ConfigProblem {
                            file: gamma.file.clone(),
                            key: "tenants.gamma.keys".to_string(),
                            reason: "no keys for this tenant".to_string(),
                        }],
                    })
                }
                _ => Ok(()),
            }
        })
    };
    let mut watcher =
        ConfigWatcher::spawn_prepared(tree.main_path(), WatchOptions::default(), Some(hook))
            .expect("initial load");
    assert_eq!(
        prepared.lock().unwrap().len(),
        1,
        "the first configuration is prepared"
    );
    let before = watcher.config.borrow().clone();

    tree.write("tenants/gamma.toml", &gamma());
    let outcome = wait_for(&mut watcher.reloads, rejected).await;
    let problems = outcome.result.expect_err("refused by the hook");
    assert!(problems
        .problems
        .iter()
        .any(|p| p.file.ends_with("tenants/gamma.toml") && p.key == "tenants.gamma.keys"));
    assert!(
        Arc::ptr_eq(&before, &watcher.config.borrow()),
        "a tenant that cannot be prepared is never published"
    );

    refuse.store(false, std::sync::atomic::Ordering::SeqCst);
    tree.write(
        "tenants/gamma.toml",
        &edit(&gamma(), "recordings_days = 30", "recordings_days = 7"),
    );
    let config = wait_for(&mut watcher.config, |config: &Arc<Config>| {
        config.tenant("gamma").is_some()
    })
    .await;
    assert_eq!(config.tenants().len(), 3);
    let last = prepared.lock().unwrap().last().cloned().unwrap_or_default();
    assert!(
        last.contains(&"gamma".to_string()),
        "published before the hook prepared it: {last:?}"
    );
}

// --- What peers may make the node hold (node keys of docs/security.md), and the
// addresses it advertises.

const EDGE_CASES: &[Case] = &[
    case(
        "wildcard listener",
        "greffier.toml",
        "\"udp:127.0.0.1:5060\"",
        "\"udp:0.0.0.0:5060\"",
        "node.sip_listen[0]",
    ),
    case(
        "wildcard ipv6 listener",
        "greffier.toml",
        "\"tcp:[::1]:5060\"",
        "\"tcp:[::]:5060\"",
        "node.sip_listen[1]",
    ),
    case(
        "wildcard media address",
        "greffier.toml",
        "media_address = \"127.0.0.1\"",
        "media_address = \"0.0.0.0\"",
        "node.media_address",
    ),
    case(
        "wildcard ipv6 media address",
        "greffier.toml",
        "media_address = \"127.0.0.1\"",
        "media_address = \"::\"",
        "node.media_address",
    ),
    case(
        "unknown source action",
        "greffier.toml",
        "tenants_dir = \"tenants\"",
        "tenants_dir = \"tenants\"\nunknown_source = \"ignore\"",
        "node.unknown_source",
    ),
    case(
        "transaction cap too small",
        "greffier.toml",
        "tenants_dir = \"tenants\"",
        "tenants_dir = \"tenants\"\nmax_transactions = 10",
        "node.max_transactions",
    ),
    case(
        "dialog cap zero",
        "greffier.toml",
        "tenants_dir = \"tenants\"",
        "tenants_dir = \"tenants\"\nmax_dialogs = 0",
        "node.max_dialogs",
    ),
    case(
        "tcp cap zero",
        "greffier.toml",
        "tenants_dir = \"tenants\"",
        "tenants_dir = \"tenants\"\ntcp_max_connections = 0",
        "node.tcp_max_connections",
    ),
    case(
        "tcp per-source above total",
        "greffier.toml",
        "tenants_dir = \"tenants\"",
        "tenants_dir = \"tenants\"\ntcp_max_connections = 10\ntcp_max_connections_per_source = 11",
        "node.tcp_max_connections_per_source",
    ),
    case(
        "tcp idle zero",
        "greffier.toml",
        "tenants_dir = \"tenants\"",
        "tenants_dir = \"tenants\"\ntcp_idle_timeout_secs = 0",
        "node.tcp_idle_timeout_secs",
    ),
    case(
        "tcp idle type",
        "greffier.toml",
        "tenants_dir = \"tenants\"",
        "tenants_dir = \"tenants\"\ntcp_idle_timeout_secs = \"5m\"",
        "node.tcp_idle_timeout_secs",
    ),
];

#[test]
fn every_edge_rule_names_its_file_and_key() {
    check_cases(EDGE_CASES);
}

#[test]
fn edge_keys_have_defaults_and_take_values() {
    use greffier_sip::proxy::UnknownSource;
    let defaults = Tree::standard().load().expect("valid configuration");
    assert_eq!(defaults.node.edge, greffier::config::EdgeConfig::default());
    assert_eq!(defaults.node.edge.unknown_source, UnknownSource::Reject);
    let main = edit(
        MAIN,
        "tenants_dir = \"tenants\"",
        "tenants_dir = \"tenants\"\nunknown_source = \"drop\"\nmax_transactions = 2000\n\
         max_dialogs = 300\ntcp_max_connections = 50\ntcp_max_connections_per_source = 5\n\
         tcp_idle_timeout_secs = 7",
    );
    let tree = Tree::new(&main, &[("alpha", ALPHA), ("beta", BETA)]);
    let edge = tree.load().expect("valid configuration").node.edge;
    assert_eq!(edge.unknown_source, UnknownSource::Drop);
    assert_eq!((edge.max_transactions, edge.max_dialogs), (2000, 300));
    assert_eq!(
        (
            edge.tcp_max_connections,
            edge.tcp_max_connections_per_source
        ),
        (50, 5)
    );
    assert_eq!(edge.tcp_idle_timeout, Duration::from_secs(7));
}

#[test]
fn a_wildcard_address_is_refused_with_the_reason() {
    let problems = problems_with(
        "greffier.toml",
        &edit(
            MAIN,
            "media_address = \"127.0.0.1\"",
            "media_address = \"0.0.0.0\"",
        ),
    );
    let problem = problems
        .iter()
        .find(|p| p.key == "node.media_address")
        .expect("a problem at node.media_address");
    assert!(problem.reason.contains("SDP"), "{problem}");
}
