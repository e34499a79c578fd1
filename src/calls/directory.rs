//! The calls in progress as the admin API sees them, and the way to the recording
//! task of each. Shared between the proxy task (which adds and removes calls) and
//! the admin handlers (which list them and pause their recordings); the lock is
//! only ever held for map look-ups and non-blocking channel sends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use greffier_sip::proxy::{DialogId, Direction};
use greffier_types::TenantId;
use greffier_vault::store::RecordId;
use serde::Serialize;
use tokio::sync::mpsc;

use super::metrics_names;

/// What a call's recording is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingOrder {
    Pause,
    Resume,
}

impl RecordingOrder {
    pub fn label(self) -> &'static str {
        match self {
            RecordingOrder::Pause => "pause",
            RecordingOrder::Resume => "resume",
        }
    }
}

/// An order and when it was given: the recording is paused from that instant on,
/// however long the order waits in the queue of a recorder that lags behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingControl {
    pub order: RecordingOrder,
    pub at: Instant,
}

/// Who gave a recording order, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSource {
    /// A header in an INFO or re-INVITE from the tenant's PBX.
    Sip,
    Admin,
}

impl OrderSource {
    fn label(self) -> &'static str {
        match self {
            OrderSource::Sip => "sip",
            OrderSource::Admin => "admin",
        }
    }
}

/// One call in progress, as listed by the admin API: no numbers, no addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    /// The proxy's dialog number.
    pub id: u64,
    /// The call's identity in the admin API: random, so unguessable.
    pub call_id: uuid::Uuid,
    /// The parties' numbers (E.164), for the `user` role's filter; never listed.
    #[serde(skip)]
    pub parties: Vec<String>,
    pub tenant: TenantId,
    pub direction: &'static str,
    pub start: DateTime<Utc>,
    pub recorded: bool,
    pub paused: bool,
}

impl CallSummary {
    pub fn new(dialog: DialogId, tenant: &TenantId, direction: Direction, recorded: bool) -> Self {
        CallSummary {
            id: dialog.0,
            call_id: uuid::Uuid::new_v4(),
            parties: Vec::new(),
            tenant: tenant.clone(),
            direction: match direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            },
            start: Utc::now(),
            recorded,
            paused: false,
        }
    }

    /// The parties' numbers, as far as they are known.
    pub fn with_parties(mut self, parties: impl IntoIterator<Item = String>) -> Self {
        self.parties = parties.into_iter().collect();
        self
    }
}

/// Why a recording order was not passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no call in progress has this id")]
    UnknownCall,
    #[error("the call is not recorded")]
    NotRecorded,
}

struct Entry {
    summary: CallSummary,
    /// The record its recording and call record are stored under.
    record: Option<RecordId>,
    /// The recording task's orders; `None` for a call that is not recorded.
    control: Option<mpsc::UnboundedSender<RecordingControl>>,
}

/// The calls of this node, by dialog number.
#[derive(Clone, Default)]
pub struct CallDirectory {
    calls: Arc<Mutex<HashMap<u64, Entry>>>,
}

