//! Properties of the parser on hostile input: random bytes and mutated corpus
//! messages never panic, by datagram or through the stream framer; a stream cut at
//! arbitrary points yields the same messages as whole datagrams; whatever parses
//! serialises to something that parses to the same message.

use std::fs;
use std::path::Path;

use greffier_sip::message::{HeaderName, Message, StreamFramer, Via};
use proptest::prelude::*;

fn corpus_messages() -> Vec<Vec<u8>> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpora"));
    let mut messages = Vec::new();
    for folder in [
        "rfc4475/valid",
        "rfc4475/invalid",
        "rfc5118/valid",
        "rfc5118/invalid",
    ] {
        let mut paths: Vec<_> = fs::read_dir(root.join(folder))
            .expect("corpus folder readable")
            .map(|entry| entry.unwrap().path())
            .collect();
        paths.sort();
        for path in paths {
            messages.push(fs::read(path).expect("corpus message readable"));
        }
    }
    assert_eq!(messages.len(), 61);
    messages
}

/// Valid messages whose Content-Length frames them exactly on a stream.
fn framable_messages() -> Vec<Vec<u8>> {
    corpus_messages()
        .into_iter()
        .filter(|bytes| {
            let Ok(message) = Message::parse_datagram(bytes) else {
                return false;
            };
            let declared = message
                .headers
                .get(&HeaderName::ContentLength)
                .and_then(|value| value.parse::<usize>().ok());
            let head_len = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            declared == Some(bytes.len() - head_len)
        })
        .collect()
}

/// Feeds the bytes to a framer in the given chunk sizes and drains it.
fn frame_all(bytes: &[u8], chunk_sizes: &[usize]) -> Vec<Result<Message, String>> {
    let mut framer = StreamFramer::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut sizes = chunk_sizes.iter().cycle();
    while !rest.is_empty() {
        let size = sizes
            .next()
            .copied()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        framer.push(chunk);
        while let Some(result) = framer.next_message() {
            out.push(result.map_err(|e| e.to_string()));
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Duplicate { at: usize, len: usize },
    Remove { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b"\r\n".to_vec(),
        b"\r\n\r\n".to_vec(),
        b" ".to_vec(),
        b"\"".to_vec(),
        b"<".to_vec(),
        b">".to_vec(),
        b";".to_vec(),
        b",".to_vec(),
        b":".to_vec(),
        b"[".to_vec(),
        b"\r\n ".to_vec(),
        b"Content-Length: 99999\r\n".to_vec(),
        b"l: -1\r\n".to_vec(),
        vec![0xff, 0xfe],
        vec![0xe2, 0x82],
    ]);
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (
            any::<usize>(),
            prop_oneof![interesting, prop::collection::vec(any::<u8>(), 1..8)]
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ]
}

fn apply(message: &mut Vec<u8>, mutation: &Mutation) {
    if message.is_empty() {
        return;
    }
    let len = message.len();
    match mutation {
        Mutation::Flip { at, mask } => message[at % len] ^= mask,
        Mutation::Truncate { at } => message.truncate(at % len),
        Mutation::Insert { at, bytes } => {
            let at = at % (len + 1);
            message.splice(at..at, bytes.iter().copied());
        }
        Mutation::Duplicate { at, len: span } => {
            let start = at % len;
            let end = (start + span).min(len);
            let copy = message[start..end].to_vec();
            message.splice(end..end, copy);
        }
        Mutation::Remove { at, len: span } => {
            let start = at % len;
            let end = (start + span).min(len);
            message.drain(start..end);
        }
    }
}

/// Whatever parses must serialise to bytes that parse to the same message.
fn assert_stable(message: &Message) -> Result<(), TestCaseError> {
    let again = Message::parse_datagram(&message.to_bytes())
        .map_err(|e| TestCaseError::fail(format!("serialised message refused: {e}")))?;
    prop_assert_eq!(&again.start, &message.start);
    prop_assert_eq!(&again.body, &message.body);
    let without_length = |m: &Message| {
        m.headers
            .iter()
            .filter(|h| h.name != HeaderName::ContentLength)
            .cloned()
            .collect::<Vec<_>>()
    };
    prop_assert_eq!(without_length(&again), without_length(message));
    Ok(())
}

/// Exercises every typed accessor (none may panic); a Via written back reads the same.
fn touch_fields(message: &Message) -> Result<(), TestCaseError> {
    let _ = (
        message.call_id(),
        message.cseq(),
        message.from_tag(),
        message.to_tag(),
        message.max_forwards(),
        message.top_via().map(|via| via.sent_by()),
        message.request_uri().map(|uri| uri.has_lr()),
        message.routes(),
        message.record_routes(),
    );
    for via in message.vias() {
        prop_assert_eq!(Via::parse(&via.to_string()), Some(via));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(message) = Message::parse_datagram(&bytes) {
            touch_fields(&message)?;
        }
        let _ = frame_all(&bytes, &[bytes.len().max(1)]);
    }

    #[test]
    fn mutated_corpus_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
        chunk in 1usize..300,
    ) {
        let corpus = corpus_messages();
        let mut bytes = pick.get(&corpus).clone();
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        match Message::parse_datagram(&bytes) {
            Ok(message) => {
                touch_fields(&message)?;
                assert_stable(&message)?;
            }
            Err(error) => {
                let _ = error.reply().map(|reply| Message::parse_datagram(&reply));
            }
        }
        for message in frame_all(&bytes, &[chunk]).into_iter().flatten() {
            touch_fields(&message)?;
        }
    }

    #[test]
    fn split_stream_yields_the_same_messages(
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..6),
        keep_alives in prop::collection::vec(0usize..3, 6),
        chunk_sizes in prop::collection::vec(1usize..400, 1..8),
    ) {
        let framable = framable_messages();
        let chosen: Vec<&Vec<u8>> = picks.iter().map(|pick| pick.get(&framable)).collect();
        let mut stream = Vec::new();
        for (message, breaks) in chosen.iter().zip(keep_alives.iter().cycle()) {
            for _ in 0..*breaks {
                stream.extend_from_slice(b"\r\n");
            }
            stream.extend_from_slice(message);
        }
        let framed = frame_all(&stream, &chunk_sizes);
        prop_assert_eq!(framed.len(), chosen.len());
        for (result, original) in framed.iter().zip(&chosen) {
            let expected = Message::parse_datagram(original).map_err(|e| e.to_string());
            prop_assert_eq!(result, &expected);
        }
    }
}
