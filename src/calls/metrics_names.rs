//! Metric names of the call side (Prometheus). Labels never carry personal data.

/// Recording orders passed on, by `order` (pause, resume) and `source` (sip, admin).
pub const RECORDING_CONTROL: &str = "greffier_recording_control_total";
/// Recording orders in a header from a leg that may not give them (the carrier's).
pub const RECORDING_CONTROL_REFUSED: &str = "greffier_recording_control_refused_total";
/// How long an RTP copy waited between its arrival and the recorder.
pub const RECORDER_LAG: &str = "greffier_recorder_lag_seconds";
/// Recordings with packets the recorder could not decode, by `codec` (a
/// registered encoding name, or `other`); their payloads are kept aside.
pub const RECORDING_UNDECODABLE: &str = "greffier_recording_undecodable_total";
/// Calls whose media could not be anchored, by `reason` (unusable_sdp,
/// no_media_ports) and `outcome` (rejected, passed_unrecorded).
pub const ANCHOR_FAILURES: &str = "greffier_anchor_failures_total";
