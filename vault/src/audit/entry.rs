//! What one audit entry says, in types that cannot carry personal data: who
//! (a slug that cannot hold a phone number), which role, from where, for
//! which tenant, what was done, to which objects (record ids, blind indexes,
//! masked numbers), and how it ended.

use std::fmt;

use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::catalog::E164;
use crate::store::{BlindIndex, RecordId};
use crate::tenant::TenantId;

/// Longest actor name.
const MAX_ACTOR_LEN: usize = 64;
/// An actor name may hold at most this many digits in a row, so neither a
/// phone number nor most other identifiers of a person fit in it.
const MAX_DIGIT_RUN: usize = 4;

/// Why an actor name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    #[error("an actor name must be 1 to 64 characters")]
    Length,
    #[error("an actor name holds only lowercase ASCII letters, digits, '.', '_' and '-'")]
    Character,
    #[error("an actor name holds at most 4 digits in a row (no phone numbers)")]
    DigitRun,
}

/// Who acted: `gateway`, `cli`, or later an API token's name. A slug of at
/// most 64 characters with at most four digits in a row, so no phone number
/// can be written into the log through it.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct Actor(String);

impl Actor {
    pub fn new(name: &str) -> Result<Self, ActorError> {
        if name.is_empty() || name.len() > MAX_ACTOR_LEN {
            return Err(ActorError::Length);
        }
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-');
        if !name.bytes().all(allowed) {
            return Err(ActorError::Character);
        }
        let longest_run = name
            .split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        if longest_run > MAX_DIGIT_RUN {
            return Err(ActorError::DigitRun);
        }
        Ok(Actor(name.to_owned()))
    }

    /// The gateway itself, recording calls.
    pub fn gateway() -> Self {
        Actor("gateway".to_owned())
    }

    /// Someone at the node's command line.
    pub fn cli() -> Self {
        Actor("cli".to_owned())
    }

    /// Whoever reaches the node's admin HTTP address (it has no login).
    pub fn admin_endpoint() -> Self {
        Actor("admin-endpoint".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The role the actor acted in (DESIGN.md "Access").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The gateway's own processing (recording a call).
    System,
    /// The processor's staff.
    Operator,
    SuperAdmin,
    Admin,
    Supervisor,
    User,
}

/// Where the operation came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Cli,
    Api,
    Gateway,
}

/// What was done to personal data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Recorded,
    Read,
    Exported,
    Deleted,
    Swept,
    Held,
    Released,
    KeyRotated,
    KeyShredded,
    SubjectExport,
    SubjectErase,
    /// A terminated tenant's data deleted (DPA 8.3).
    Terminated,
    Requisition,
    /// A call's audio sent to a sub-processor (`ok`), or not sent because
    /// the sub-processor gate refused (`refused`, with the gate's reason).
    SentToSubprocessor,
    /// A call's transcript stored (`ok`), or its job given up (`failed`,
    /// with the reason).
    Transcribed,
    /// The recording of a call in progress was paused (it holds silence
    /// until resumed).
    Paused,
    Resumed,
}

/// How the operation ended.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// Not allowed for this actor.
    Refused,
    /// Attempted and failed.
    Failed,
    /// Not done because a legal hold protects the data.
    Held,
}

impl Outcome {
    /// `ok` for a success, `failed` for an error.
    pub fn of<T, E>(result: &Result<T, E>) -> Self {
        if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Failed
        }
    }
}

/// A phone number as an audit entry may show it: only built from a valid
/// [`E164`] through its mask, so the digits in the middle never reach the log.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct MaskedNumber(String);

impl MaskedNumber {
    pub fn of(number: &E164) -> Self {
        MaskedNumber(number.masked())
    }
}

