//! Live reloading: on SIGHUP and when the main file or a tenant file changes.
//! What each reload changed goes out on the reload bus (`reload.rs`).
//! Only tenants, limits, sub-processors and providers change at run time; the
//! rest of the main file (sockets, storage, keys) needs a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::load::{load, LoadOptions};
use super::paths::process_env;
use super::reload::{summarize, ReloadOutcome, ReloadSummary};
use super::{Config, ConfigErrors, ConfigProblem};

/// What triggers a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Watch the main file and the tenants directory.
    pub files: bool,
    /// Reload on SIGHUP.
    pub sighup: bool,
    /// Quiet time after the last file event before reloading, so that an
    /// editor's several writes make one reload.
    pub debounce: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            files: true,
            sighup: true,
            debounce: Duration::from_millis(200),
        }
    }
}

/// Makes ready what a configuration needs before it is published (the keys
/// of new tenants): called on the first configuration and on every reload
/// that changes something, on a thread that may block. An error rejects the
/// reload, so nothing ever routes to a tenant that is not ready.
pub type Prepare = Arc<dyn Fn(&Config) -> Result<(), ConfigErrors> + Send + Sync>;

/// A running reloader.
#[derive(Debug)]
pub struct ConfigWatcher {
    /// The configuration in force.
    pub config: watch::Receiver<Arc<Config>>,
    /// The latest reload attempt, applied or rejected.
    pub reloads: watch::Receiver<ReloadOutcome>,
    /// Ends when every receiver of `config` is gone.
    pub task: JoinHandle<()>,
}

impl ConfigWatcher {
    /// Loads `path`, then reloads it on SIGHUP and on file changes. Must be
    /// called inside a tokio runtime. Fails only when the first load does.
    pub fn spawn(
        path: impl Into<PathBuf>,
    ) -> Result<(watch::Receiver<Arc<Config>>, JoinHandle<()>), ConfigErrors> {
        let watcher = Self::spawn_with(path, WatchOptions::default())?;
        Ok((watcher.config, watcher.task))
    }

    pub fn spawn_with(
        path: impl Into<PathBuf>,
        options: WatchOptions,
    ) -> Result<Self, ConfigErrors> {
        Self::spawn_prepared(path, options, None)
    }

    /// As [`ConfigWatcher::spawn_with`], with `prepare` run on the first
    /// configuration and before each changed one is published.
    pub fn spawn_prepared(
        path: impl Into<PathBuf>,
        options: WatchOptions,
        prepare: Option<Prepare>,
    ) -> Result<Self, ConfigErrors> {
        let path = path.into();
        let initial = Config::load(&path)?;
        if let Some(prepare) = &prepare {
            prepare(&initial)?;
        }
        let tenants_dir = initial.node.tenants_dir.clone();
        let main_file = initial.path.clone();
        let (config_tx, config_rx) = watch::channel(Arc::new(initial));
        let (reload_tx, reload_rx) = watch::channel(ReloadOutcome {
            attempt: 0,
            result: Ok(ReloadSummary::default()),
        });
        // Registered here, not in the task, so that a SIGHUP right after
        // `spawn` returns is already handled rather than fatal.
        let hangups = options.sighup.then(register_sighup).flatten();
        let (file_events, fs_watcher) = if options.files {
            watch_files(&main_file, &tenants_dir)
        } else {
            (None, None)
        };
        let reloader = Reloader {
            main_file,
            tenants_dir,
            config_tx,
            reload_tx,
            attempts: 0,
            prepare,
        };
        let task = tokio::spawn(reloader.run(hangups, file_events, fs_watcher, options.debounce));
        Ok(Self {
            config: config_rx,
            reloads: reload_rx,
            task,
        })
    }
}

fn register_sighup() -> Option<Signal> {
    signal(SignalKind::hangup())
        .map_err(
            |error| tracing::warn!(%error, "cannot listen for SIGHUP; reload on SIGHUP is off"),
        )
        .ok()
}

type FileEvents = mpsc::UnboundedReceiver<()>;

/// Watches the directories (not the files: editors replace files by
/// renaming) and passes on events about the main file or a tenant file.
fn watch_files(
    main_file: &Path,
    tenants_dir: &Path,
) -> (Option<FileEvents>, Option<RecommendedWatcher>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let relevant_main = main_file.to_path_buf();
    let relevant_dir = tenants_dir.to_path_buf();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let is_read = matches!(event.kind, EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write));
        let concerns_us = event
            .paths
            .iter()
            .any(|path| path == &relevant_main || is_tenant_file(path, &relevant_dir));
        if concerns_us && !is_read {
            // The receiver is gone only when the reloader stopped.
            let _ = tx.send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "cannot watch configuration files; reload on SIGHUP only");
            return (None, None);
        }
    };
    let main_dir = main_file.parent().unwrap_or(Path::new("/"));
    let mut dirs = vec![main_dir];
    if tenants_dir != main_dir {
        dirs.push(tenants_dir);
    }
    for dir in dirs {
        if let Err(error) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(%error, dir = %dir.display(), "cannot watch directory; reload on SIGHUP only");
        }
    }
    (Some(rx), Some(watcher))
}

