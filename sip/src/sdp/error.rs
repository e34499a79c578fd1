//! Why a session description was refused. Messages name the line and the rule, never
//! the line's content: SDP carries user names and addresses.

/// A session description that cannot be anchored safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("session description is empty")]
    Empty,
    #[error("session description is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("session description has more than {max} media sections")]
    TooManyMediaSections { max: usize },
    #[error("session description does not start with `v=0`")]
    MissingVersion,
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: &'static str },
}

impl SdpError {
    pub(crate) fn line(line: usize, reason: &'static str) -> SdpError {
        SdpError::Line { line, reason }
    }
}
