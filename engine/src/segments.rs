//! Whisper gives one segment per 30-second window, with word timings; a
//! transcript reads better, and merges by speaker more faithfully, in
//! sentences. Words are grouped into segments at sentence-ending punctuation
//! and at pauses.

use serde::Serialize;

/// A timed word, as the model aligned it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedWord {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sentence {
    pub id: usize,
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// A silence at least this long between two words ends a segment.
const PAUSE_SECONDS: f64 = 1.0;

pub fn sentences(words: &[TimedWord]) -> Vec<Sentence> {
    let mut out: Vec<Sentence> = Vec::new();
    let mut current: Vec<&TimedWord> = Vec::new();
    let mut flush = |current: &mut Vec<&TimedWord>, out: &mut Vec<Sentence>| {
        if let (Some(first), Some(last)) = (current.first(), current.last()) {
            let text = current
                .iter()
                .map(|word| word.text.trim())
                .collect::<Vec<_>>()
                .join(" ");
            out.push(Sentence {
                id: out.len(),
                start: first.start,
                end: last.end.max(first.start),
                text,
            });
        }
        current.clear();
    };
    for word in words.iter().filter(|word| !word.text.trim().is_empty()) {
        if let Some(previous) = current.last() {
            if word.start - previous.end >= PAUSE_SECONDS {
                flush(&mut current, &mut out);
            }
        }
        current.push(word);
        if word.text.trim_end().ends_with(['.', '?', '!']) {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, start: f64, end: f64) -> TimedWord {
        TimedWord {
            text: text.to_owned(),
            start,
            end,
        }
    }

    #[test]
    fn sentences_end_at_punctuation_and_at_pauses() {
        let words = [
            word("Hello", 0.0, 0.4),
            word("there.", 0.5, 0.9),
            word("How", 1.0, 1.2),
            word("are", 1.2, 1.4),
            word("you", 1.4, 1.6),
            word("Fine", 3.0, 3.3),
            word("", 3.3, 3.3),
            word("thanks!", 3.4, 3.8),
        ];
        let texts: Vec<(String, f64, f64)> = sentences(&words)
            .into_iter()
            .map(|s| (s.text, s.start, s.end))
            .collect();
        assert_eq!(
            texts,
            [
                ("Hello there.".to_owned(), 0.0, 0.9),
                ("How are you".to_owned(), 1.0, 1.6),
                ("Fine thanks!".to_owned(), 3.0, 3.8),
            ]
        );
        assert!(sentences(&[]).is_empty());
    }
}
