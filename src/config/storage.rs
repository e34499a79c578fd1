//! `[storage]`: where encrypted objects go, and the local spool.

use std::path::PathBuf;

use serde::Deserialize;

use super::net::HttpEndpoint;
use super::paths::PathContext;
use super::problems::{Origin, Problems};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StorageKind {
    Local,
    S3,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    kind: StorageKind,
    path: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    bucket: Option<String>,
    path_style: Option<bool>,
    allow_http: Option<bool>,
    credentials_file: Option<String>,
    conditional_create: Option<bool>,
    spool_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    /// Unfinished encrypted streams wait here until they are completed.
    pub spool_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBackend {
    /// A directory on this machine.
    Local { path: PathBuf },
    /// Any S3-compatible store (Garage, MinIO, Ceph RGW, a cloud provider).
    S3(S3Config),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub endpoint: HttpEndpoint,
    pub region: String,
    pub bucket: String,
    /// `https://host/bucket/key` rather than `https://bucket.host/key`.
    pub path_style: bool,
    pub credentials: S3Credentials,
    /// Create objects with `If-None-Match: *`, so two nodes never overwrite
    /// each other; turn off only for stores that reject the header.
    pub conditional_create: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Credentials {
    /// A file holding the access key id and secret.
    File(PathBuf),
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` of the process.
    Environment,
}

pub(crate) fn validate_storage(
    raw: RawStorage,
    origin: Origin<'_>,
    paths: &PathContext<'_>,
    problems: &mut Problems,
) -> Option<StorageConfig> {
    let before = problems.len();
    let file = origin.file;
    let spool_dir = paths
        .resolve(&raw.spool_dir)
        .map_err(|reason| problems.push(file, origin.key("spool_dir"), reason))
        .ok();
    let backend = match raw.kind {
        StorageKind::Local => validate_local(&raw, origin, paths, problems),
        StorageKind::S3 => validate_s3(&raw, origin, paths, problems),
    };
    if problems.len() != before {
        return None;
    }
    Some(StorageConfig {
        backend: backend?,
        spool_dir: spool_dir?,
    })
}

fn validate_local(
    raw: &RawStorage,
    origin: Origin<'_>,
    paths: &PathContext<'_>,
    problems: &mut Problems,
) -> Option<StorageBackend> {
    let s3_only = [
        ("endpoint", raw.endpoint.is_some()),
        ("region", raw.region.is_some()),
        ("bucket", raw.bucket.is_some()),
        ("path_style", raw.path_style.is_some()),
        ("allow_http", raw.allow_http.is_some()),
        ("credentials_file", raw.credentials_file.is_some()),
        ("conditional_create", raw.conditional_create.is_some()),
    ];
    for (field, present) in s3_only {
        if present {
            problems.push(
                origin.file,
                origin.key(field),
                "only applies to kind = \"s3\"",
            );
        }
    }
    let Some(path) = &raw.path else {
        problems.push(
            origin.file,
            origin.key("path"),
            "required when kind = \"local\"",
        );
        return None;
    };
    let path = paths
        .resolve(path)
        .map_err(|reason| problems.push(origin.file, origin.key("path"), reason))
        .ok()?;
    Some(StorageBackend::Local { path })
}

fn validate_s3(
    raw: &RawStorage,
    origin: Origin<'_>,
    paths: &PathContext<'_>,
    problems: &mut Problems,
) -> Option<StorageBackend> {
    let file = origin.file;
    if raw.path.is_some() {
        problems.push(file, origin.key("path"), "only applies to kind = \"local\"");
    }
    let mut required = |field: &str, value: &Option<String>| {
        if value.is_none() {
            problems.push(file, origin.key(field), "required when kind = \"s3\"");
        }
        value.clone()
    };
    let (endpoint, region, bucket) = (
        required("endpoint", &raw.endpoint),
        required("region", &raw.region),
        required("bucket", &raw.bucket),
    );
    let allow_http = raw.allow_http.unwrap_or(false);
    let endpoint = endpoint.and_then(|text| match HttpEndpoint::parse(&text) {
        Ok(endpoint) if !endpoint.secure && !allow_http => {
            problems.push(
                file,
                origin.key("endpoint"),
                "plain http is refused unless allow_http = true",
            );
            None
        }
        Ok(endpoint) => Some(endpoint),
        Err(reason) => {
            problems.push(file, origin.key("endpoint"), reason);
            None
        }
    });
    let region = region.filter(|region| {
        let ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            problems.push(
                file,
                origin.key("region"),
                "must be letters, digits, `-` or `_`",
            );
        }
        ok
    });
    let bucket = bucket.filter(|bucket| match check_bucket_name(bucket) {
        Ok(()) => true,
        Err(reason) => {
            problems.push(file, origin.key("bucket"), reason);
            false
        }
    });
    let credentials = match &raw.credentials_file {
        None => Some(S3Credentials::Environment),
        Some(text) => paths
            .resolve(text)
            .map(S3Credentials::File)
            .map_err(|reason| problems.push(file, origin.key("credentials_file"), reason))
            .ok(),
    };
    Some(StorageBackend::S3(S3Config {
        endpoint: endpoint?,
        region: region?,
        bucket: bucket?,
        path_style: raw.path_style.unwrap_or(false),
        credentials: credentials?,
        conditional_create: raw.conditional_create.unwrap_or(true),
    }))
}

/// The S3 naming rules: 3–63 characters, lowercase letters, digits, `-` and
/// `.`, starting and ending with a letter or digit.
fn check_bucket_name(bucket: &str) -> Result<(), String> {
    let bytes = bucket.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.')
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && !bucket.contains("..");
    if ok {
        Ok(())
    } else {
        Err("must be 3 to 63 lowercase letters, digits, `-` or `.`, starting and ending with a letter or digit".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(check_bucket_name("greffier-recordings").is_ok());
        assert!(check_bucket_name("a.b.c").is_ok());
        for bad in [
            "ab",
            "Greffier",
            "-abc",
            "abc-",
            "a..b",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
