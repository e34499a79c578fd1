//! greffier-types: the vocabulary every crate of the gateway shares, so that
//! one concept has one type and one rule.
//!
//! - [`TenantId`]: the one tenant id rule (a lowercase slug), used by the
//!   configuration, the vault's headers and storage keys alike;
//! - [`E164`]: the one telephone number rule, its one normalisation of what a
//!   SIP user part or a file gives, and the one mask ([`mask_number`]);
//! - [`RecordId`]: the UUIDv7 that names a recorded call everywhere;
//! - [`Leg`] and [`PerLeg`]: the caller and callee sides of a call;
//! - [`Personal`]: a value that is personal data (a number, a URI, a Call-ID),
//!   whose `Debug` and `Display` never show it in clear.

mod leg;
mod mask;
mod number;
mod personal;
mod record;
mod tenant;

pub use leg::{Leg, PerLeg};
pub use mask::{mask_number, mask_numbers_in_text};
pub use number::{NumberError, E164, MAX_DIGITS, MIN_DIGITS};
pub use personal::{Personal, Redact};
pub use record::{InvalidRecordId, RecordId};
pub use tenant::{check_slug, InvalidSlug, TenantId, MAX_SLUG_LEN};
