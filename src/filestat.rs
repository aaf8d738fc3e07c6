//! `stat(2)` for the init, which reads six of its fields (device, inode, mode, link count, size,
//! blocks).
//!
//! 64-bit targets get them from rustix's `fstatat`/`fstat`, a plain syscall each. On 32-bit targets
//! rustix calls statx, converts every field of it with overflow checks, and falls back to fstatat64
//! (with a second conversion) on kernels before 4.11: 1.1 KB of code on i686, 0.7 KB on ARM, for
//! six numbers. fstatat64 itself exists on every kernel and its `stat64` already holds 64-bit sizes,
//! so there it is called directly, through `rawsys`.

use core::ffi::CStr;
use rustix::fd::BorrowedFd;
use rustix::fs::AtFlags;
use rustix::io;

/// rustix's own `Stat` where it is a plain syscall's result.
#[cfg(target_pointer_width = "64")]
pub use rustix::fs::Stat;

/// The kernel's own `stat64`, which fstatat64 fills in place: the fields the init reads have the
/// names and types of rustix's 32-bit `Stat` (which cannot be built outside rustix), so callers are
/// the same on every target.
#[cfg(target_pointer_width = "32")]
pub use linux_raw_sys::general::stat64 as Stat;

/// Whether a stat mode's file-type bits are `kind` (`S_IFDIR`, `S_IFREG`, ...), compared in place:
/// rustix's `FileType::from_raw_mode` is an out-of-line match over every file type.
pub fn is_type(mode: u32, kind: u32) -> bool {
    mode & linux_raw_sys::general::S_IFMT == kind
}

/// `fstatat(2)`: every stat of the init goes through here. Inlined on x86_64, where it is rustix's
/// plain syscall: each caller reads its few fields from its own buffer, where a shared call copied
/// all 144 bytes into its result first (-144 B). One shared call on 32-bit targets (inlined: i686
/// the same, ARM +24 B).
#[cfg_attr(target_arch = "x86_64", inline(always))]
#[cfg_attr(not(target_arch = "x86_64"), inline(never))]
pub fn stat(dir: BorrowedFd<'_>, path: &CStr, flags: AtFlags) -> io::Result<Stat> {
    #[cfg(target_pointer_width = "64")]
    {
        rustix::fs::statat(dir, path, flags)
    }
    #[cfg(target_pointer_width = "32")]
    {
        raw::fstatat64(dir, path, flags)
    }
}

/// `fstat(2)`: `stat` of the descriptor itself on 32-bit targets (`AT_EMPTY_PATH`), the plain
/// syscall on 64-bit ones.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    #[cfg(target_pointer_width = "64")]
    {
        rustix::fs::fstat(fd)
    }
    #[cfg(target_pointer_width = "32")]
    {
        stat(fd, c"", AtFlags::EMPTY_PATH)
    }
}

#[cfg(target_pointer_width = "32")]
#[allow(unsafe_code)]
mod raw {
    use super::Stat;
    use core::ffi::CStr;
    use core::mem::MaybeUninit;
    use linux_raw_sys::general::{__NR_fstatat64, stat64};
    use rustix::fd::{AsRawFd, BorrowedFd};
    use rustix::fs::AtFlags;
    use rustix::io;

    pub fn fstatat64(dir: BorrowedFd<'_>, path: &CStr, flags: AtFlags) -> io::Result<Stat> {
        let mut st = MaybeUninit::<stat64>::uninit();
        let args = [
            dir.as_raw_fd() as usize,
            path.as_ptr() as usize,
            st.as_mut_ptr() as usize,
            flags.bits() as usize,
        ];
        // SAFETY: fstatat64(dirfd, path, buf, flags) reads the NUL-terminated `path` and writes one
        // `stat64` to `buf`, which points to one; it touches no other memory.
        unsafe { crate::rawsys::syscall_int::<__NR_fstatat64, _>(args) }?;
        // SAFETY: the syscall succeeded, so it filled `st`.
        Ok(unsafe { st.assume_init() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::CWD;

    /// The fields the init reads, as numbers of one type, to compare with std's view.
    fn fields(st: &Stat) -> [u64; 6] {
        [
            st.st_dev,
            st.st_ino,
            st.st_mode.into(),
            st.st_nlink,
            st.st_size as u64,
            st.st_blocks as u64,
        ]
    }

    #[test]
    fn reads_what_std_reads() {
        use std::os::unix::fs::MetadataExt;
        for path in [c"/proc/self/exe", c"/", c"/dev/null"] {
            let std = std::fs::metadata(path.to_str().unwrap()).unwrap();
            let theirs = [
                std.dev(),
                std.ino(),
                std.mode().into(),
                std.nlink(),
                std.size(),
                std.blocks(),
            ];
            assert_eq!(
                fields(&stat(CWD, path, AtFlags::empty()).unwrap()),
                theirs,
                "{path:?}"
            );
            let file = std::fs::File::open(path.to_str().unwrap()).unwrap();
            assert_eq!(
                fields(&fstat(rustix::fd::AsFd::as_fd(&file)).unwrap()),
                theirs,
                "{path:?}"
            );
        }
        assert_eq!(
            stat(CWD, c"/no/such/file", AtFlags::empty()).unwrap_err(),
            io::Errno::NOENT
        );
    }
}
