//! Small file helpers shared by the boot steps: whole-file reads into stack buffers, directories that
//! may already exist, and a bounded recursive delete that never leaves its filesystem.

use crate::sys::{Fd, open, open_read};
use core::mem::MaybeUninit;
use initramfs_overlay::cpath::CText;
use linux_raw_sys::general::S_IFDIR;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RawDir};
use rustix::io::Errno;

/// Opens a directory (relative to `dir`) for use as the base of `*at` calls. Inlined on 32-bit
/// targets, where its 8-byte `Result<Fd, Errno>` would come back through memory: a stack slot and
/// tag loads at each caller.
#[cfg_attr(target_pointer_width = "32", inline(always))]
#[optimize(size)]
pub fn open_dir(dir: BorrowedFd<'_>, path: &core::ffi::CStr) -> Result<Fd, Errno> {
    open(
        dir,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Reads a whole small file into `buf` and returns its bytes; a file longer than `buf` is `EFBIG`
/// (see `read_to_end`).
#[optimize(size)]
pub fn read_small<'b>(
    dir: BorrowedFd<'_>,
    path: &core::ffi::CStr,
    buf: &'b mut [MaybeUninit<u8>],
) -> Result<&'b [u8], Errno> {
    let fd = open_read(dir, path)?;
    initramfs_overlay::fd::read_to_end(fd.as_fd(), buf)
}

/// `mkdir` that accepts an existing directory (and only a directory). The path is one pointer: its
/// length, which no system call needs, is not passed along.
#[optimize(size)]
pub fn ensure_dir(dir: BorrowedFd<'_>, path: CText<'_>) -> Result<(), Errno> {
    let path = path.as_c_str();
    match rustix::fs::mkdirat(dir, path, Mode::from_raw_mode(0o755)) {
        // A directory only if it opens as one without following a symlink (O_PATH: nothing is read);
        // anything else, a symlink to a directory too, fails with ENOTDIR. Closed right away.
        Err(Errno::EXIST) => open(
            dir,
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map(drop),
        other => other,
    }
}

/// Deletes everything inside `dir` without crossing into other filesystems (entries on another
/// device are mount points and stay), like klibc's run-init does to free the initramfs. It goes on
/// past an entry it cannot delete (a folder that holds a mount point, say) and returns the first error.
/// `device` is `st_dev` cut to 32 bits: the kernel's device numbers have 32 (12 major, 20 minor), so
/// the cut is exact and spares 32-bit targets their 64-bit compares and register pairs.
#[optimize(size)]
fn empty_dir(dir: BorrowedFd<'_>, device: u32) -> Result<(), Errno> {
    let mut buf = DirBuf::<1024>::uninit();
    let mut entries = RawDir::new(dir, &mut buf.bytes);
    let mut first_error = Ok(());
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        // `and` keeps an earlier error, but the entry is removed either way.
        first_error = first_error.and(remove_entry(dir, name, device));
    }
    first_error
}

/// A getdents buffer aligned as the kernel's entries are: `RawDir::new` then has no start to skip,
/// and the alignment arithmetic folds away. That is `linux_dirent64`'s own alignment (the empty
/// array), not a fixed 8: it is 4 on i686, whose stack is only 4-byte aligned (see
/// .cargo/config.toml), and a local aligned to 8 makes its function realign the stack.
#[repr(C)]
pub struct DirBuf<const N: usize> {
    _aligned: [linux_raw_sys::general::linux_dirent64; 0],
    pub bytes: [MaybeUninit<u8>; N],
}

impl<const N: usize> DirBuf<N> {
    /// A buffer for `RawDir::new`, which needs no zeroed one.
    pub fn uninit() -> Self {
        DirBuf {
            _aligned: [],
            bytes: [MaybeUninit::uninit(); N],
        }
    }
}

/// Removes one entry of `dir` (a folder with its contents), unless it lives on another device.
fn remove_entry(dir: BorrowedFd<'_>, name: &core::ffi::CStr, device: u32) -> Result<(), Errno> {
    let st = initramfs_overlay::stat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if st.st_dev as u32 != device {
        return Ok(());
    }
    let (mut flags, mut emptied) = (AtFlags::empty(), Ok(()));
    if initramfs_overlay::is_type(st.st_mode, S_IFDIR) {
        (flags, emptied) = (AtFlags::REMOVEDIR, empty_dir_at(dir, name, device));
    }
    rustix::fs::unlinkat(dir, name, flags).and(emptied)
}

/// `empty_dir` on the folder `name` of `dir`: the one way a folder is opened and emptied, by the
/// recursion and by every caller (the initramfs, the trash, a full overlay partition's folders).
#[optimize(size)]
pub fn empty_dir_at(dir: BorrowedFd<'_>, name: &core::ffi::CStr, device: u32) -> Result<(), Errno> {
    empty_dir(open_dir(dir, name)?.as_fd(), device)
}
