//! Recorder copies without an allocation per packet.
//!
//! Copies are carved out of one buffer; once the recorder has dropped every
//! copy of a buffer, `reserve` reclaims it in place. A recorder that holds on
//! to copies only costs a fresh buffer every few dozen packets.

use bytes::{Bytes, BytesMut};

const ARENA_BYTES: usize = 16 * 1024;

#[derive(Debug)]
pub(super) struct CopyArena {
    buffer: BytesMut,
}

impl CopyArena {
    pub(super) fn new() -> Self {
        Self {
            buffer: BytesMut::with_capacity(ARENA_BYTES),
        }
    }

    pub(super) fn copy(&mut self, datagram: &[u8]) -> Bytes {
        if self.buffer.capacity() < datagram.len() {
            self.buffer.reserve(ARENA_BYTES.max(datagram.len()));
        }
        self.buffer.extend_from_slice(datagram);
        self.buffer.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_independent_and_the_buffer_is_reused() {
        let mut arena = CopyArena::new();
        let first = arena.copy(b"first");
        let second = arena.copy(b"second");
        assert_eq!(&first[..], b"first");
        assert_eq!(&second[..], b"second");
        let start = first.as_ptr();
        drop((first, second));
        for _ in 0..(ARENA_BYTES / 100) {
            drop(arena.copy(&[7; 100]));
        }
        let reused = arena.copy(&[9; 200]);
        assert_eq!(reused.as_ptr(), start, "the arena was reclaimed in place");
        assert_eq!(&reused[..], &[9; 200][..]);
    }

    #[test]
    fn a_datagram_larger_than_the_arena_is_still_copied() {
        let mut arena = CopyArena::new();
        let big = vec![3u8; ARENA_BYTES * 2];
        assert_eq!(&arena.copy(&big)[..], &big[..]);
    }
}