/// An object an operation touched, by an identifier that says nothing about
/// a person.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ObjectRef {
    /// A call: its recording, manifest, call record and transcript share it.
    Record(RecordId),
    /// A call's transcript, beside `Record` where an operation touched the
    /// transcript alone (a read or deletion of it).
    Transcript(RecordId),
    /// A data subject, by blind index.
    Subject(BlindIndex),
    /// A data subject, by masked number (where no index key may be used).
    Number(MaskedNumber),
    Hold(Uuid),
    /// A version of the tenant's key-encryption key.
    KeyVersion(u32),
    /// A declared sub-processor, by its name in the configuration.
    Subprocessor(String),
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectRef::Record(id) => write!(f, "record:{id}"),
            ObjectRef::Transcript(id) => write!(f, "transcript:{id}"),
            ObjectRef::Subject(index) => write!(f, "subject:{}", index.as_str()),
            ObjectRef::Number(masked) => write!(f, "number:{}", masked.0),
            ObjectRef::Hold(id) => write!(f, "hold:{}", id.hyphenated()),
            ObjectRef::KeyVersion(version) => write!(f, "kek:{version}"),
            ObjectRef::Subprocessor(name) => write!(f, "subprocessor:{name}"),
        }
    }
}

impl Serialize for ObjectRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One operation to record, as the operations layer describes it; the log
/// adds the position in the chain, the time and the node.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditRecord {
    pub actor: Actor,
    pub role: Role,
    pub origin: Origin,
    pub tenant: TenantId,
    pub action: Action,
    pub objects: Vec<ObjectRef>,
    pub outcome: Outcome,
    /// The law forbids telling the tenant (a confidential requisition): the
    /// entry is in the chain but not in the tenant's export.
    pub confidential: bool,
    /// Why the outcome is not `ok`, as a fixed code (`objected`,
    /// `notice_running`, `gave_up`): static text, so no personal data can
    /// reach it.
    pub reason: Option<&'static str>,
}

impl AuditRecord {
    pub fn new(actor: Actor, role: Role, origin: Origin, tenant: TenantId, action: Action) -> Self {
        AuditRecord {
            actor,
            role,
            origin,
            tenant,
            action,
            objects: Vec::new(),
            outcome: Outcome::Ok,
            confidential: false,
            reason: None,
        }
    }

    /// The code that says why the outcome is what it is.
    pub fn reason(mut self, code: &'static str) -> Self {
        self.reason = Some(code);
        self
    }

    pub fn object(mut self, object: ObjectRef) -> Self {
        self.objects.push(object);
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// The gateway recorded a call.
    pub fn recorded(tenant: TenantId, id: RecordId, outcome: Outcome) -> Self {
        AuditRecord::new(
            Actor::gateway(),
            Role::System,
            Origin::Gateway,
            tenant,
            Action::Recorded,
        )
        .object(ObjectRef::Record(id))
        .outcome(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_name_cannot_hold_a_phone_number() {
        for bad in [
            "+33612345678",
            "33612345678",
            "ops-061234",
            "Alice",
            "",
            "a b",
        ] {
            assert!(Actor::new(bad).is_err(), "{bad:?}");
        }
        let long = "a".repeat(65);
        assert_eq!(Actor::new(&long), Err(ActorError::Length));
        for good in ["cli", "gateway", "ops.team-2024", "token_7"] {
            assert!(Actor::new(good).is_ok(), "{good:?}");
        }
        for built_in in [Actor::cli(), Actor::gateway(), Actor::admin_endpoint()] {
            assert_eq!(Actor::new(built_in.as_str()), Ok(built_in.clone()));
        }
    }

    #[test]
    fn objects_are_written_without_personal_data() {
        let number = E164::new("+33612345678").unwrap();
        let object = ObjectRef::Number(MaskedNumber::of(&number));
        let text = object.to_string();
        assert!(text.starts_with("number:+33"), "{text}");
        assert!(!text.contains("612345678"), "{text}");
        let id: RecordId = "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap();
        assert_eq!(
            ObjectRef::Record(id).to_string(),
            "record:01890a5d-ac96-774b-bcce-b302099a8057"
        );
    }
}
