//! Feeds arbitrary bytes to the datagram parser and, cut where the first byte says,
//! to the stream framer. Neither may panic; whatever parses must serialise to bytes
//! that parse again.

#![no_main]

use greffier_sip::message::{Message, StreamFramer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Message::parse_datagram(data) {
        Ok(message) => {
            let _ = (
                message.vias(),
                message.cseq(),
                message.from_tag(),
                message.request_uri(),
            );
            let again = Message::parse_datagram(&message.to_bytes());
            assert!(
                again.is_ok(),
                "a parsed message serialised to unparsable bytes"
            );
        }
        Err(error) => {
            let _ = error.reply();
        }
    }

    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut framer = StreamFramer::new();
    for piece in data.chunks(chunk) {
        framer.push(piece);
        while let Some(result) = framer.next_message() {
            if let Ok(message) = result {
                let _ = message.to_bytes();
            }
        }
    }
});
