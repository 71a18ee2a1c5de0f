//! Values larger than one keychain entry may hold, stored as numbered parts plus a header.
//!
//! Layout for a logical value under the entry name `<key>`:
//! - small value (at most `chunk_bytes` with its prefix): one entry `<key>` = `inline:<value>`;
//! - larger value: parts `<key>#g<G>#1` … `<key>#g<G>#<N>` (each at most `chunk_bytes` bytes of
//!   UTF-8, cut at character boundaries) and the header `<key>` = `v<G>:chunks:<N>:<total bytes>`.
//!
//! Writing never loses the old value: the new value's parts are written under a new generation
//! `G` (old + 1) first, then the header is switched (one entry write, which the platform does
//! atomically), and only then are the old generation's parts deleted. A crash or failure before
//! the switch leaves the old header and its parts intact; after it, at worst unreferenced old
//! parts remain. Deleting removes the header first (the value is gone at once) and then the parts,
//! also those an interrupted write left under the next generation, so sign-out leaves nothing.
//!
//! Because UTF-16 never needs more code units than UTF-8 needs bytes, a part of `chunk_bytes`
//! UTF-8 bytes is at most `2 × chunk_bytes` bytes in Windows' UTF-16 `set_password`.

use std::sync::Mutex;

use zeroize::Zeroizing;

use super::{EntryStore, KeychainError, Secret};

/// Reads that find a part missing (a concurrent writer switched generations) retry this often.
const READ_ATTEMPTS: usize = 3;
/// Deleting unreferenced parts stops after this many (a bound against a damaged header).
const MAX_PARTS: usize = 10_000;

const INLINE: &str = "inline:";

/// Parsed header entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    Inline,
    Chunks { generation: u64, parts: usize, bytes: usize },
}

impl Header {
    fn parse(raw: &str) -> Option<Header> {
        if raw.starts_with(INLINE) {
            return Some(Header::Inline);
        }
        let rest = raw.strip_prefix('v')?;
        let mut fields = rest.split(':');
        let generation = fields.next()?.parse().ok()?;
        if fields.next()? != "chunks" {
            return None;
        }
        let parts = fields.next()?.parse().ok()?;
        let bytes = fields.next()?.parse().ok()?;
        if fields.next().is_some() || parts == 0 || parts > MAX_PARTS {
            return None;
        }
        Some(Header::Chunks { generation, parts, bytes })
    }

    fn generation(self) -> u64 {
        match self {
            Header::Inline => 0,
            Header::Chunks { generation, .. } => generation,
        }
    }
}

fn part_name(key: &str, generation: u64, index: usize) -> String {
    format!("{key}#g{generation}#{index}")
}

