//! The configuration's schema: the text of the main file and of each tenant
//! file in, a validated [`Config`] or every problem out. No I/O here: files
//! are read by `load.rs`, and the environment is reached only through the
//! lookup function the caller passes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use greffier_types::{TenantId, E164};
use serde::de::DeserializeOwned;

use super::admin::{validate_admin, RawAdmin};
use super::jobs::{validate_jobs, RawJobs};
use super::keys::{validate_keys, RawKeys};
use super::log::{validate_log, RawLog};
use super::net::overlaps;
use super::node::{check_slug, validate_limits, validate_node, RawLimits, RawNode};
use super::paths::PathContext;
use super::problems::{join_key, ConfigErrors, Origin, Problems};
use super::registry::{validate_provider, validate_subprocessor, RawProvider, RawSubprocessor};
use super::storage::{validate_storage, RawStorage};
use super::sweep::{validate_sweep, RawSweep};
use super::tenant::{validate_tenant, RawTenant, RawTenantHead, Tenant, TenantContext};
use super::{
    AdminConfig, Config, JobsConfig, KeysConfig, Limits, LogConfig, NodeConfig, Provider,
    SourceRole, StorageConfig, Subprocessor, SweepConfig,
};

const MAIN_SECTIONS: [&str; 10] = [
    "node",
    "admin",
    "limits",
    "retention",
    "storage",
    "keys",
    "subprocessors",
    "providers",
    "transcription",
    "log",
];
const TENANT_HEAD_KEYS: [&str; 2] = ["id", "numbers"];
const TENANT_SECTIONS: [&str; 7] = [
    "pbx",
    "carrier",
    "recording",
    "retention",
    "transcription",
    "keys",
    "media",
];

/// The main file, validated section by section; what the tenant files are
/// checked against.
pub(crate) struct MainPart {
    node: Option<NodeConfig>,
    admin: Option<AdminConfig>,
    limits: Limits,
    sweep: SweepConfig,
    jobs: JobsConfig,
    log: LogConfig,
    storage: Option<StorageConfig>,
    keys: Option<KeysConfig>,
    subprocessors: Vec<Subprocessor>,
    subprocessor_names: Vec<String>,
    providers: Vec<Provider>,
    provider_names: Vec<String>,
    /// `node.tenants_dir`, when the node section names one.
    pub(crate) tenants_dir: Option<PathBuf>,
}

impl MainPart {
    pub(crate) fn tenant_context(&self) -> TenantContext<'_> {
        TenantContext {
            limits: &self.limits,
            subprocessor_names: &self.subprocessor_names,
            provider_names: &self.provider_names,
        }
    }
}

/// Text to configuration in one step: the main file at `path` (absolute) and
/// every tenant file, as `(path, text)` in name order.
pub(crate) fn parse(
    path: &Path,
    main_text: &str,
    tenant_texts: &[(PathBuf, String)],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut problems = Problems::default();
    let Some(main) = parse_main(path, main_text, lookup, &mut problems) else {
        return Err(problems.into_errors());
    };
    let context = main.tenant_context();
    let tenants = tenant_texts
        .iter()
        .filter_map(|(file, text)| parse_tenant(file.clone(), text, &context, &mut problems))
        .collect();
    finish(path.to_path_buf(), main, tenants, problems)
}

