//! Streaming redaction: [`StreamRedactor`] masks a byte stream fed in chunks,
//! holding back just enough trailing bytes that a value split across chunks
//! (or spanning lines) is still caught, and never emitting a byte that a later
//! chunk could turn into part of a match.

use zeroize::Zeroizing;

use crate::views::LEFT_CONTEXT;
use crate::{Redactor, Scratch, Span};

/// Masks a stream chunk by chunk; created by [`Redactor::stream`].
///
/// Output of all `push` calls followed by `finish` equals
/// [`Redactor::redact_bytes`] of the concatenated input.
pub struct StreamRedactor<'a> {
    redactor: &'a Redactor,
    /// Held-back bytes. `buf[..handled]` is context only: every span starting
    /// there was dealt with in an earlier round (a token's neighbour, a
    /// wrapped line, an entity are read from it). `buf[..start]` was already
    /// written out, part of it as a mask that may still grow (a longer
    /// overlapping match can start there); `buf[start..]` is pending.
    /// Unredacted input (it may hold a value): wiped when dropped.
    buf: Zeroizing<Vec<u8>>,
    start: usize,
    handled: usize,
    scratch: Scratch,
    spans: Vec<Span>,
}

impl<'a> StreamRedactor<'a> {
    pub(crate) fn new(redactor: &'a Redactor) -> Self {
        StreamRedactor {
            redactor,
            buf: Zeroizing::new(Vec::new()),
            start: 0,
            handled: 0,
            scratch: Scratch::default(),
            spans: Vec::new(),
        }
    }
}

impl StreamRedactor<'_> {
    /// Feeds a chunk; returns the bytes that are now final (redacted). Keeps a
    /// tail so a value split across chunks (or spanning lines) is still caught.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.redactor.is_empty() {
            // Nothing to mask: nothing to hold back either.
            return chunk.to_vec();
        }
        self.buf.extend_from_slice(chunk);
        let keep = self.redactor.keep();
        let cut = self.buf.len().saturating_sub(keep);
        // Each round scans the held-back tail again: with a long tail (long
        // values), wait for a quarter of it in new bytes, so it is not
        // rescanned for every small chunk. A short tail goes out at once.
        let gain = if keep > 16 << 10 { keep / 4 } else { 1 };
        if cut < self.start + gain {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(cut - self.start);
        self.round(cut, &mut out);
        // Everything before `cut` is settled: a span (widening included)
        // starting there was complete and handled this round. A match
        // starting at or after `cut` whose widening would reach back before it
        // starts at `cut - 1` and was handled too. Keep the context a later
        // round needs before `cut`.
        let drop = cut.saturating_sub(LEFT_CONTEXT);
        self.buf.drain(..drop);
        self.start -= drop;
        self.handled = cut - drop;
        out
    }

    /// Flushes everything still held back.
    pub fn finish(mut self) -> Vec<u8> {
        let cut = self.buf.len();
        let mut out = Vec::with_capacity(cut - self.start.min(cut));
        self.round(cut, &mut out);
        out
    }

    fn round(&mut self, cut: usize, out: &mut Vec<u8>) {
        self.redactor
            .spans(&self.buf, false, &mut self.scratch, &mut self.spans);
        self.start = self
            .redactor
            .emit(&self.buf, self.start, cut, self.handled, &self.spans, out);
    }
}
