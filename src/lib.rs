//! The pure half of initramfs-overlay: everything that reads bytes or plans work, with no hardware.
//! It is `no_std` so the init links it, and `cargo test` runs it on the host. `src/main.rs` is the boot.
#![no_std]
#![feature(optimize_attribute)]
// i686: `rawsys` asks whether openat's folder is a constant (`is_val_statically_known`).
#![cfg_attr(
    target_arch = "x86",
    feature(core_intrinsics),
    allow(internal_features)
)]
#![deny(unsafe_op_in_unsafe_fn)]
// No unsafe code here, except two lines that `cpath` explains (a C string from bytes it has checked,
// and one from a C string's pointer), the raw syscall, i686's openat routine and division in
// `rawsys` and its use for fstatat64 in `filestat`, and the lines of `fd` (an owned descriptor held
// in borrowed form, and `read_to_end`'s slice of the bytes read).
#![deny(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod cmdline;
pub mod cpath;
pub mod devspec;
pub mod errnames;
pub mod ext4;
pub mod fd;
pub mod filestat;
pub mod log;
pub mod modlist;
pub mod numfmt;
pub mod partitions;
pub mod partname;
#[cfg(any(target_pointer_width = "32", target_arch = "x86_64"))]
pub mod rawsys;
pub mod sha256;
pub mod squashfs;
pub mod update;
pub mod vfat;

pub use filestat::{Stat, fstat, is_type, stat};

/// The little-endian `u16` at byte `at` of `bytes`, if all of it is there: a field of a superblock or
/// a partition table. One load (also on ARM, built without strict alignment); at a constant offset
/// into a fixed-size array the bounds check folds away.
#[inline(always)]
pub(crate) fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*bytes.get(at..)?.first_chunk()?))
}

/// The little-endian `u32` at byte `at` of `bytes`, as `le16`.
#[inline(always)]
pub(crate) fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*bytes.get(at..)?.first_chunk()?))
}

/// Whether `name` is no plain file name of at most `max` bytes: "", "." or "..", longer, or holding a
/// '/' or a NUL. One scan shared by the command line's `iovl.image=` (which can hold no NUL, and has
/// no limit of its own) and the update's stricter check.
#[inline(never)]
pub(crate) fn bad_file_name(name: &[u8], max: usize) -> bool {
    // "", "." and "..": at most two bytes, all dots.
    name.len() <= 2 && name.iter().all(|&c| c == b'.')
        || name.len() > max
        || name.iter().any(|&c| c == 0 || c == b'/')
}

/// Whether `bytes` holds `byte`: a plain loop, shared, instead of `<[u8]>::contains` (which inlines a
/// word-at-a-time memchr at each use).
#[inline(never)]
#[allow(clippy::manual_contains)]
pub(crate) fn has(bytes: &[u8], byte: u8) -> bool {
    bytes.iter().any(|&b| b == byte)
}

/// The position of `key` among the newline-terminated words of `words` (the table format `nth` reads);
/// the number of words when it is none of them, the index after the last (one register to return
/// and test, no `Option` beside it).
#[inline(never)]
pub(crate) fn lookup(words: &[u8], key: &[u8]) -> usize {
    // The bytes of `key` the current word matches so far; `usize::MAX` once it differs.
    let (mut index, mut matched) = (0, 0);
    for &b in words {
        if b == b'\n' {
            if matched == key.len() {
                break;
            }
            (index, matched) = (index + 1, 0);
        } else if key.get(matched) == Some(&b) {
            matched += 1;
        } else {
            matched = usize::MAX;
        }
    }
    index
}

/// How many entries `list` has: texts each ended by a newline, the table format of `nth` and
/// `lookup`. For constants: a table's length follows from its text.
pub const fn entries(list: &[u8]) -> usize {
    let (mut at, mut count) = (0, 0);
    while at < list.len() {
        if list[at] == b'\n' {
            count += 1;
        }
        at += 1;
    }
    count
}