/// The main file at `path` (absolute, for relative paths and problem
/// reports). `None` when it is not TOML at all; else every section's
/// problems are recorded and the valid ones kept.
pub(crate) fn parse_main(
    path: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<MainPart> {
    let mut table = parse_table(path, text, problems)?;
    let base_dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let paths = PathContext {
        base_dir: &base_dir,
        lookup,
    };
    let file = path;
    let root = Origin::new(file, "");

    let (node, tenants_dir) =
        match take_section::<RawNode>(&mut table, "node", root, true, problems) {
            Some(raw) => validate_node(raw, Origin::new(file, "node"), &paths, problems),
            None => (None, None),
        };
    let admin =
        take_optional_section::<RawAdmin>(&mut table, "admin", root, problems).and_then(|raw| {
            let listen = node.as_ref().map(|node| node.admin_listen);
            validate_admin(raw, listen, Origin::new(file, "admin"), &paths, problems)
        });
    let limits = match take_section::<RawLimits>(&mut table, "limits", root, false, problems) {
        Some(raw) => validate_limits(raw, Origin::new(file, "limits"), problems),
        None => validate_limits(RawLimits::default(), Origin::new(file, "limits"), problems),
    };
    let sweep = take_section::<RawSweep>(&mut table, "retention", root, false, problems)
        .map(|raw| validate_sweep(raw, Origin::new(file, "retention"), problems))
        .unwrap_or_default();
    let log = take_section::<RawLog>(&mut table, "log", root, false, problems)
        .map(|raw| validate_log(raw, Origin::new(file, "log"), problems))
        .unwrap_or_default();
    let jobs = take_section::<RawJobs>(&mut table, "transcription", root, false, problems)
        .map(|raw| validate_jobs(raw, Origin::new(file, "transcription"), problems))
        .unwrap_or_default();
    let storage = take_section::<RawStorage>(&mut table, "storage", root, true, problems)
        .and_then(|raw| validate_storage(raw, Origin::new(file, "storage"), &paths, problems));
    let keys = take_section::<RawKeys>(&mut table, "keys", root, true, problems)
        .and_then(|raw| validate_keys(raw, Origin::new(file, "keys"), &paths, problems));
    let (subprocessors, subprocessor_names) = load_declarations::<RawSubprocessor, _>(
        &mut table,
        "subprocessors",
        file,
        problems,
        validate_subprocessor,
    );
    let (providers, provider_names) = load_declarations::<RawProvider, _>(
        &mut table,
        "providers",
        file,
        problems,
        |raw, origin, problems| {
            validate_provider(raw, origin, &subprocessor_names, &paths, problems)
        },
    );
    report_unknown_keys(&table, root, &MAIN_SECTIONS, problems);
    Some(MainPart {
        node,
        admin,
        limits,
        sweep,
        jobs,
        log,
        storage,
        keys,
        subprocessors,
        subprocessor_names,
        providers,
        provider_names,
        tenants_dir,
    })
}

/// The whole configuration once every file is parsed: the checks across
/// tenants, then either the configuration or every problem found.
pub(crate) fn finish(
    path: PathBuf,
    main: MainPart,
    tenants: Vec<Tenant>,
    mut problems: Problems,
) -> Result<Config, ConfigErrors> {
    check_tenants_apart(&tenants, &mut problems);
    if !problems.is_empty() {
        return Err(problems.into_errors());
    }
    let (Some(node), Some(storage), Some(keys), Some(admin)) =
        (main.node, main.storage, main.keys, main.admin)
    else {
        // Every path that leaves one of these out records a problem first.
        problems.push(&path, "", "incomplete configuration");
        return Err(problems.into_errors());
    };
    Ok(Config::assemble(
        path,
        node,
        admin,
        main.limits,
        main.sweep,
        main.jobs,
        main.log,
        storage,
        keys,
        main.subprocessors,
        main.providers,
        tenants,
    ))
}

/// Parses one file's text as TOML; its problems are recorded with an empty key.
fn parse_table(path: &Path, text: &str, problems: &mut Problems) -> Option<toml::Table> {
    match toml::from_str::<toml::Table>(text) {
        Ok(table) => Some(table),
        Err(error) => {
            problems.push(path, "", syntax_reason(text, &error));
            None
        }
    }
}

fn syntax_reason(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("TOML syntax error at line {line}, column {column}: {message}")
        }
        None => format!("TOML syntax error: {message}"),
    }
}

/// Deserialises `value`, recording the first error with the key it concerns.
fn deserialize<T: DeserializeOwned>(
    value: toml::Value,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            let path = error.path().to_string();
            let message = error.inner().message().trim().to_string();
            let mut key = if path == "." {
                origin.prefix.to_string()
            } else {
                origin.key(&path)
            };
            if let Some(field) = named_field(&message) {
                let named_already = key == field || key.ends_with(&format!(".{field}"));
                if !named_already {
                    key = join_key(&key, field);
                }
            }
            problems.push(origin.file, key, message);
            None
        }
    }
}

