//! Phone numbers as they may appear: inside encrypted payloads only, and
//! masked whenever printed. The one [`E164`] of `greffier-types`.

pub use greffier_types::E164;
