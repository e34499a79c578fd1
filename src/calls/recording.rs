//! One call's recording: RTP copies from the relay go through the sans-IO recorder,
//! and its output is encrypted into the vault as it comes. No plaintext audio
//! touches the disk.

use std::time::Instant;

use greffier_media::relay::RecorderCopy;
use greffier_media::{Recorder, RecordingSummary};
use greffier_vault::catalog::{CallEnd, DtmfEvent, PauseInterval};
use greffier_vault::recording::{FinishOutcome, RecordingWriter};
use tokio::sync::mpsc;

/// Runs until the relay drops its end of `copies` (the call ended), then closes the
/// recording with its summary.
pub async fn record(
    mut copies: mpsc::Receiver<RecorderCopy>,
    mut recorder: Recorder,
    mut writer: RecordingWriter,
    sip_status: u16,
) {
    loop {
        let wake = recorder.poll_timeout();
        tokio::select! {
            copy = copies.recv() => match copy {
                Some(copy) => {
                    if let Err(error) = recorder.handle_rtp(copy.arrival, copy.leg, &copy.datagram) {
                        tracing::debug!(%error, "packet not recorded");
                    }
                }
                None => break,
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
    let end = call_end(&summary, sip_status);
    match writer.finish(end).await {
        Ok(FinishOutcome::Stored) => tracing::info!("recording stored"),
        Ok(FinishOutcome::Pending(error)) => {
            tracing::warn!(%error, "recording kept in the spool until the store answers")
        }
        Err(error) => tracing::error!(%error, "recording could not be closed"),
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

fn call_end(summary: &RecordingSummary, sip_status: u16) -> CallEnd {
    CallEnd {
        end: Some(chrono::Utc::now()),
        dtmf: summary
            .dtmf
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
        sip_status: Some(sip_status),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
