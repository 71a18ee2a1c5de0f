//! The CSV file as a stream of UTF-8 bytes, never as a whole: the encoding is chosen from the
//! first [`SNIFF_BYTES`], then the rest is decoded as it is read, so memory stays flat whatever
//! the file's size. Bytes that do not decode become U+FFFD, which the importer reports on the
//! row's line (a row is never dropped silently). The tracker between the decoder and the CSV
//! parser remembers where lines start (for line numbers that are right after CRLF too) and stops
//! a record that grows past its limit (an unclosed quote at the top of a large file, `/dev/zero`).

use crate::DetailKey;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::rc::Rc;

use encoding_rs::{CoderResult, Decoder, Encoding};

use crate::error::{Actor, ErrorKind, UiError};

/// How much of the file's start decides its encoding.
pub const SNIFF_BYTES: usize = 256 * 1024;

/// The file's encoding, chosen from its start: a BOM, else UTF-8 if the start is valid UTF-8,
/// else Shift_JIS if the start is valid Shift_JIS.
pub struct Sniffed {
    pub encoding: &'static Encoding,
    /// The name shown to the admin (`UTF-8 (BOM)`, `Shift_JIS`, …).
    pub name: &'static str,
    has_bom: bool,
    /// The bytes read to decide, fed to the decoder before the rest.
    head: Vec<u8>,
}

impl Sniffed {
    /// The head, decoded (lossy): enough to see the header line and choose the delimiter.
    pub fn head_text(&self) -> String {
        let (text, _) = if self.has_bom {
            self.encoding.decode_with_bom_removal(&self.head)
        } else {
            self.encoding.decode_without_bom_handling(&self.head)
        };
        text.into_owned()
    }
}

