//! Errno names for messages like `mount: ... (ENOENT)`. Only the errors an init can meet are named;
//! others print as their number, which keeps the table small.

/// The numbers we name, and their names in the same order in one string, each ended by a newline:
/// no per-entry pointers (16 bytes each on 64-bit). The numbers are the same on x86, x86_64 and ARM Linux.
const NUMBERS: [u8; 38] = [
    1, 2, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 25, 26, 27, 28, 30, 31,
    36, 38, 39, 40, 61, 74, 95, 110, 116, 117, 122, 123, 129,
];
const NAMES: &str = "EPERM\nENOENT\nEIO\nENXIO\nE2BIG\nENOEXEC\nEBADF\nENOMEM\nEACCES\nEFAULT\nENOTBLK\nEBUSY\n\
    EEXIST\nEXDEV\nENODEV\nENOTDIR\nEISDIR\nEINVAL\nEMFILE\nENOTTY\nETXTBSY\nEFBIG\nENOSPC\nEROFS\nEMLINK\n\
    ENAMETOOLONG\nENOSYS\nENOTEMPTY\nELOOP\nENODATA\nEBADMSG\nEOPNOTSUPP\nETIMEDOUT\nESTALE\nEUCLEAN\nEDQUOT\n\
    ENOMEDIUM\nEKEYREJECTED\n";

/// The name of errno `number`, or its decimal number (written into `buf`) when we name none: the
/// text between the parentheses of `... (ENOENT)`.
#[inline(never)]
#[optimize(size)]
pub fn text(number: i32, buf: &mut [u8; crate::numfmt::DEC_LEN]) -> &[u8] {
    // Not through `name`: its `Option` would be tested again.
    match index(number) {
        Some(index) => crate::nth(NAMES, index),
        None => crate::numfmt::dec(u64::from(number.unsigned_abs()), buf),
    }
}

/// The symbolic name of errno `number`, when it is one we name.
#[optimize(size)]
pub fn name(number: i32) -> Option<&'static [u8]> {
    Some(crate::nth(NAMES, index(number)?))
}

/// The position of errno `number` in `NUMBERS` and `NAMES`, when we name it.
#[optimize(size)]
fn index(number: i32) -> Option<usize> {
    NUMBERS.iter().position(|&n| i32::from(n) == number)
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
        let mut buf = [0; crate::numfmt::DEC_LEN];
        assert_eq!(super::text(2, &mut buf), b"ENOENT");
        assert_eq!(super::text(9999, &mut buf), b"9999");
        assert_eq!(super::name(0), None);
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
