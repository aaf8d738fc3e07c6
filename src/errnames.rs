//! Errno names for messages like `mount: ... (ENOENT)`. Only the errors an init can meet are named;
//! others print as their number, which keeps the table small.

/// The numbers we name, and their names in the same order in one string, each ended by a newline:
/// no per-entry pointers (16 bytes each on 64-bit). The numbers are the same on x86, x86_64 and ARM Linux.
/// Only `TABLE`, made of both, is in the init.
const NUMBERS: [u8; 38] = [
    1, 2, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 25, 26, 27, 28, 30, 31,
    36, 38, 39, 40, 61, 74, 95, 110, 116, 117, 122, 123, 129,
];
const NAMES: &str = "EPERM\nENOENT\nEIO\nENXIO\nE2BIG\nENOEXEC\nEBADF\nENOMEM\nEACCES\nEFAULT\nENOTBLK\nEBUSY\n\
    EEXIST\nEXDEV\nENODEV\nENOTDIR\nEISDIR\nEINVAL\nEMFILE\nENOTTY\nETXTBSY\nEFBIG\nENOSPC\nEROFS\nEMLINK\n\
    ENAMETOOLONG\nENOSYS\nENOTEMPTY\nELOOP\nENODATA\nEBADMSG\nEOPNOTSUPP\nETIMEDOUT\nESTALE\nEUCLEAN\nEDQUOT\n\
    ENOMEDIUM\nEKEYREJECTED\n";

/// `NAMES` as it is stored: each name without its leading `E` and after its number plus `MARK`, built
/// at compile time. A name is found by one search for its number's byte, with no index into a second
/// table; `MARK` puts every number's byte (0x7F to 0xFF) above every name byte (digits and capitals).
const MARK: u8 = 0x7E;
const TABLE: [u8; NAMES.len() - NUMBERS.len()] = marked();

const fn marked() -> [u8; NAMES.len() - NUMBERS.len()] {
    let names = NAMES.as_bytes();
    let mut table = [0; NAMES.len() - NUMBERS.len()];
    // Each entry's `E` gives way to its number's byte, and its newline goes.
    let (mut at, mut len, mut entry) = (0, 0, 0);
    while at < names.len() {
        if at == 0 || names[at - 1] == b'\n' {
            assert!(names[at] == b'E');
            table[len] = NUMBERS[entry] + MARK;
            entry += 1;
            len += 1;
        } else if names[at] != b'\n' {
            table[len] = names[at];
            len += 1;
        }
        at += 1;
    }
    // Every byte filled: a stray 0 would read as part of the last name.
    assert!(len == table.len() && entry == NUMBERS.len());
    table
}

/// ` (<name>)` for errno `number`, or ` (<decimal number>)` when we name none, written into `buf`: how
/// a failure's line ends, as one part of it (each part is a pointer and a length stored at every
/// line). (Errnos are positive; a negative number is read as its absolute value, as the decimal
/// shows it.)
#[inline(never)]
#[optimize(size)]
pub fn text(number: i32, buf: &mut crate::numfmt::Digits) -> &[u8] {
    let number = number.unsigned_abs();
    // Made here, then copied out as the bytes returned (`buf` comes uninitialised, see `digits`).
    let mut line = [0; crate::numfmt::DEC_LEN];
    // The name from its number's byte on, after ` (E`; or else the digits, after ` (`.
    let (mut from, mut len) = match TABLE
        .iter()
        .position(|&b| u32::from(b) == number + u32::from(MARK))
    {
        Some(at) => (TABLE.get(at + 1..).unwrap_or_default(), 3),
        // The digits in `buf` for now: they are copied into `line` before it is written there.
        None => (crate::numfmt::dec(u64::from(number), buf), 2),
    };
    if let Some(head) = line.first_chunk_mut() {
        *head = *b" (E";
    }
    // Up to the next number's byte (no digit is one), then the `)`. At most 15 bytes: all fit.
    while let [b @ ..MARK, rest @ ..] = from {
        if let Some(slot) = line.get_mut(len) {
            *slot = *b;
            len += 1;
        }
        from = rest;
    }
    if let Some(slot) = line.get_mut(len) {
        *slot = b')';
        len += 1;
    }
    let line: &[u8] = buf.write_copy_of_slice(&line);
    line.get(..len).unwrap_or_default()
}