/// The number of `entry` among the texts of `list`, each ended by a newline (the table format of
/// `nth`). For constants only: it fails the build when `list` does not hold it.
pub const fn entry_number(list: &[u8], entry: &[u8]) -> usize {
    let (mut start, mut number) = (0, 0);
    while start < list.len() {
        let mut at = 0;
        while start + at < list.len() && at < entry.len() && list[start + at] == entry[at] {
            at += 1;
        }
        if at == entry.len() && start + at < list.len() && list[start + at] == b'\n' {
            return number;
        }
        while start < list.len() && list[start] != b'\n' {
            start += 1;
        }
        (start, number) = (start + 1, number + 1);
    }
    panic!("an entry missing from its table");
}

/// The bytes of `text` that spell `part`, for a constant that is also part of a longer one: the
/// compiler stores each constant text whole, so one cut from another takes no bytes of its own. For
/// constants only: it fails the build when `part` is not in `text`.
pub const fn inside(text: &'static [u8], part: &[u8]) -> &'static [u8] {
    let mut start = 0;
    while start + part.len() <= text.len() {
        let candidate = text.split_at(start).1.split_at(part.len()).0;
        let mut at = 0;
        while at < part.len() && candidate[at] == part[at] {
            at += 1;
        }
        if at == part.len() {
            return candidate;
        }
        start += 1;
    }
    panic!("a text cut from a constant that does not hold it");
}

/// Entry `index` of `list`, texts each ended by a newline (one string holds a whole table of messages
/// without a pointer per entry); empty when there is no such entry. As bytes, which is how every
/// message is written: a `str` slice would check both ends for a char boundary.
#[inline(never)]
pub fn nth(list: &'static str, mut index: usize) -> &'static [u8] {
    // The list from the current entry on: each newline found drops one entry (one search loop, the
    // entry's end found as its length, no running start index).
    let mut rest = list.as_bytes();
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        if index == 0 {
            return rest.get(..end).unwrap_or_default();
        }
        index -= 1;
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    b""
}

#[cfg(test)]
mod tests {
    #[test]
    fn bad_file_names() {
        for good in [&b"a"[..], b"...", b"a.b", b".x", b"abc"] {
            assert!(!super::bad_file_name(good, 3), "{good:?}");
        }
        for bad in [&b""[..], b".", b"..", b"abcd", b"a/b", b"/", b"a\0b", b"\0"] {
            assert!(super::bad_file_name(bad, 3), "{bad:?}");
        }
        assert!(!super::bad_file_name(&[b'x'; 5000], usize::MAX));
    }

    #[test]
    fn packed_tables() {
        assert!(super::has(b"a/b", b'/') && !super::has(b"ab", b'/') && !super::has(b"", 0));
        let words = b"ro\nrw\nrootwait\n";
        assert_eq!(super::lookup(words, b"ro"), 0);
        assert_eq!(super::lookup(words, b"rootwait"), 2);
        for absent in [&b""[..], b"r", b"roo", b"rootwaitx", b"ro\nrw", b"\n"] {
            assert_eq!(super::lookup(words, absent), 3, "{absent:?}");
        }
        assert_eq!(super::nth("a\nbc\n", 0), b"a");
        assert_eq!(super::nth("a\nbc\n", 1), b"bc");
        assert_eq!(super::nth("a\nbc\n", 2), b"");
        assert_eq!(super::entries(b"a\nbc\n"), 2);
        assert_eq!(super::entries(b"\n.xz\n"), 2, "an empty entry counts");
        assert_eq!(super::entries(b""), 0);
        const WHOLE: &[u8] = b"rename the copy";
        const PART: &[u8] = super::inside(WHOLE, b"copy");
        assert_eq!(PART, b"copy");
        assert_eq!(
            PART.as_ptr(),
            WHOLE[11..].as_ptr(),
            "the bytes of the whole"
        );
    }

    /// The string literals of Rust source `src`, as written (escapes kept), each with the code before
    /// it (comments, other literals and whitespace left out), which tells the macro that takes it.
    /// Skips `//` and `/* */` comments and char literals such as `b'"'`; enough for this crate's
    /// sources, which have no raw strings.
    fn literals(src: &str) -> std::vec::Vec<(std::string::String, std::string::String)> {
        use std::string::String;
        let (b, mut at) = (src.as_bytes(), 0);
        let (mut code, mut found) = (String::new(), std::vec::Vec::new());
        let skip_past = |from: usize, end: &str| {
            src[from..]
                .find(end)
                .map_or(b.len(), |i| from + i + end.len())
        };
        while at < b.len() {
            match (b[at], b.get(at + 1).copied().unwrap_or(0)) {
                (b'/', b'/') => at = skip_past(at, "\n"),
                (b'/', b'*') => at = skip_past(at, "*/"),
                (b'"', _) => {
                    let mut end = at + 1;
                    while end < b.len() && b[end] != b'"' {
                        end += if b[end] == b'\\' { 2 } else { 1 };
                    }
                    found.push((src[at + 1..end].into(), code.clone()));
                    code.push('"');
                    at = end + 1;
                }
                // A char literal (a lifetime has no closing quote two bytes on).
                (b'\'', b'\\') => at = skip_past(at + 2, "'"),
                (b'\'', _) if b.get(at + 2) == Some(&b'\'') => at += 3,
                (c, _) => {
                    if !c.is_ascii_whitespace() {
                        code.push(c as char);
                    }
                    at += 1;
                }
            }
        }
        found
    }

    #[test]
    fn literals_of_source() {
        let src = "msg!(\n  \"a\\\"b\") // msg!(\"c\")\n/* msg!(\"d\") */ x(b'\"', '\\'', 'l) cannot!(\"e\")";
        let found = literals(src);
        let texts: std::vec::Vec<_> = found.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["a\\\"b", "e"]);
        assert!(found[0].1.ends_with("msg!(") && found[1].1.ends_with("cannot!("));
    }

    #[test]
    fn entry_numbers() {
        const LIST: &[u8] = b"ab\na\n\nb\n";
        assert_eq!(super::entry_number(LIST, b"ab"), 0);
        assert_eq!(
            super::entry_number(LIST, b"a"),
            1,
            "not the prefix of entry 0"
        );
        assert_eq!(super::entry_number(LIST, b""), 2);
        assert_eq!(super::entry_number(LIST, b"b"), 3);
    }

    /// The init's `logger.rs` (part of the binary, which host tests do not build) finds each
    /// `msg!("...")` and `cannot!("...")` in its `MESSAGES` table while compiling, so a message
    /// missing from the table fails the build. This checks the other way: every line of the table
    /// is there once and said somewhere. The standard and the debug build are checked as one, so a
    /// debug-only line moved into the standard part of the table would not be caught.
    #[test]
    fn every_boot_message_is_used() {
        use std::string::String;
        use std::vec::Vec;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut used: Vec<String> = Vec::new();
        let mut logger = String::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let src = std::fs::read_to_string(&path).unwrap();
            for (text, before) in literals(&src) {
                if before.ends_with("cannot!(") {
                    used.push(std::format!("\\x01{text}"));
                } else if before.ends_with("msg!(") {
                    used.push(text);
                }
            }
            if path.ends_with("logger.rs") {
                logger = src;
            }
        }
        let start = logger.find("macro_rules! debug_shell_messages").unwrap();
        let end = start + logger[start..].find("\n);\n").unwrap();
        // The table's literals, not the cfg attributes' (`feature = "debug-shell"`).
        let table: Vec<String> = literals(&logger[start..end])
            .into_iter()
            .filter(|(_, before)| !before.ends_with('='))
            .flat_map(|(text, _)| {
                let lines: Vec<String> = text.split_terminator("\\n").map(String::from).collect();
                lines
            })
            .collect();
        assert!(table.len() > 40, "{table:?}");
        for line in &table {
            assert!(
                used.contains(line),
                "MESSAGES line {line:?} is said nowhere"
            );
            let copies = table.iter().filter(|t| *t == line).count();
            assert_eq!(copies, 1, "MESSAGES line {line:?} is there {copies} times");
        }
        for text in &used {
            assert!(
                table.contains(text),
                "{text:?} is not in MESSAGES (the build would fail)"
            );
        }
    }
}
