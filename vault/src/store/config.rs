//! Where objects go: a local directory (the default) or an S3-compatible
//! store. A plain struct the binary fills from its own configuration file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::local::LocalFileSystem;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use zeroize::Zeroizing;

use crate::store::error::StoreError;

#[derive(Clone, Debug)]
pub enum StoreConfig {
    /// Objects are files under `path` (created if missing).
    Local {
        path: PathBuf,
    },
    S3(S3Config),
}

/// An S3-compatible store (Garage, MinIO, Ceph RGW, a cloud provider).
#[derive(Clone, Debug)]
pub struct S3Config {
    /// `https://host:port`; `http://` only with `allow_http`.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// `endpoint/bucket/key` rather than `bucket.endpoint/key`; most
    /// self-hosted stores want this.
    pub path_style: bool,
    pub allow_http: bool,
    pub credentials: S3Credentials,
    /// Send `If-None-Match: *` on new small objects. Off for stores that
    /// ignore it (Garage) so nobody relies on a check that does not happen.
    pub conditional_create: bool,
    /// Retries of one request inside the client; the spool's own backoff
    /// comes on top, so keep this small.
    pub request_retries: usize,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl S3Config {
    pub fn new(endpoint: &str, region: &str, bucket: &str, credentials: S3Credentials) -> Self {
        S3Config {
            endpoint: endpoint.to_owned(),
            region: region.to_owned(),
            bucket: bucket.to_owned(),
            path_style: true,
            allow_http: false,
            credentials,
            conditional_create: true,
            request_retries: 2,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Where the S3 access key comes from.
#[derive(Clone)]
pub enum S3Credentials {
    Static {
        access_key_id: String,
        secret_access_key: Zeroizing<String>,
    },
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    Environment,
    /// A file in the AWS shared-credentials shape: `aws_access_key_id = …`
    /// and `aws_secret_access_key = …` lines (the first of each is used;
    /// `[section]` lines and `#` comments are ignored).
    File(PathBuf),
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            S3Credentials::Static { access_key_id, .. } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
            S3Credentials::Environment => f.write_str("Environment"),
            S3Credentials::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl S3Credentials {
    pub fn new(access_key_id: &str, secret_access_key: &str) -> Self {
        S3Credentials::Static {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: Zeroizing::new(secret_access_key.to_owned()),
        }
    }

    fn resolve(&self) -> Result<(String, Zeroizing<String>), StoreError> {
        match self {
            S3Credentials::Static {
                access_key_id,
                secret_access_key,
            } => Ok((access_key_id.clone(), secret_access_key.clone())),
            S3Credentials::Environment => {
                let id = std::env::var("AWS_ACCESS_KEY_ID");
                let secret = std::env::var("AWS_SECRET_ACCESS_KEY");
                match (id, secret) {
                    (Ok(id), Ok(secret)) => Ok((id, Zeroizing::new(secret))),
                    _ => Err(StoreError::Config(
                        "S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set".into(),
                    )),
                }
            }
            S3Credentials::File(path) => read_credentials_file(path),
        }
    }
}

fn read_credentials_file(path: &Path) -> Result<(String, Zeroizing<String>), StoreError> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            StoreError::Config(format!("S3 credentials file {}: {e}", path.display()))
        })?);
    let mut id = None;
    let mut secret = None;
    for line in text.lines().map(str::trim) {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match name.trim() {
            "aws_access_key_id" if id.is_none() => id = Some(value.to_owned()),
            "aws_secret_access_key" if secret.is_none() => {
                secret = Some(Zeroizing::new(value.to_owned()))
            }
            _ => {}
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok((id, secret)),
        _ => Err(StoreError::Config(format!(
            "S3 credentials file {} needs aws_access_key_id and aws_secret_access_key",
            path.display()
        ))),
    }
}

/// What the rest of the crate needs to know about the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Local,
    S3 { conditional_create: bool },
}

pub(crate) fn build(config: &StoreConfig) -> Result<(Arc<dyn ObjectStore>, Backend), StoreError> {
    match config {
        StoreConfig::Local { path } => {
            std::fs::create_dir_all(path).map_err(|e| StoreError::spool("create", path, e))?;
            let store = LocalFileSystem::new_with_prefix(path)
                .map(|fs| fs.with_automatic_cleanup(true))
                .map_err(|e| StoreError::Config(format!("local store {}: {e}", path.display())))?;
            Ok((Arc::new(store), Backend::Local))
        }
        StoreConfig::S3(s3) => {
            if s3.endpoint.starts_with("http://") && !s3.allow_http {
                return Err(StoreError::Config(
                    "S3 endpoint uses plain HTTP but allow_http is not set".into(),
                ));
            }
            let (access_key_id, secret) = s3.credentials.resolve()?;
            let retry = RetryConfig {
                max_retries: s3.request_retries,
                retry_timeout: s3.request_timeout,
                ..RetryConfig::default()
            };
            let client = ClientOptions::new()
                .with_allow_http(s3.allow_http)
                .with_timeout(s3.request_timeout)
                .with_connect_timeout(s3.connect_timeout);
            let conditional = if s3.conditional_create {
                S3ConditionalPut::ETagMatch
            } else {
                S3ConditionalPut::Disabled
            };
            let store = AmazonS3Builder::new()
                .with_endpoint(&s3.endpoint)
                .with_region(&s3.region)
                .with_bucket_name(&s3.bucket)
                .with_virtual_hosted_style_request(!s3.path_style)
                .with_allow_http(s3.allow_http)
                .with_access_key_id(access_key_id)
                .with_secret_access_key(secret.as_str())
                .with_conditional_put(conditional)
                .with_retry(retry)
                .with_client_options(client)
                .build()
                .map_err(|e| StoreError::Config(format!("S3 store: {e}")))?;
            Ok((
                Arc::new(store),
                Backend::S3 {
                    conditional_create: s3.conditional_create,
                },
            ))
        }
    }
}
