//! Streaming redaction: [`StreamRedactor`] masks a byte stream fed in chunks,
//! holding back just enough trailing bytes that a value split across chunks
//! (or spanning lines) is still caught, and never emitting a byte that a later
//! chunk could turn into part of a match.

use crate::matcher::RawMatch;
use crate::{Redactor, Span};

/// Masks a stream chunk by chunk; created by [`Redactor::stream`].
///
/// Output of all `push` calls followed by `finish` equals
/// [`Redactor::redact_bytes`] of the concatenated input.
pub struct StreamRedactor<'a> {
    redactor: &'a Redactor,
    /// Held-back bytes: `buf[..start]` were already written out, as part of
    /// a mask that may still grow (a longer overlapping match can start
    /// there), `buf[start..]` are pending.
    buf: Vec<u8>,
    start: usize,
    raw: Vec<RawMatch>,
    spans: Vec<Span>,
}

impl<'a> StreamRedactor<'a> {
    pub(crate) fn new(redactor: &'a Redactor) -> Self {
        StreamRedactor {
            redactor,
            buf: Vec::new(),
            start: 0,
            raw: Vec::new(),
            spans: Vec::new(),
        }
    }
}

impl StreamRedactor<'_> {
    /// Feeds a chunk; returns the bytes that are now final (redacted). Keeps a
    /// tail so a value split across chunks (or spanning lines) is still caught.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.buf.extend_from_slice(chunk);
        let keep = self.redactor.keep();
        let cut = self.buf.len().saturating_sub(keep);
        if cut <= self.start {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(cut - self.start);
        self.round(cut, &mut out);
        // Everything before `cut` is settled: a span (widening included)
        // starting there was complete and handled this round. A match
        // starting at or after `cut` whose widening would reach back before it
        // starts at `cut - 1` and was handled too.
        self.buf.drain(..cut);
        self.start -= cut;
        out
    }

    /// Flushes everything still held back.
    pub fn finish(mut self) -> Vec<u8> {
        let cut = self.buf.len();
        let mut out = Vec::with_capacity(cut - self.start);
        self.round(cut, &mut out);
        out
    }

    fn round(&mut self, cut: usize, out: &mut Vec<u8>) {
        self.redactor
            .spans(&self.buf, false, &mut self.raw, &mut self.spans);
        self.start = self
            .redactor
            .emit(&self.buf, self.start, cut, &self.spans, out);
    }
}