fn is_tenant_file(path: &Path, tenants_dir: &Path) -> bool {
    let visible = path
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| !name.starts_with('.'));
    path.parent() == Some(tenants_dir)
        && visible
        && path.extension().is_some_and(|ext| ext == "toml")
}

struct Reloader {
    main_file: PathBuf,
    tenants_dir: PathBuf,
    config_tx: watch::Sender<Arc<Config>>,
    reload_tx: watch::Sender<ReloadOutcome>,
    attempts: u64,
    prepare: Option<Prepare>,
}

impl Reloader {
    async fn run(
        mut self,
        mut hangups: Option<Signal>,
        mut file_events: Option<FileEvents>,
        fs_watcher: Option<RecommendedWatcher>,
        debounce: Duration,
    ) {
        // Dropping the watcher stops its events: keep it as long as the loop.
        let _fs_watcher = fs_watcher;
        loop {
            tokio::select! {
                () = self.config_tx.closed() => return,
                Some(()) = recv_signal(&mut hangups) => {
                    tracing::info!("SIGHUP: reloading the configuration");
                }
                Some(()) = recv_event(&mut file_events) => {
                    settle(&mut file_events, debounce).await;
                    tracing::info!("configuration files changed: reloading");
                }
            }
            self.reload().await;
        }
    }

    async fn reload(&mut self) {
        self.attempts += 1;
        let main_file = self.main_file.clone();
        let tenants_dir = self.tenants_dir.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            load(
                &main_file,
                &LoadOptions {
                    tenants_dir: Some(&tenants_dir),
                    lookup: &process_env,
                },
            )
        })
        .await;
        let result = match loaded {
            Ok(Ok(loaded)) => self.apply(loaded).await,
            Ok(Err(errors)) => {
                log_rejected(&errors.problems);
                Err(errors)
            }
            Err(join_error) => {
                tracing::warn!(%join_error, "configuration reload failed; keeping the current one");
                return;
            }
        };
        self.reload_tx.send_replace(ReloadOutcome {
            attempt: self.attempts,
            result,
        });
    }

    /// Takes the reloadable parts of `loaded`, keeps the rest of the current
    /// configuration, and publishes the result if anything changed, once
    /// [`Prepare`] has made it ready.
    async fn apply(&self, loaded: Config) -> Result<ReloadSummary, ConfigErrors> {
        let current = self.config_tx.borrow().clone();
        let summary = summarize(&current, &loaded);
        for key in &summary.restart_needed {
            tracing::warn!(key = %key, "changed in the configuration file; takes effect after a restart");
        }
        if summary.changed_anything() {
            // The tenant indexes depend on the tenants only, so they stay valid.
            let merged = Arc::new(Config {
                path: current.path.clone(),
                node: current.node.clone(),
                storage: current.storage.clone(),
                keys: current.keys.clone(),
                ..loaded
            });
            if let Some(prepare) = self.prepare.clone() {
                let config = merged.clone();
                let prepared = tokio::task::spawn_blocking(move || prepare(&config))
                    .await
                    .unwrap_or_else(|join_error| {
                        Err(ConfigErrors {
                            problems: vec![ConfigProblem {
                                file: current.path.clone(),
                                key: String::new(),
                                reason: format!(
                                    "preparing the new configuration failed: {join_error}"
                                ),
                            }],
                        })
                    });
                if let Err(errors) = prepared {
                    log_rejected(&errors.problems);
                    return Err(errors);
                }
            }
            tracing::info!(
                added = ?summary.tenants_added,
                removed = ?summary.tenants_removed,
                changed = ?summary.tenants_changed,
                settings = ?summary.settings_changed,
                "configuration reloaded"
            );
            self.config_tx.send_replace(merged);
        } else {
            tracing::info!("configuration reloaded: no change");
        }
        Ok(summary)
    }
}

async fn recv_signal(hangups: &mut Option<Signal>) -> Option<()> {
    match hangups {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_event(events: &mut Option<FileEvents>) -> Option<()> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits until no file event came for `debounce`.
async fn settle(events: &mut Option<FileEvents>, debounce: Duration) {
    let Some(events) = events else { return };
    while let Ok(Some(())) = tokio::time::timeout(debounce, events.recv()).await {}
}

fn log_rejected(problems: &[ConfigProblem]) {
    for problem in problems {
        tracing::warn!(
            file = %problem.file.display(),
            key = %problem.key,
            reason = %problem.reason,
            "configuration reload rejected; keeping the current configuration"
        );
    }
}