/// The symbolic name of errno `number`, when it is one we name.
#[cfg(test)]
fn name(number: i32) -> Option<&'static [u8]> {
    let mut buf = crate::numfmt::digits();
    let text = text(number, &mut buf)
        .strip_prefix(b" (")?
        .strip_suffix(b")")?;
    let named = text.first() == Some(&b'E');
    named.then(|| {
        NAMES
            .lines()
            .find(|n| n.as_bytes() == text)
            .unwrap()
            .as_bytes()
    })
}

#[cfg(test)]
mod tests {
    use rustix::io::Errno;

    #[test]
    fn names_match_the_kernel_numbers() {
        for (errno, expected) in [
            (Errno::NOENT, "ENOENT"),
            (Errno::INVAL, "EINVAL"),
            (Errno::NOSPC, "ENOSPC"),
            (Errno::UCLEAN, "EUCLEAN"),
            (Errno::KEYREJECTED, "EKEYREJECTED"),
            (Errno::NOTEMPTY, "ENOTEMPTY"),
        ] {
            assert_eq!(super::name(errno.raw_os_error()), Some(expected.as_bytes()));
        }
        // The whole table against rustix's numbers for this host.
        let all = [
            Errno::PERM,
            Errno::NOENT,
            Errno::IO,
            Errno::NXIO,
            Errno::TOOBIG,
            Errno::NOEXEC,
            Errno::BADF,
            Errno::NOMEM,
            Errno::ACCESS,
            Errno::FAULT,
            Errno::NOTBLK,
            Errno::BUSY,
            Errno::EXIST,
            Errno::XDEV,
            Errno::NODEV,
            Errno::NOTDIR,
            Errno::ISDIR,
            Errno::INVAL,
            Errno::MFILE,
            Errno::NOTTY,
            Errno::TXTBSY,
            Errno::FBIG,
            Errno::NOSPC,
            Errno::ROFS,
            Errno::MLINK,
            Errno::NAMETOOLONG,
            Errno::NOSYS,
            Errno::NOTEMPTY,
            Errno::LOOP,
            Errno::NODATA,
            Errno::BADMSG,
            Errno::OPNOTSUPP,
            Errno::TIMEDOUT,
            Errno::STALE,
            Errno::UCLEAN,
            Errno::DQUOT,
            Errno::NOMEDIUM,
            Errno::KEYREJECTED,
        ];
        for (errno, expected) in all.iter().zip(super::NAMES.lines()) {
            assert_eq!(super::name(errno.raw_os_error()), Some(expected.as_bytes()));
        }
        assert_eq!(super::name(9999), None);
        let mut buf = crate::numfmt::digits();
        assert_eq!(super::text(2, &mut buf), b" (ENOENT)");
        assert_eq!(super::text(9999, &mut buf), b" (9999)");
        assert_eq!(super::text(i32::MIN, &mut buf), b" (2147483648)");
        // The logger passes the negated errno.
        assert_eq!(super::text(-2, &mut buf), b" (ENOENT)");
        assert_eq!(super::text(-9999, &mut buf), b" (9999)");
        assert_eq!(super::text(i32::MAX, &mut buf), b" (2147483647)");
        assert_eq!(super::name(0), None);
        // Every other number, up to past the byte range of the table, prints as its decimal.
        for n in 0..1000 {
            if !super::NUMBERS.contains(&(n as u8)) || n > 255 {
                let mut buf = crate::numfmt::digits();
                assert_eq!(super::text(n, &mut buf), std::format!(" ({n})").as_bytes());
            }
        }
        assert_eq!(crate::nth("a\nbc\n", 1), b"bc");
        assert_eq!(crate::nth("a\nbc\n", 2), b"");
        // Every number has its name, in order.
        assert_eq!(super::NAMES.lines().count(), super::NUMBERS.len());
        for (i, n) in super::NUMBERS.iter().enumerate() {
            let expected = super::NAMES.lines().nth(i).map(str::as_bytes);
            assert_eq!(super::name(i32::from(*n)), expected);
        }
    }
}
