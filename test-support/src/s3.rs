//! s3s-fs serving a temporary directory on 127.0.0.1 with one access key;
//! requests are checked against their SigV4 signatures. It can be stopped
//! and started again on the same port, to play an outage.

use std::net::SocketAddr;

use greffier_vault::store::{S3Config, S3Credentials};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub const ACCESS_KEY: &str = "GKtestaccesskey";
pub const SECRET_KEY: &str = "test-secret-key-for-greffier";
pub const BUCKET: &str = "recordings";

pub struct S3Server {
    root: TempDir,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl S3Server {
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut server = S3Server {
            root,
            addr,
            task: None,
        };
        server.serve(listener);
        server
    }

    /// Stops accepting and drops every open connection; returns once the
    /// port is free.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> S3Config {
        self.config_with(S3Credentials::new(ACCESS_KEY, SECRET_KEY))
    }

    pub fn config_with(&self, credentials: S3Credentials) -> S3Config {
        let mut config = S3Config::new(&self.endpoint(), "garage", BUCKET, credentials);
        config.allow_http = true;
        config.request_retries = 0;
        config
    }

    /// Object keys as files in the bucket directory.
    pub fn stored_keys(&self) -> Vec<String> {
        let bucket = self.root.path().join(BUCKET);
        let mut keys = Vec::new();
        collect_files(&bucket, &bucket, &mut keys);
        keys.retain(|key| !key.starts_with(".s3s") && !key.contains(".upload"));
        keys.sort();
        keys
    }

    fn serve(&mut self, listener: TcpListener) {
        let fs = s3s_fs::FileSystem::new(self.root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        self.task = Some(tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            // Dropped with this task, which ends every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((socket, _)) = accepted else { continue };
                        let conn = http
                            .serve_connection(TokioIo::new(socket), service.clone())
                            .into_owned();
                        connections.spawn(async move {
                            let _ = conn.await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        }));
    }
}

fn collect_files(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(base, &path, out);
        } else {
            let key = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push(key);
        }
    }
}