impl CallDirectory {
    fn locked(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        // A panic elsewhere while holding the lock leaves a map that is still whole.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a call, stored as `record`; `control` reaches its recording,
    /// when it is recorded.
    pub fn insert(
        &self,
        summary: CallSummary,
        record: Option<RecordId>,
        control: Option<mpsc::UnboundedSender<RecordingControl>>,
    ) {
        let summary = CallSummary {
            recorded: control.is_some(),
            ..summary
        };
        self.locked().insert(
            summary.id,
            Entry {
                summary,
                record,
                control,
            },
        );
    }

    /// The record a call in progress is stored under.
    pub fn record_of(&self, id: u64) -> Option<RecordId> {
        self.locked().get(&id).and_then(|entry| entry.record)
    }

    /// The call ended. Its recording task keeps running until its last copies are
    /// in; it only stops hearing orders.
    pub fn remove(&self, dialog: DialogId) {
        self.locked().remove(&dialog.0);
    }

    /// Every call in progress, oldest first.
    pub fn list(&self) -> Vec<CallSummary> {
        let mut calls: Vec<CallSummary> = self
            .locked()
            .values()
            .map(|entry| entry.summary.clone())
            .collect();
        calls.sort_by_key(|call| call.id);
        calls
    }

    /// The dialog number of the call the admin API knows as `call_id`.
    pub fn find(&self, call_id: uuid::Uuid) -> Option<CallSummary> {
        self.locked()
            .values()
            .find(|entry| entry.summary.call_id == call_id)
            .map(|entry| entry.summary.clone())
    }

    pub fn get(&self, id: u64) -> Option<CallSummary> {
        self.locked().get(&id).map(|entry| entry.summary.clone())
    }

    /// Passes an order to the recording of call `id`.
    pub fn control(
        &self,
        id: u64,
        order: RecordingOrder,
        source: OrderSource,
    ) -> Result<(), ControlError> {
        let control = RecordingControl {
            order,
            at: Instant::now(),
        };
        let mut calls = self.locked();
        let entry = calls.get_mut(&id).ok_or(ControlError::UnknownCall)?;
        let sender = entry.control.as_ref().ok_or(ControlError::NotRecorded)?;
        if sender.send(control).is_err() {
            // The recording task is gone (the vault refused it): nothing to pause.
            entry.control = None;
            entry.summary.recorded = false;
            return Err(ControlError::NotRecorded);
        }
        entry.summary.paused = order == RecordingOrder::Pause;
        metrics::counter!(
            metrics_names::RECORDING_CONTROL,
            "order" => order.label(),
            "source" => source.label()
        )
        .increment(1);
        tracing::info!(
            call = id,
            order = order.label(),
            source = source.label(),
            "recording order"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: u64) -> CallSummary {
        let tenant = TenantId::new("acme").expect("a tenant id");
        CallSummary::new(DialogId(id), &tenant, Direction::Outbound, true)
    }

    #[test]
    fn orders_reach_the_recording_and_the_listing_shows_the_pause() {
        let directory = CallDirectory::default();
        let (sender, mut orders) = mpsc::unbounded_channel();
        directory.insert(summary(7), Some(RecordId::generate()), Some(sender));
        directory.insert(summary(3), None, None);

        directory
            .control(7, RecordingOrder::Pause, OrderSource::Admin)
            .unwrap();
        let listed = directory.list();
        assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), [3, 7]);
        assert!(listed[1].recorded && listed[1].paused);
        assert!(
            !listed[0].recorded,
            "a call without a recording is not recorded"
        );
        assert_eq!(orders.try_recv().unwrap().order, RecordingOrder::Pause);

        directory
            .control(7, RecordingOrder::Resume, OrderSource::Sip)
            .unwrap();
        assert!(!directory.get(7).unwrap().paused);
        assert_eq!(orders.try_recv().unwrap().order, RecordingOrder::Resume);
    }

    #[test]
    fn unknown_and_unrecorded_calls_are_told_apart() {
        let directory = CallDirectory::default();
        directory.insert(summary(3), None, None);
        assert_eq!(
            directory.control(4, RecordingOrder::Pause, OrderSource::Admin),
            Err(ControlError::UnknownCall)
        );
        assert_eq!(
            directory.control(3, RecordingOrder::Pause, OrderSource::Admin),
            Err(ControlError::NotRecorded)
        );
        directory.remove(DialogId(3));
        assert_eq!(
            directory.control(3, RecordingOrder::Pause, OrderSource::Admin),
            Err(ControlError::UnknownCall)
        );
    }

    #[test]
    fn a_recording_that_stopped_is_no_longer_recorded() {
        let directory = CallDirectory::default();
        let (sender, orders) = mpsc::unbounded_channel();
        directory.insert(summary(5), None, Some(sender));
        drop(orders);
        assert_eq!(
            directory.control(5, RecordingOrder::Pause, OrderSource::Admin),
            Err(ControlError::NotRecorded)
        );
        let call = directory.get(5).unwrap();
        assert!(!call.recorded && !call.paused);
    }

    #[test]
    fn the_listing_carries_no_party() {
        let directory = CallDirectory::default();
        directory.insert(
            summary(1).with_parties(["+33612345678".to_string()]),
            None,
            None,
        );
        let json = serde_json::to_value(directory.list()).unwrap();
        assert!(!json.to_string().contains("+336"));
        let fields: Vec<&str> = json[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            [
                "call_id",
                "direction",
                "id",
                "paused",
                "recorded",
                "start",
                "tenant"
            ]
        );
    }
}
