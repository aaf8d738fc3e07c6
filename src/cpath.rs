//! Paths and other NUL-terminated strings built on the stack, since the init has no allocator.

use core::ffi::CStr;
use core::marker::PhantomData;

/// Longest string we build: PATH_MAX would waste stack, and our paths are short.
const CAP: usize = 256;

/// A NUL-terminated byte string assembled from parts.
// The two bytes before the buffer (repr(C)): at offsets 0 and 1 they are reached with the shortest
// forms, not past 256 bytes (on Thumb that offset takes a register of its own).
#[repr(C)]
pub struct CPath {
    /// Every byte of the parts went in: none was a NUL, nothing was cut.
    whole: bool,
    /// At most `CAP - 1`: a byte, which with `whole` keeps the struct as small as with one `usize`.
    len: u8,
    buf: [u8; CAP],
}

impl CPath {
    /// Joins `parts` as they are (no separators added), for a path: `whole` then says whether all of
    /// it went in. `lossy` under the name that says the path is checked before use.
    #[inline(always)]
    pub fn new(parts: &[&[u8]]) -> CPath {
        CPath::lossy(parts)
    }

    /// Joins as much of `parts` as fits, for messages: never fails, cuts a long text and drops NULs,
    /// which a C string cannot carry.
    #[inline(never)]
    pub fn lossy(parts: &[&[u8]]) -> CPath {
        // Filled in the struct that is returned: a local buffer moved into it was one more copy (ARM).
        let mut path = CPath {
            buf: [0; CAP],
            len: 0,
            whole: true,
        };
        // The last byte stays 0: the terminator.
        let (len, whole) = append(&mut path.buf, 0, parts);
        // `append` leaves the last byte free: below `CAP`, the length fits a byte.
        path.len = len as u8;
        path.whole = whole;
        path
    }

    /// The path when all of its parts went in, `None` when one held a NUL or it did not fit. A check
    /// of the path made, not a constructor returning an `Option<CPath>`: moving the path into the
    /// `Option` copied its 256 bytes.
    #[inline(always)]
    pub fn whole(&self) -> Option<&CPath> {
        self.whole.then_some(self)
    }

    /// Inlined: a pointer and a length byte at each use (ARM: -80 B, i686: -24 B, x86_64: -16 B,
    /// where a shared copy was smaller until the other steps shrank).
    #[inline(always)]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Whether both hold the same text: their whole buffers compared, one fixed-size compare, no
    /// lengths (past its text a buffer holds zeros, and a text holds none).
    #[inline(always)]
    pub fn same_text(&self, other: &CPath) -> bool {
        self.buf == other.buf
    }

    /// Inlined: with a byte for `len` the range is always in bounds, so this is the pointer and
    /// `len + 1`, fewer bytes than a call at each of the many system calls taking a path.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub fn as_cstr(&self) -> &CStr {
        let with_nul = self.buf.get(..=usize::from(self.len)).unwrap_or(b"\0");
        // SAFETY: `lossy`, the only constructor, keeps `len < CAP`, never writes a NUL, and leaves the
        // zeroed byte at `len`: `with_nul` ends in its only NUL. (The checked constructors scan the
        // bytes again: 0.1 to 0.25 KB of core code for a fact this type already guarantees.)
        unsafe { CStr::from_bytes_with_nul_unchecked(with_nul) }
    }
}

/// Appends `parts` to `buf` from `len` on, as much as fits with the last byte left free, dropping NULs
/// (a C string or a log line cannot carry them): the join behind paths, log lines and the status
/// file. Returns the new length and whether every byte went in.
#[inline(never)]
#[optimize(size)]
pub fn append(buf: &mut [u8], mut len: usize, parts: &[&[u8]]) -> (usize, bool) {
    let mut whole = true;
    let room = match buf.split_last_mut() {
        Some((_, room)) => room,
        None => &mut [],
    };
    for &(mut part) in parts {
        // A slice pattern, not a byte iterator (on ARM that is an out-of-line core helper).
        while let [byte, rest @ ..] = part {
            match room.get_mut(len) {
                Some(slot) if *byte != 0 => {
                    *slot = *byte;
                    len += 1;
                }
                _ => whole = false,
            }
            part = rest;
        }
    }
    (len, whole)
}

/// A C string as one pointer: `&CStr` is a pointer and a length, so every path or name passed as
/// one costs a register (and its load) at each of the many call sites; the length is found once,
/// where the text is used (`strlen` is a few bytes, see the init's mem.rs).
#[derive(Clone, Copy)]
pub struct CText<'a>(*const core::ffi::c_char, PhantomData<&'a CStr>);