/// The field an "unknown field `x`" or "missing field `x`" message names.
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

fn take_section<T: DeserializeOwned>(
    table: &mut toml::Table,
    name: &str,
    parent: Origin<'_>,
    required: bool,
    problems: &mut Problems,
) -> Option<T> {
    let key = parent.key(name);
    match table.remove(name) {
        Some(value @ toml::Value::Table(_)) => {
            deserialize(value, Origin::new(parent.file, &key), problems)
        }
        Some(_) => {
            problems.push(parent.file, key, format!("must be a table: [{name}]"));
            None
        }
        None if required => {
            problems.push(parent.file, key, format!("the section [{name}] is missing"));
            None
        }
        None => None,
    }
}

/// An optional section: its defaults when absent, `None` when it is present
/// but wrong (the problem is recorded).
fn take_optional_section<T: DeserializeOwned + Default>(
    table: &mut toml::Table,
    name: &str,
    parent: Origin<'_>,
    problems: &mut Problems,
) -> Option<T> {
    if table.contains_key(name) {
        take_section(table, name, parent, false, problems)
    } else {
        Some(T::default())
    }
}

/// Each element of an array of tables, deserialised on its own; the result
/// keeps the element's index for its problem keys.
fn take_array<T: DeserializeOwned>(
    table: &mut toml::Table,
    name: &str,
    file: &Path,
    problems: &mut Problems,
) -> Vec<(usize, T)> {
    let items = match table.remove(name) {
        None => return Vec::new(),
        Some(toml::Value::Array(items)) => items,
        Some(_) => {
            problems.push(
                file,
                name,
                format!("must be an array of tables: [[{name}]]"),
            );
            return Vec::new();
        }
    };
    items
        .into_iter()
        .enumerate()
        .filter_map(|(index, value)| {
            let key = format!("{name}[{index}]");
            deserialize(value, Origin::new(file, &key), problems).map(|parsed| (index, parsed))
        })
        .collect()
}

fn report_unknown_keys(
    table: &toml::Table,
    origin: Origin<'_>,
    known: &[&str],
    problems: &mut Problems,
) {
    for name in table.keys() {
        problems.push(
            origin.file,
            origin.key(name),
            format!("unknown key; expected one of {}", known.join(", ")),
        );
    }
}

/// A `[[section]]` entry with a unique name.
pub(crate) trait Named {
    fn name(&self) -> &str;
}

