//! One call's recording: RTP copies from the relay go through the sans-IO recorder,
//! and its output is encrypted into the vault as it comes. No plaintext audio
//! touches the disk.
//!
//! A recorder that falls behind never holds the call up: the relay drops copies it
//! cannot queue (and counts them), and this task measures how late each copy is
//! when it gets to it.

use std::time::{Duration, Instant};

use greffier_media::codec::codec_label;
use greffier_media::relay::RecorderCopy;
use greffier_media::{Recorder, RecordingSummary};
use greffier_vault::audit::{AuditLog, AuditRecord, Outcome};
use greffier_vault::catalog::{CallEnd, DtmfEvent, PauseInterval};
use greffier_vault::recording::{FinishOutcome, RecordingWriter};
use tokio::sync::mpsc;

use super::directory::{RecordingControl, RecordingOrder};
use super::metrics_names;

/// A copy this late is worth a warning.
const LAG_WARNING: Duration = Duration::from_secs(1);
/// At most one lag warning per call this often.
const LAG_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// What goes into the call record besides the audio.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordOptions {
    pub sip_status: u16,
    /// The tenant masks DTMF: the digits are not kept either, only that the
    /// audio was masked.
    pub mask_dtmf: bool,
}

/// Runs until the relay drops its end of `copies` (the call ended), then closes the
/// recording with its summary. Pause and resume orders come on `control`.
pub(crate) async fn record(
    mut copies: mpsc::Receiver<RecorderCopy>,
    control: mpsc::UnboundedReceiver<RecordingControl>,
    mut recorder: Recorder,
    mut writer: RecordingWriter,
    options: RecordOptions,
    audit: std::sync::Arc<AuditLog>,
) {
    let mut control = Some(control);
    let mut lag = LagWatch::default();
    loop {
        let wake = recorder.poll_timeout();
        tokio::select! {
            copy = copies.recv() => match copy {
                Some(copy) => {
                    lag.observe(Instant::now(), copy.arrival);
                    if let Err(error) = recorder.handle_rtp(copy.arrival, copy.leg, &copy.datagram) {
                        tracing::debug!(%error, "packet not recorded");
                    }
                }
                None => break,
            },
            order = next_order(&mut control) => match order {
                Some(RecordingControl { order: RecordingOrder::Pause, at }) => recorder.pause(at),
                Some(RecordingControl { order: RecordingOrder::Resume, at }) => recorder.resume(at),
                // The call left the directory: no more orders, the recording goes on.
                None => control = None,
            },
            _ = sleep_until(wake) => {
                if let Err(error) = recorder.handle_timeout(Instant::now()) {
                    tracing::warn!(%error, "recorder timer failed");
                }
            }
        }
        if !flush(&mut recorder, &mut writer).await {
            return;
        }
    }
    let summary = match recorder.finish(Instant::now()) {
        Ok(summary) => summary,
        Err(error) => {
            tracing::error!(%error, "recording could not be finished");
            return;
        }
    };
    if !flush(&mut recorder, &mut writer).await {
        return;
    }
    keep_undecodable(recorder.raw_payloads(), &summary, &mut writer).await;
    let end = call_end(&summary, options);
    let (tenant, id) = (writer.call().tenant.clone(), writer.call().record_id);
    let outcome = match writer.finish(end).await {
        Ok(FinishOutcome::Stored) => {
            tracing::info!("recording stored");
            Outcome::Ok
        }
        Ok(FinishOutcome::Pending(error)) => {
            tracing::warn!(%error, "recording kept in the spool until the store answers");
            Outcome::Ok
        }
        Err(error) => {
            tracing::error!(%error, "recording could not be closed");
            Outcome::Failed
        }
    };
    let entry = AuditRecord::recorded(tenant, id, outcome);
    if let Err(error) = audit.append(&entry, chrono::Utc::now()).await {
        tracing::error!(%error, "the audit entry of a recording could not be written");
    }
}

/// Encrypts and writes what the recorder produced; `false` when the vault refused.
async fn flush(recorder: &mut Recorder, writer: &mut RecordingWriter) -> bool {
    while let Some(bytes) = recorder.poll_output() {
        if let Err(error) = writer.write(&bytes, Instant::now()).await {
            tracing::error!(%error, "recording write failed; the spool keeps what was written");
            return false;
        }
    }
    true
}

