//! The S3 server of the vault's storage tests (s3s-fs on 127.0.0.1, SigV4
//! checks on, stoppable and restartable on the same port and directory),
//! shared rather than copied, and the gateway's `[storage]` section for it.

#[path = "../../vault/tests/support/s3.rs"]
mod server;

pub use server::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};

use super::config::S3StorageSpec;

/// `[storage] kind = "s3"` pointing at `server` with its access key.
pub fn storage_spec(server: &S3Server) -> S3StorageSpec {
    S3StorageSpec {
        endpoint: server.endpoint(),
        region: "garage".to_string(),
        bucket: BUCKET.to_string(),
        access_key: ACCESS_KEY.to_string(),
        secret_key: SECRET_KEY.to_string(),
    }
}
