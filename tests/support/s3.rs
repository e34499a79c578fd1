//! The gateway's `[storage]` section for the S3 server of the test support
//! (s3s-fs on 127.0.0.1, SigV4 checks on, stoppable and restartable on the
//! same port and directory).

pub(crate) use greffier_test_support::s3::S3Server;
use greffier_test_support::s3::{ACCESS_KEY, BUCKET, SECRET_KEY};

use super::config::S3StorageSpec;

/// `[storage] kind = "s3"` pointing at `server` with its access key.
pub(crate) fn storage_spec(server: &S3Server) -> S3StorageSpec {
    S3StorageSpec {
        endpoint: server.endpoint(),
        region: "garage".to_string(),
        bucket: BUCKET.to_string(),
        access_key: ACCESS_KEY.to_string(),
        secret_key: SECRET_KEY.to_string(),
    }
}