/// Packets the recorder had no decoder for are silence in the audio: their
/// payloads go into the vault beside it, and the metrics and log say so.
async fn keep_undecodable(
    raw: Option<Vec<u8>>,
    summary: &RecordingSummary,
    writer: &mut RecordingWriter,
) {
    let Some(raw) = raw else {
        return;
    };
    for encoding in &summary.undecodable {
        let codec = codec_label(encoding);
        metrics::counter!(metrics_names::RECORDING_UNDECODABLE, "codec" => codec).increment(1);
        tracing::warn!(
            codec,
            "packets the recorder cannot decode: silence in the recording, payloads kept beside it"
        );
    }
    if summary.raw_dropped > 0 {
        tracing::warn!(
            dropped = summary.raw_dropped,
            "undecodable packets past the size bound were not kept"
        );
    }
    if let Err(error) = writer.keep_raw_payloads(&raw).await {
        tracing::error!(%error, "undecodable payloads could not be spooled");
    }
}

fn call_end(summary: &RecordingSummary, options: RecordOptions) -> CallEnd {
    let digits = if options.mask_dtmf {
        &[][..]
    } else {
        &summary.dtmf[..]
    };
    CallEnd {
        end: Some(chrono::Utc::now()),
        dtmf: digits
            .iter()
            .map(|event| DtmfEvent {
                offset_ms: event.start_ms,
                duration_ms: u32::try_from(event.duration_ms).unwrap_or(u32::MAX),
                digit: event.digit,
            })
            .collect(),
        pauses: summary
            .pauses
            .iter()
            .map(|pause| PauseInterval {
                from_ms: pause.start_ms,
                to_ms: pause.end_ms,
            })
            .collect(),
        sip_status: Some(options.sip_status),
        undecodable: summary.undecodable.clone(),
    }
}

/// The next order, or never once the orders' channel is closed.
async fn next_order(
    control: &mut Option<mpsc::UnboundedReceiver<RecordingControl>>,
) -> Option<RecordingControl> {
    match control {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// How late copies reach the recorder: a histogram, and a warning now and then.
#[derive(Default)]
struct LagWatch {
    last_warning: Option<Instant>,
}

impl LagWatch {
    /// Records the lag of a copy that arrived at `arrival`, taken by the recorder
    /// at `now`; returns whether it was worth a warning now.
    fn observe(&mut self, now: Instant, arrival: Instant) -> bool {
        let lag = now.saturating_duration_since(arrival);
        metrics::histogram!(metrics_names::RECORDER_LAG).record(lag.as_secs_f64());
        if lag < LAG_WARNING {
            return false;
        }
        let due = self
            .last_warning
            .is_none_or(|last| now.saturating_duration_since(last) >= LAG_WARN_INTERVAL);
        if due {
            self.last_warning = Some(now);
            tracing::warn!(
                lag_ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX),
                "the recorder is falling behind; the relay drops what it cannot queue"
            );
        }
        due
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_recorder_warns_at_most_once_per_interval() {
        let mut watch = LagWatch::default();
        let start = Instant::now();
        let late = Duration::from_millis(1500);
        assert!(!watch.observe(start + Duration::from_millis(300), start));
        assert!(watch.observe(start + late, start));
        assert!(!watch.observe(start + late + Duration::from_secs(1), start));
        assert!(watch.observe(start + late + LAG_WARN_INTERVAL, start));
    }

    fn summary_with_a_digit_and_a_pause() -> RecordingSummary {
        RecordingSummary {
            duration: Duration::from_secs(10),
            sample_rate: 8000,
            codecs: Vec::new(),
            dtmf: vec![greffier_media::DtmfEvent {
                digit: '4',
                start_ms: 1200,
                duration_ms: 80,
            }],
            pauses: vec![greffier_media::recorder::PauseSpan {
                start_ms: 2000,
                end_ms: 4000,
            }],
            packets: 500,
            lost: 0,
            undecodable: vec!["AMR/8000".into()],
            raw_dropped: 0,
        }
    }

    #[test]
    fn pauses_and_digits_reach_the_call_record() {
        let end = call_end(
            &summary_with_a_digit_and_a_pause(),
            RecordOptions {
                sip_status: 200,
                mask_dtmf: false,
            },
        );
        assert_eq!(
            end.pauses,
            vec![PauseInterval {
                from_ms: 2000,
                to_ms: 4000
            }]
        );
        assert_eq!(
            end.dtmf,
            vec![DtmfEvent {
                offset_ms: 1200,
                duration_ms: 80,
                digit: '4'
            }]
        );
        assert_eq!(end.sip_status, Some(200));
        assert_eq!(end.undecodable, vec!["AMR/8000".to_string()]);
    }

    #[test]
    fn masked_digits_are_not_kept() {
        let end = call_end(
            &summary_with_a_digit_and_a_pause(),
            RecordOptions {
                sip_status: 200,
                mask_dtmf: true,
            },
        );
        assert!(end.dtmf.is_empty());
        assert_eq!(end.pauses.len(), 1, "pauses are kept");
    }

    #[test]
    fn a_copy_from_the_future_counts_as_no_lag() {
        let mut watch = LagWatch::default();
        let now = Instant::now();
        assert!(!watch.observe(now, now + Duration::from_secs(5)));
    }
}