/// Cuts `value` into pieces of at most `max` bytes at character boundaries.
fn split(value: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            // `max` smaller than one character: take the character anyway.
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// A logical key → value store on top of an [`EntryStore`], splitting large values.
pub(crate) struct Chunked<B> {
    pub(crate) entries: B,
    pub(crate) chunk_bytes: usize,
}

/// Serializes writers in this process, across all keychain objects (they may share the platform
/// store). Readers need no lock: see [`Chunked::get`].
static WRITE_LOCK: Mutex<()> = Mutex::new(());

fn write_lock() -> std::sync::MutexGuard<'static, ()> {
    WRITE_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<B: EntryStore> Chunked<B> {
    pub(crate) fn new(entries: B, chunk_bytes: usize) -> Self {
        assert!(chunk_bytes >= 16, "chunk size too small: {chunk_bytes}");
        Self { entries, chunk_bytes }
    }

    fn corrupt(&self, key: &str, reason: impl Into<String>) -> KeychainError {
        KeychainError::Corrupt {
            service: self.entries.service().to_owned(),
            entry: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// Reads the value under `key`, reassembling parts.
    pub(crate) fn get(&self, key: &str) -> Result<Option<Secret>, KeychainError> {
        let mut last_error = None;
        for _ in 0..READ_ATTEMPTS {
            let Some(raw) = self.entries.get(key)? else { return Ok(None) };
            let header = Header::parse(raw.expose()).ok_or_else(|| self.corrupt(key, "unrecognized header"))?;
            let (parts, bytes, generation) = match header {
                Header::Inline => return Ok(Some(Secret::new(&raw.expose()[INLINE.len()..]))),
                Header::Chunks { generation, parts, bytes } => (parts, bytes, generation),
            };
            // `bytes` comes from the entry: a damaged one must not decide how much to allocate.
            let mut value = Zeroizing::new(String::with_capacity(bytes.min(parts.saturating_mul(self.chunk_bytes))));
            let mut missing = false;
            for index in 1..=parts {
                match self.entries.get(&part_name(key, generation, index))? {
                    Some(part) => value.push_str(part.expose()),
                    None => {
                        missing = true;
                        break;
                    }
                }
            }
            if missing {
                // Perhaps a writer switched the header and removed this generation meanwhile:
                // read the header again.
                last_error = Some(self.corrupt(key, format!("a part of generation {generation} is missing")));
                continue;
            }
            if value.len() != bytes {
                return Err(self.corrupt(key, format!("length {} instead of {bytes}", value.len())));
            }
            return Ok(Some(Secret::new(std::mem::take(&mut *value))));
        }
        Err(last_error.unwrap_or_else(|| self.corrupt(key, "unreadable")))
    }

    /// Stores `value` under `key`; on error the previous value (if any) is still readable.
    pub(crate) fn set(&self, key: &str, value: &str) -> Result<(), KeychainError> {
        let _guard = write_lock();
        let old = match self.entries.get(key)? {
            Some(raw) => Header::parse(raw.expose()),
            None => None,
        };
        let old_generation = old.map_or(0, Header::generation);

        if INLINE.len() + value.len() <= self.chunk_bytes {
            let entry = Zeroizing::new(format!("{INLINE}{value}"));
            self.entries.set(key, &entry)?;
        } else {
            let generation = old_generation + 1;
            let pieces = split(value, self.chunk_bytes);
            for (i, piece) in pieces.iter().enumerate() {
                if let Err(err) = self.entries.set(&part_name(key, generation, i + 1), piece) {
                    // The header still names the old generation; remove what was written.
                    self.delete_parts(key, generation, 1);
                    return Err(err);
                }
            }
            // Parts left over from an earlier attempt at this generation that never got its header.
            self.delete_parts(key, generation, pieces.len() + 1);
            let header = format!("v{generation}:chunks:{}:{}", pieces.len(), value.len());
            // If this fails the parts stay: the write may have happened after all (a D-Bus
            // timeout), and the next write of this generation overwrites them anyway.
            self.entries.set(key, &header)?;
        }

        // The switch is done: the old generation's parts are no longer referenced.
        if let Some(Header::Chunks { generation, .. }) = old {
            self.delete_parts(key, generation, 1);
        }
        Ok(())
    }

    /// Deletes `key` and all its parts, including those of a write that died before its header
    /// switch (the generation after the current one). Deleting a missing key is not an error.
    pub(crate) fn delete(&self, key: &str) -> Result<(), KeychainError> {
        let _guard = write_lock();
        let old = match self.entries.get(key)? {
            Some(raw) => {
                let header = Header::parse(raw.expose());
                self.entries.delete(key)?;
                header
            }
            None => None,
        };
        if let Some(Header::Chunks { generation, parts, .. }) = old {
            for index in 1..=parts {
                self.entries.delete(&part_name(key, generation, index))?;
            }
            self.delete_parts(key, generation, parts + 1);
        }
        // `set` writes a new value's parts under the next generation before switching the header.
        if let Some(next) = old.map_or(0, Header::generation).checked_add(1) {
            self.delete_parts(key, next, 1);
        }
        Ok(())
    }

    /// Best effort: deletes parts `from`, `from + 1`, … of `generation` until one is absent.
    /// Parts are always written in order, so unreferenced ones are contiguous.
    fn delete_parts(&self, key: &str, generation: u64, from: usize) {
        for index in from..=MAX_PARTS {
            match self.entries.delete(&part_name(key, generation, index)) {
                Ok(true) => continue,
                Ok(false) => break,
                Err(err) => {
                    tracing::warn!(entry = %part_name(key, generation, index), error = %err, "keychain: could not delete an unused part");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_char_boundaries() {
        let value = "aé😀b".repeat(10);
        for max in [1, 2, 3, 4, 5, 7, 100] {
            let pieces = split(&value, max);
            assert_eq!(pieces.concat(), value);
            assert!(pieces.iter().all(|p| p.len() <= max.max(4)), "{max}: {pieces:?}");
        }
        assert!(split("", 10).is_empty());
    }

    #[test]
    fn header_parsing() {
        assert_eq!(Header::parse("inline:x"), Some(Header::Inline));
        assert_eq!(Header::parse("v3:chunks:2:1500"), Some(Header::Chunks { generation: 3, parts: 2, bytes: 1500 }));
        assert_eq!(Header::parse("v3:chunks:0:0"), None);
        assert_eq!(Header::parse("v3:chunks:2"), None);
        assert_eq!(Header::parse("hello"), None);
    }

    #[test]
    fn a_header_claiming_a_huge_length_is_corrupt_not_a_crash() {
        let chunked = Chunked::new(super::super::MemoryEntries::new("t"), 16);
        for header in ["v1:chunks:1:18446744073709551615", "v1:chunks:1:99999999999999", "v1:chunks:10000:9999999999"] {
            chunked.entries.set("k", header).unwrap();
            chunked.entries.set("k#g1#1", "0123456789abcdef").unwrap();
            let e = chunked.get("k").unwrap_err();
            assert!(matches!(e, KeychainError::Corrupt { .. }), "{header}: {e:?}");
        }
    }
}
