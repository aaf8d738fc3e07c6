//! Errno names for messages like `mount: ... (ENOENT)`. Only the errors an init can meet are named;
//! others print as their number, which keeps the table small.

/// (number, name) pairs. The numbers are the same on x86, x86_64 and ARM Linux.
const NAMES: &[(u16, &str)] = &[
    (1, "EPERM"), (2, "ENOENT"), (5, "EIO"), (6, "ENXIO"), (7, "E2BIG"), (8, "ENOEXEC"), (9, "EBADF"),
    (12, "ENOMEM"), (13, "EACCES"), (14, "EFAULT"), (15, "ENOTBLK"), (16, "EBUSY"), (17, "EEXIST"),
    (18, "EXDEV"), (19, "ENODEV"), (20, "ENOTDIR"), (21, "EISDIR"), (22, "EINVAL"), (24, "EMFILE"),
    (25, "ENOTTY"), (26, "ETXTBSY"), (27, "EFBIG"), (28, "ENOSPC"), (30, "EROFS"), (31, "EMLINK"),
    (36, "ENAMETOOLONG"), (38, "ENOSYS"), (39, "ENOTEMPTY"), (40, "ELOOP"), (61, "ENODATA"),
    (74, "EBADMSG"), (95, "EOPNOTSUPP"), (110, "ETIMEDOUT"), (116, "ESTALE"), (117, "EUCLEAN"),
    (122, "EDQUOT"), (123, "ENOMEDIUM"), (129, "EKEYREJECTED"),
];

/// The symbolic name of errno `number`, when it is one we name.
pub fn name(number: i32) -> Option<&'static str> {
    NAMES.iter().find(|(n, _)| i32::from(*n) == number).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use rustix::io::Errno;

    #[test]
    fn names_match_the_kernel_numbers() {
        for (errno, expected) in [
            (Errno::NOENT, "ENOENT"), (Errno::INVAL, "EINVAL"), (Errno::NOSPC, "ENOSPC"),
            (Errno::UCLEAN, "EUCLEAN"), (Errno::KEYREJECTED, "EKEYREJECTED"), (Errno::NOTEMPTY, "ENOTEMPTY"),
        ] {
            assert_eq!(super::name(errno.raw_os_error()), Some(expected));
        }
        assert_eq!(super::name(9999), None);
    }
}