/// Reads up to [`SNIFF_BYTES`] and decides the encoding (`csv_encoding` if none fits).
pub fn sniff(input: &mut impl Read) -> Result<Sniffed, UiError> {
    let mut head = Vec::with_capacity(64 * 1024);
    input.take(SNIFF_BYTES as u64).read_to_end(&mut head).map_err(|e| {
        UiError::new(ErrorKind::FileUnreadable, Actor::Admin, format!("The file could not be read: {e}"))
            .with(DetailKey::Error, e)
    })?;
    let bad = || {
        UiError::new(ErrorKind::CsvEncoding, Actor::Admin, "The file could not be read as UTF-8 or Shift_JIS text. Save it as \"CSV UTF-8\" or \"CSV (comma delimited)\" and try again.")
    };
    if let Some((encoding, _)) = Encoding::for_bom(&head) {
        let name = if encoding == encoding_rs::UTF_8 {
            "UTF-8 (BOM)"
        } else if encoding == encoding_rs::UTF_16LE {
            "UTF-16LE"
        } else {
            "UTF-16BE"
        };
        return Ok(Sniffed { encoding, name, has_bom: true, head });
    }
    // Valid UTF-8, allowing a character cut at the end of the head.
    let utf8 = match std::str::from_utf8(&head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    if utf8 {
        return Ok(Sniffed { encoding: encoding_rs::UTF_8, name: "UTF-8", has_bom: false, head });
    }
    let mut probe = encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling();
    let mut sink = String::with_capacity(probe.max_utf8_buffer_length(head.len()).unwrap_or(head.len() * 3));
    let (result, _) = probe.decode_to_string_without_replacement(&head, &mut sink, false);
    if matches!(result, encoding_rs::DecoderResult::InputEmpty) {
        return Ok(Sniffed { encoding: encoding_rs::SHIFT_JIS, name: "Shift_JIS", has_bom: false, head });
    }
    Err(bad())
}

/// Decodes `head` then `rest` to UTF-8 as the parser asks for bytes; undecodable bytes become
/// U+FFFD.
pub struct Decoding<R> {
    input: io::Chain<io::Cursor<Vec<u8>>, R>,
    decoder: Decoder,
    in_buf: Box<[u8]>,
    in_pos: usize,
    in_len: usize,
    in_eof: bool,
    out_buf: Box<[u8]>,
    out_pos: usize,
    out_len: usize,
    done: bool,
}

impl<R: Read> Decoding<R> {
    pub fn new(sniffed: Sniffed, rest: R) -> Self {
        let decoder = if sniffed.has_bom {
            sniffed.encoding.new_decoder_with_bom_removal()
        } else {
            sniffed.encoding.new_decoder_without_bom_handling()
        };
        Decoding {
            input: io::Cursor::new(sniffed.head).chain(rest),
            decoder,
            in_buf: vec![0; 16 * 1024].into_boxed_slice(),
            in_pos: 0,
            in_len: 0,
            in_eof: false,
            // Room for any 16 KiB of input (UTF-16 and Shift_JIS grow by at most half).
            out_buf: vec![0; 64 * 1024].into_boxed_slice(),
            out_pos: 0,
            out_len: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.out_len {
                let n = buf.len().min(self.out_len - self.out_pos);
                buf[..n].copy_from_slice(&self.out_buf[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            if self.in_pos == self.in_len && !self.in_eof {
                self.in_len = loop {
                    match self.input.read(&mut self.in_buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                self.in_pos = 0;
                self.in_eof = self.in_len == 0;
            }
            let (result, read, written, _) =
                self.decoder.decode_to_utf8(&self.in_buf[self.in_pos..self.in_len], &mut self.out_buf, self.in_eof);
            self.in_pos += read;
            self.out_pos = 0;
            self.out_len = written;
            if self.in_eof && result == CoderResult::InputEmpty {
                self.done = true;
            }
        }
    }
}

/// What the tracker saw, shared with the importer: line starts and the record limit.
#[derive(Default)]
pub struct Tracking {
    /// Decoded bytes handed to the parser so far.
    consumed: u64,
    /// The parser may not read past this offset (the current record's start + its limit).
    limit: u64,
    /// Offsets of `\n` not yet behind the current record.
    newlines: VecDeque<u64>,
    /// How many `\n` were dropped from `newlines`.
    newlines_before: u64,
}

impl Tracking {
    /// The 1-based line of the byte at `offset` (a `\n` belongs to the line it ends), at or after
    /// the current record's start.
    pub fn line_at(&self, offset: u64) -> u64 {
        1 + self.newlines_before + self.newlines.partition_point(|&n| n < offset) as u64
    }

    /// Whether the byte at `offset` (at or after the current record's start) is a `\n`.
    pub fn is_newline(&self, offset: u64) -> bool {
        self.newlines.binary_search(&offset).is_ok()
    }

    /// A record starts at `offset`: forget earlier lines and let it grow to `max_bytes`.
    pub fn record_starts(&mut self, offset: u64, max_bytes: u64) {
        while self.newlines.front().is_some_and(|&n| n < offset) {
            self.newlines.pop_front();
            self.newlines_before += 1;
        }
        self.limit = offset + max_bytes;
    }
}

/// Marker inside the `io::Error` that stops a record at its limit.
#[derive(Debug)]
pub struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

/// Between the decoder and the parser: counts lines and enforces [`Tracking::limit`].
pub struct Tracked<R> {
    inner: R,
    state: Rc<RefCell<Tracking>>,
}

impl<R: Read> Tracked<R> {
    pub fn new(inner: R) -> (Self, Rc<RefCell<Tracking>>) {
        let state = Rc::new(RefCell::new(Tracking::default()));
        (Tracked { inner, state: Rc::clone(&state) }, state)
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.state.borrow_mut();
        let room = s.limit.saturating_sub(s.consumed);
        if room == 0 {
            return Err(io::Error::other(RecordTooLong));
        }
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        let start = s.consumed;
        for (i, b) in buf[..n].iter().enumerate() {
            if *b == b'\n' {
                s.newlines.push_back(start + i as u64);
            }
        }
        s.consumed += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<(String, &'static str), UiError> {
        let mut input = bytes;
        let sniffed = sniff(&mut input)?;
        let name = sniffed.name;
        let mut text = String::new();
        Decoding::new(sniffed, input).read_to_string(&mut text).unwrap();
        Ok((text, name))
    }

    #[test]
    fn decodes_all_spreadsheet_encodings() {
        let text = "login_name,display_name\r\nyamada,山田 太郎\r\n";
        assert_eq!(decode_all(text.as_bytes()).unwrap(), (text.to_owned(), "UTF-8"));
        let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(decode_all(&bom).unwrap(), (text.to_owned(), "UTF-8 (BOM)"));
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        assert_eq!(decode_all(&sjis).unwrap(), (text.to_owned(), "Shift_JIS"));
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(decode_all(&utf16).unwrap(), (text.to_owned(), "UTF-16LE"));
        assert_eq!(decode_all(&[0x82, 0xA0, 0xFF, 0xFF]).unwrap_err().kind, ErrorKind::CsvEncoding);
    }

    #[test]
    fn large_files_decode_in_pieces_and_bad_bytes_after_the_head_become_replacements() {
        // Multi-byte characters across every buffer boundary, then an invalid byte past the head.
        let line = "yamada,山田 太郎\n".repeat(SNIFF_BYTES / 10);
        let bytes = [line.as_bytes(), b"bad,\xFF\n"].concat();
        let (text, name) = decode_all(&bytes).unwrap();
        assert_eq!(name, "UTF-8");
        assert_eq!(text, format!("{line}bad,\u{fffd}\n"));
        let mut utf16 = vec![0xFE, 0xFF];
        utf16.extend(line.encode_utf16().flat_map(|u| u.to_be_bytes()));
        assert_eq!(decode_all(&utf16).unwrap(), (line, "UTF-16BE"));
    }

    #[test]
    fn tracker_counts_lines_and_stops_at_the_limit() {
        let (mut t, state) = Tracked::new("a\r\nb\nc".as_bytes());
        state.borrow_mut().record_starts(0, 100);
        let mut s = String::new();
        t.read_to_string(&mut s).unwrap();
        let st = state.borrow();
        assert_eq!((st.line_at(0), st.line_at(2), st.line_at(3), st.line_at(4), st.line_at(5)), (1, 1, 2, 2, 3));
        assert!(st.is_newline(2) && !st.is_newline(1));
        let (mut t, state) = Tracked::new(io::repeat(b'x'));
        state.borrow_mut().record_starts(0, 10);
        let mut sink = Vec::new();
        let e = t.read_to_end(&mut sink).unwrap_err();
        assert!(e.get_ref().is_some_and(|e| e.is::<RecordTooLong>()), "{e}");
        assert_eq!(sink.len(), 10);
    }
}