impl<'a> CText<'a> {
    #[inline(always)]
    pub const fn new(text: &'a CStr) -> CText<'a> {
        CText(text.as_ptr(), PhantomData)
    }

    /// The C string again: its length is counted here, so only where it is used. With `strlen`
    /// itself, not `CStr::from_ptr` (a call the optimizer cannot see into): a caller that passes
    /// the string on to a syscall, which takes its pointer alone, counts nothing.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub fn as_c_str(self) -> &'a CStr {
        unsafe extern "C" {
            fn strlen(text: *const core::ffi::c_char) -> usize;
        }
        // SAFETY: `new`, the only constructor, takes the pointer from a `&'a CStr`: it points to a
        // NUL-terminated string that lives for 'a, which `strlen` reads up to its NUL, `len` bytes
        // on: the bytes with the NUL are the C string.
        unsafe {
            let len = strlen(self.0);
            CStr::from_bytes_with_nul_unchecked(core::slice::from_raw_parts(self.0.cast(), len + 1))
        }
    }

    /// Inlined: a `strlen` call where it is used, as short as a call of a shared copy.
    #[inline(always)]
    pub fn to_bytes(self) -> &'a [u8] {
        self.as_c_str().to_bytes()
    }
}

impl<'a> From<&'a CStr> for CText<'a> {
    #[inline(always)]
    fn from(text: &'a CStr) -> CText<'a> {
        CText::new(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_parts_into_a_c_string() {
        let p = CPath::new(&[b"/dev/", b"vda1"]);
        let p = p.whole().unwrap();
        assert_eq!(p.as_cstr(), c"/dev/vda1");
        assert_eq!(p.as_bytes(), b"/dev/vda1");
    }

    #[test]
    fn lossy_join_cuts_instead_of_failing() {
        assert_eq!(CPath::lossy(&[b"a", b"\0b"]).as_bytes(), b"ab");
        assert_eq!(CPath::lossy(&[&[b'x'; 2 * CAP]]).as_bytes().len(), CAP - 1);
    }

    #[test]
    fn every_join_is_a_c_string_of_its_bytes() {
        let long = [b'x'; 2 * CAP];
        for parts in [
            &[][..],
            &[&b""[..]],
            &[b"\0\0"],
            &[b"a", b"\0b\0"],
            &[&long[..CAP - 1]],
            &[&long[..]],
        ] {
            let path = CPath::lossy(parts);
            assert_eq!(path.as_cstr().to_bytes(), path.as_bytes());
            assert_eq!(
                path.as_cstr().to_bytes_with_nul().len(),
                path.as_bytes().len() + 1
            );
        }
    }

    #[test]
    fn append_keeps_the_last_byte_free_and_drops_nuls() {
        let mut buf = [0u8; 5];
        assert_eq!(append(&mut buf, 1, &[b"ab", b"cd"]), (4, false));
        assert_eq!(&buf, b"\0abc\0");
        assert_eq!(append(&mut buf, 0, &[b"x\0y"]), (2, false));
        assert_eq!(append(&mut buf, 0, &[b"x", b"", b"y"]), (2, true));
        assert_eq!(append(&mut [], 0, &[b"x"]), (0, false));
    }

    #[test]
    fn same_text_compares_the_texts() {
        let path = |parts: &[&[u8]]| CPath::new(parts);
        assert!(path(&[b"/dev/", b"vda1"]).same_text(&path(&[b"/dev/vda1"])));
        assert!(!path(&[b"/dev/vda"]).same_text(&path(&[b"/dev/vda1"])));
        assert!(!path(&[b"/dev/vda1"]).same_text(&path(&[b"/dev/vda"])));
        assert!(!path(&[b"/dev/vda1"]).same_text(&path(&[b"/dev/vdb1"])));
        assert!(path(&[b""]).same_text(&path(&[])));
        // A NUL dropped from a part, as `as_bytes` shows it.
        assert!(path(&[b"a\0b"]).same_text(&path(&[b"ab"])));
    }

    #[test]
    fn c_text_is_its_c_string() {
        assert_eq!(CText::new(c"cannot open ").to_bytes(), b"cannot open ");
        assert_eq!(CText::new(c"").to_bytes(), b"");
    }

    #[test]
    fn refuses_nul_and_overlong_parts() {
        assert!(CPath::new(&[b"a\0b"]).whole().is_none());
        assert!(CPath::new(&[&[b'x'; CAP]]).whole().is_none());
        assert!(CPath::new(&[&[b'x'; CAP - 1]]).whole().is_some());
        assert!(CPath::new(&[b"ab", b"", b"c"]).whole().is_some());
    }
}