/// The valid entries of an array of named tables, and the names of all
/// declared ones: a name declared with a mistake elsewhere in its entry still
/// counts as declared, so that one mistake is not reported again wherever the
/// name is used.
fn load_declarations<R, T>(
    table: &mut toml::Table,
    section: &str,
    file: &Path,
    problems: &mut Problems,
    mut validate: impl FnMut(R, Origin<'_>, &mut Problems) -> Option<T>,
) -> (Vec<T>, Vec<String>)
where
    R: DeserializeOwned + Named,
    T: Named,
{
    let mut valid: Vec<T> = Vec::new();
    let mut names = Vec::new();
    for (index, raw) in take_array::<R>(table, section, file, problems) {
        names.push(raw.name().to_string());
        let key = format!("{section}[{index}]");
        let origin = Origin::new(file, &key);
        let Some(entry) = validate(raw, origin, problems) else {
            continue;
        };
        if valid.iter().any(|other| other.name() == entry.name()) {
            problems.push(
                file,
                origin.key("name"),
                format!("`{}` is declared twice", entry.name()),
            );
            continue;
        }
        valid.push(entry);
    }
    (valid, names)
}

/// One tenant file's text; `None` when it has a problem (recorded).
pub(crate) fn parse_tenant(
    file: PathBuf,
    text: &str,
    context: &TenantContext<'_>,
    problems: &mut Problems,
) -> Option<Tenant> {
    let mut table = parse_table(&file, text, problems)?;
    let prefix = format!("tenants.{}", tenant_label(&table, &file));
    let origin = Origin::new(&file, &prefix);
    let pbx = take_section(&mut table, "pbx", origin, true, problems);
    let carrier = take_section(&mut table, "carrier", origin, true, problems);
    let recording = take_section(&mut table, "recording", origin, true, problems);
    let retention = take_section(&mut table, "retention", origin, true, problems);
    let transcription = take_optional_section(&mut table, "transcription", origin, problems);
    let keys = take_optional_section(&mut table, "keys", origin, problems);
    let media = take_optional_section(&mut table, "media", origin, problems);
    let unknown: toml::Table = table
        .iter()
        .filter(|(name, _)| !TENANT_HEAD_KEYS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    table.retain(|name, _| TENANT_HEAD_KEYS.contains(&name));
    let known: Vec<&str> = TENANT_HEAD_KEYS
        .iter()
        .chain(&TENANT_SECTIONS)
        .copied()
        .collect();
    report_unknown_keys(&unknown, origin, &known, problems);
    let head = deserialize::<RawTenantHead>(toml::Value::Table(table), origin, problems);
    let raw = RawTenant {
        head,
        pbx,
        carrier,
        recording,
        retention,
        transcription,
        keys,
        media,
    };
    let origin_file = file.clone();
    validate_tenant(
        raw,
        file,
        Origin::new(&origin_file, &prefix),
        context,
        problems,
    )
}

/// What a tenant's problems are filed under: its id when it has a usable one,
/// else the file's name.
fn tenant_label(table: &toml::Table, file: &Path) -> String {
    match table.get("id").and_then(toml::Value::as_str) {
        Some(id) if check_slug(id).is_ok() => id.to_string(),
        _ => file
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// Ids, numbers and source networks must each point at one tenant only.
fn check_tenants_apart(tenants: &[Tenant], problems: &mut Problems) {
    let mut ids: HashMap<&TenantId, &Tenant> = HashMap::new();
    let mut numbers: HashMap<&E164, &Tenant> = HashMap::new();
    for tenant in tenants {
        let prefix = format!("tenants.{}", tenant.id);
        let origin = Origin::new(&tenant.file, &prefix);
        if let Some(first) = ids.insert(&tenant.id, tenant) {
            problems.push(
                &tenant.file,
                origin.key("id"),
                format!(
                    "`{}` is also the id of the tenant in {}",
                    tenant.id,
                    first.file.display()
                ),
            );
        }
        for (index, number) in tenant.numbers.iter().enumerate() {
            if let Some(owner) = numbers.get(number).filter(|owner| owner.id != tenant.id) {
                problems.push(
                    &tenant.file,
                    origin.key(&format!("numbers[{index}]")),
                    format!("{number} also belongs to tenant `{}`", owner.id),
                );
            } else {
                numbers.insert(number, tenant);
            }
        }
    }
    check_sources_apart(tenants, problems);
}

fn check_sources_apart(tenants: &[Tenant], problems: &mut Problems) {
    let entries: Vec<(&Tenant, SourceRole, usize)> = tenants
        .iter()
        .flat_map(|tenant| {
            let pbx = (0..tenant.pbx.sources.len()).map(move |i| (tenant, SourceRole::Pbx, i));
            let carrier =
                (0..tenant.carrier.sources.len()).map(move |i| (tenant, SourceRole::Carrier, i));
            pbx.chain(carrier)
        })
        .collect();
    for (position, &(tenant, role, index)) in entries.iter().enumerate() {
        let net = tenant.peer(role).sources.get(index);
        let earlier = entries
            .iter()
            .take(position)
            .find(|(other, other_role, other_index)| {
                let other_net = other.peer(*other_role).sources.get(*other_index);
                matches!((net, other_net), (Some(a), Some(b)) if overlaps(a, b))
            });
        let (Some(net), Some((other, other_role, other_index))) = (net, earlier) else {
            continue;
        };
        let other_net = other.peer(*other_role).sources.get(*other_index);
        let prefix = format!("tenants.{}", tenant.id);
        problems.push(
            &tenant.file,
            Origin::new(&tenant.file, &prefix).key(&format!("{}.sources[{index}]", role.section())),
            format!(
                "{net} overlaps {} of tenant `{}` ({}): a source address must identify one tenant and one role",
                other_net.map(ToString::to_string).unwrap_or_default(),
                other.id,
                other_role.section()
            ),
        );
    }
}
