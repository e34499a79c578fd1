//! The reload bus: what a reload changed, for every part of the gateway that
//! subscribes to it (`ConfigWatcher::reloads`, a `tokio::sync::watch`
//! channel; the configuration itself comes on `ConfigWatcher::config`).
//! Tenant ids and section names only: no personal data.

use greffier_types::TenantId;

use super::{Config, ConfigErrors, NodeConfig};

/// The result of the latest reload attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// 0 before any reload, then one more per attempt.
    pub attempt: u64,
    pub result: Result<ReloadSummary, ConfigErrors>,
}

/// What an applied reload changed. Ids only: no personal data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub tenants_added: Vec<TenantId>,
    pub tenants_removed: Vec<TenantId>,
    pub tenants_changed: Vec<TenantId>,
    /// Sections of the main file that apply at run time and changed:
    /// `limits`, `subprocessors`, `providers`, `retention`.
    pub settings_changed: Vec<&'static str>,
    /// Keys whose new values were ignored until the next restart.
    pub restart_needed: Vec<String>,
}

impl ReloadSummary {
    pub fn changed_anything(&self) -> bool {
        !(self.tenants_added.is_empty()
            && self.tenants_removed.is_empty()
            && self.tenants_changed.is_empty()
            && self.settings_changed.is_empty())
    }
}

pub(crate) fn summarize(current: &Config, loaded: &Config) -> ReloadSummary {
    let ids = |config: &Config| -> Vec<TenantId> {
        config.tenants().iter().map(|t| t.id.clone()).collect()
    };
    let (old_ids, new_ids) = (ids(current), ids(loaded));
    let tenants_added = new_ids
        .iter()
        .filter(|id| !old_ids.contains(id))
        .cloned()
        .collect();
    let tenants_removed = old_ids
        .iter()
        .filter(|id| !new_ids.contains(id))
        .cloned()
        .collect();
    let tenants_changed = loaded
        .tenants()
        .iter()
        .filter(|new| {
            current
                .tenant(new.id.as_str())
                .is_some_and(|old| old != *new)
        })
        .map(|tenant| tenant.id.clone())
        .collect();
    let settings_changed = [
        ("limits", current.limits != loaded.limits),
        (
            "subprocessors",
            current.subprocessors != loaded.subprocessors,
        ),
        ("providers", current.providers != loaded.providers),
        ("retention", current.sweep != loaded.sweep),
    ]
    .into_iter()
    .filter_map(|(section, changed)| changed.then_some(section))
    .collect();
    let mut restart_needed = node_changes(&current.node, &loaded.node);
    restart_needed.extend(admin_changes(&current.admin, &loaded.admin));
    if current.storage != loaded.storage {
        restart_needed.push("storage".to_string());
    }
    if current.keys != loaded.keys {
        restart_needed.push("keys".to_string());
    }
    ReloadSummary {
        tenants_added,
        tenants_removed,
        tenants_changed,
        settings_changed,
        restart_needed,
    }
}

/// The admin listener's names, TLS, credentials file and session length
/// are taken at start; the Argon2 cost and the tenant settings file apply
/// at their next use.
fn admin_changes(old: &super::AdminConfig, new: &super::AdminConfig) -> Vec<String> {
    [
        ("admin.hosts", old.hosts != new.hosts),
        ("admin.tls_cert", old.tls != new.tls),
        (
            "admin.credentials_file",
            old.credentials_file != new.credentials_file,
        ),
        (
            "admin.session_hours",
            old.session_hours != new.session_hours,
        ),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(key, _)| key.to_string())
    .collect()
}

fn node_changes(old: &NodeConfig, new: &NodeConfig) -> Vec<String> {
    let fields = [
        ("node.id", old.id != new.id),
        ("node.sip_listen", old.sip_listen != new.sip_listen),
        ("node.media_address", old.media_address != new.media_address),
        ("node.media_ports", old.media_ports != new.media_ports),
        ("node.admin_listen", old.admin_listen != new.admin_listen),
        ("node.rtp_timeout_secs", old.rtp_timeout != new.rtp_timeout),
        (
            "node.new_dialogs_per_source_per_sec",
            old.new_dialogs_per_source_per_sec != new.new_dialogs_per_source_per_sec,
        ),
        (
            "node.new_dialogs_burst",
            old.new_dialogs_burst != new.new_dialogs_burst,
        ),
        ("node.tenants_dir", old.tenants_dir != new.tenants_dir),
        // Media sources and destinations.
        (
            "node.strict_source",
            old.media_policy.strict_source != new.media_policy.strict_source,
        ),
        (
            "node.rtp_learning_packets",
            old.media_policy.learning_packets != new.media_policy.learning_packets,
        ),
        (
            "node.media_destinations",
            old.media_policy.destinations != new.media_policy.destinations,
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| key.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    const MAIN: &str = r#"
[node]
id = "bus-test"
sip_listen = ["udp:127.0.0.1:5060"]
media_address = "127.0.0.1"
media_ports = "30000-30099"
admin_listen = "127.0.0.1:8080"
tenants_dir = "tenants"

[storage]
kind = "local"
path = "data"
spool_dir = "spool"

[keys]
keyring = "keyring.grk"
master_key_file = "master.key"
"#;

    fn tenant(id: &str, number: &str, subnet: u8, recordings_days: u32) -> (PathBuf, String) {
        let text = format!(
            r#"
id = "{id}"
numbers = ["{number}"]

[pbx]
sources = ["127.0.{subnet}.1/32"]
uri = "sip:127.0.0.1:5080"

[carrier]
sources = ["127.0.{subnet}.2/32"]
uri = "sip:127.0.0.1:5070"

[recording]
policy = "all"

[retention]
recordings_days = {recordings_days}
transcripts_days = 0
"#
        );
        (
            PathBuf::from(format!("/etc/greffier/tenants/{id}.toml")),
            text,
        )
    }

    fn parse(main: &str, tenants: &[(PathBuf, String)]) -> Config {
        Config::parse(
            Path::new("/etc/greffier/greffier.toml"),
            main,
            tenants,
            &|_| None,
        )
        .expect("a valid configuration")
    }

    fn ids(names: &[&str]) -> Vec<TenantId> {
        names
            .iter()
            .map(|name| TenantId::new(name).unwrap())
            .collect()
    }

    #[test]
    fn subscribers_learn_which_tenants_and_settings_changed() {
        let before = parse(
            MAIN,
            &[
                tenant("acme", "+33199000001", 1, 30),
                tenant("globex", "+33199000002", 2, 30),
            ],
        );
        assert!(!summarize(&before, &before).changed_anything());

        let main = format!("{MAIN}\n[retention]\nsweep_every = \"30m\"\n");
        let main = main.replace(
            "admin_listen = \"127.0.0.1:8080\"",
            "admin_listen = \"127.0.0.1:8081\"",
        );
        let after = parse(
            &main,
            &[
                tenant("acme", "+33199000001", 1, 7),
                tenant("initech", "+33199000003", 3, 30),
            ],
        );
        let summary = summarize(&before, &after);
        assert_eq!(summary.tenants_added, ids(&["initech"]));
        assert_eq!(summary.tenants_removed, ids(&["globex"]));
        assert_eq!(summary.tenants_changed, ids(&["acme"]));
        assert_eq!(summary.settings_changed, ["retention"]);
        assert_eq!(summary.restart_needed, ["node.admin_listen"]);
        assert!(summary.changed_anything());
    }
}
