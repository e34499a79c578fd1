//! Tenant identifiers as they appear in object headers and storage paths: the
//! one [`TenantId`] of `greffier-types`, re-exported so `greffier_vault::TenantId`
//! paths keep working.

pub use greffier_types::{InvalidSlug, TenantId};

/// Longest tenant id a header holds: it is stored with a one-byte length and
/// used as a path component. The slug rule keeps every id under it.
pub const MAX_TENANT_ID_LEN: usize = 64;

const _: () = assert!(greffier_types::MAX_SLUG_LEN <= MAX_TENANT_ID_LEN);
