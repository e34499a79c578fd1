//! Splitting a session description into `<type>=<value>` lines, kept as byte ranges
//! of the original so unchanged lines are copied back exactly.

use std::ops::Range;

use super::SdpError;

/// One `<type>=<value>` line: its 1-based line number in the input, its type letter
/// and where its value lies in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawLine {
    pub number: usize,
    pub kind: u8,
    pub value: Range<usize>,
}

/// Splits on LF or CRLF. Blank lines (often a trailing CRLF too many) are skipped; any
/// other line must be a letter, `=`, and a value without CR or NUL, because a peer that
/// splits lines differently would otherwise see lines this parser never checked.
pub(crate) fn split_lines(source: &[u8]) -> Result<Vec<RawLine>, SdpError> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut number = 0;
    while start < source.len() {
        number += 1;
        let newline = memchr::memchr(b'\n', &source[start..]).map(|at| start + at);
        let next = newline.map_or(source.len(), |at| at + 1);
        let mut end = newline.unwrap_or(source.len());
        if end > start && source.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        let line_start = start;
        let text = source.get(line_start..end).unwrap_or_default();
        start = next;
        if text.iter().all(|byte| *byte == b' ' || *byte == b'\t') {
            continue;
        }
        let (kind, value) = match text {
            [kind, b'=', ..] if kind.is_ascii_alphabetic() => (*kind, (line_start + 2)..end),
            _ => return Err(SdpError::line(number, "expected `<letter>=<value>`")),
        };
        if text.iter().any(|byte| *byte == b'\r' || *byte == 0) {
            return Err(SdpError::line(number, "line contains CR or NUL"));
        }
        lines.push(RawLine {
            number,
            kind,
            value,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(source: &[u8]) -> Vec<(u8, &[u8])> {
        split_lines(source)
            .unwrap()
            .into_iter()
            .map(|line| (line.kind, &source[line.value]))
            .collect()
    }

    #[test]
    fn crlf_and_bare_lf_give_the_same_lines() {
        let crlf = values(b"v=0\r\ns=-\r\na=x:1\r\n");
        let lf = values(b"v=0\ns=-\na=x:1\n");
        assert_eq!(crlf, lf);
        assert_eq!(crlf, vec![(b'v', &b"0"[..]), (b's', b"-"), (b'a', b"x:1")]);
    }

    #[test]
    fn blank_lines_and_missing_final_newline_are_tolerated() {
        let lines = values(b"v=0\r\n\r\n  \r\ns=\r\nt=0 0");
        assert_eq!(lines, vec![(b'v', &b"0"[..]), (b's', b""), (b't', b"0 0")]);
    }

    #[test]
    fn a_line_without_letter_and_equals_is_refused_with_its_number() {
        let error = split_lines(b"v=0\r\nm =video 1 RTP/AVP 0\r\n").unwrap_err();
        assert_eq!(error, SdpError::line(2, "expected `<letter>=<value>`"));
        assert!(split_lines(b"=0\r\n").is_err());
        assert!(split_lines(b"v\r\n").is_err());
    }

    #[test]
    fn embedded_cr_or_nul_is_refused() {
        assert!(split_lines(b"v=0\r\ns=a\rb\r\n").is_err());
        assert!(split_lines(b"v=0\r\ns=a\0b\r\n").is_err());
    }
}
