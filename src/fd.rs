//! `Fd`: an open file, closed when dropped, for the boot and for `update`; `open`, which makes one;
//! and `read_to_end`, which reads one whole into a buffer. Each unsafe line below has its reason.
#![allow(unsafe_code)]

use core::ffi::CStr;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd};
use rustix::io::Errno;

/// An open file, closed when dropped. Not rustix's `OwnedFd`, for two costs: without std its `as_fd`
/// asserts at every use that the descriptor is not -1 (a compare and a trap each, about 0.3 KB over
/// the boot), while this one holds the borrowed form, checked once when made; and on ARM its drop
/// inlines a close syscall wherever a descriptor goes out of scope (every `?` that leaves a function
/// with files open: about 40 places; +264 B when last measured), while this one closes through one
/// shared call there. On x86 the inline syscall is shorter than a call (out of line: +72 B on
/// x86_64, +136 B on i686).
pub struct Fd(BorrowedFd<'static>);

impl Drop for Fd {
    fn drop(&mut self) {
        close(self.0.as_raw_fd());
    }
}

#[cfg_attr(target_arch = "arm", inline(never))]
fn close(fd: rustix::fd::RawFd) {
    // SAFETY: only `Fd::drop` calls this, once: the descriptor is the `Fd`'s own, open until now, and
    // never used again.
    unsafe { rustix::io::close(fd) }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0
    }
}

impl Fd {
    /// The descriptor a raw syscall just returned (`rawsys::syscall_int`'s value: never negative,
    /// so never -1): how `open` and the init's `openat2` make an `Fd`.
    ///
    /// # Safety
    /// `fd` is open and owned by no one else: the `Fd` closes it when dropped.
    pub unsafe fn from_new(fd: u32) -> Fd {
        // SAFETY: the caller hands over an open descriptor and its ownership; it stays open until
        // `Fd::drop` closes it, and `as_fd` lends it for no longer than the `Fd` lives.
        Fd(unsafe { BorrowedFd::borrow_raw(fd as i32) })
    }
}

/// `openat(2)`, returning an [`Fd`]. The raw syscall (`rawsys`): rustix's `openat` hands back an
/// `OwnedFd` packed with the errno, and repacking that as an `Fd` took 0.1 KB of masks on x86_64
/// (-56 / +12 / -24 B over the three inits). O_LARGEFILE is added as rustix does. On 32-bit
/// targets inlined at every call (the optimizer did so anyway, but once asked, before it sizes the
/// callers: i686's `boot` is 48 B smaller); x86_64 keeps one shared copy (inlined there: +240 B).
#[cfg_attr(not(target_arch = "x86_64"), inline(always))]
pub fn open(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: rustix::fs::OFlags,
    mode: rustix::fs::Mode,
) -> Result<Fd, Errno> {
    use linux_raw_sys::general::{__NR_openat, __O_TMPFILE, O_CREAT};
    use rustix::fs::OFlags;
    // Linux reads the mode only for a file the call may create (O_CREAT or O_TMPFILE, tested by
    // the bit that is its own, as the kernel does: O_TMPFILE includes O_DIRECTORY). Where `open` is
    // inlined (32-bit targets) the flags are constants, and an open that creates nothing passes
    // three arguments: no register set for the mode, and on i686 no esi swap.
    let with_mode =
        !cfg!(target_pointer_width = "32") || flags.bits() & (O_CREAT | __O_TMPFILE) != 0;
    let (dir, path, flags) = (
        crate::rawsys::fd_arg(dir),
        path.as_ptr() as usize,
        (flags | OFlags::LARGEFILE).bits() as usize,
    );
    // SAFETY: openat reads the NUL-terminated `path` and writes no memory of ours.
    let fd = unsafe {
        if with_mode {
            crate::rawsys::syscall_int::<__NR_openat, _>([dir, path, flags, mode.bits() as usize])
        } else {
            crate::rawsys::syscall_int::<__NR_openat, _>([dir, path, flags])
        }
    }?;
    // SAFETY: openat returned a new descriptor: open, and ours alone.
    Ok(unsafe { Fd::from_new(fd) })
}

/// `open` to read (`O_RDONLY | O_CLOEXEC`, no mode), the most common form. On x86_64, where `open`
/// is out of line, one shared copy of those two arguments instead of both at each of its callers; on
/// 32-bit targets the same code as `open` written out there.
#[cfg_attr(target_arch = "x86_64", inline(never))]
#[cfg_attr(not(target_arch = "x86_64"), inline(always))]
pub fn open_read(dir: BorrowedFd<'_>, path: &CStr) -> Result<Fd, Errno> {
    open(
        dir,
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
}

/// Reads `file` to its end into `buf`, which need not be initialised (no 8 KiB of zeros written
/// first, in code and time): the bytes read, or `EFBIG` when `buf` fills before the end, so a
/// config list is never silently cut.
#[inline(always)]
pub fn read_to_end<'b>(
    file: BorrowedFd<'_>,
    buf: &'b mut [core::mem::MaybeUninit<u8>],
) -> Result<&'b [u8], Errno> {
    let mut len = 0;
    loop {
        let free = buf.get_mut(len..).unwrap_or(&mut []);
        if free.is_empty() {
            return Err(Errno::FBIG);
        }
        match rustix::io::read(file, free)?.0.len() {
            0 => break,
            n => len += n,
        }
    }
    // SAFETY: each read above wrote the `n` bytes it returned, right after the ones before: the first
    // `len` bytes of `buf` are initialised, and `len` is at most its length (each read wrote at most
    // the free part).
    Ok(unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::MaybeUninit;

    #[test]
    fn read_to_end_reads_whole_files_only() {
        let path = std::env::temp_dir().join(std::format!("read_to_end.{}", std::process::id()));
        std::fs::write(&path, b"abcdef").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut buf = [MaybeUninit::uninit(); 7];
        assert_eq!(read_to_end(file.as_fd(), &mut buf), Ok(&b"abcdef"[..]));
        // Exactly full is too small: the end cannot be seen.
        let file = std::fs::File::open(&path).unwrap();
        let mut buf = [MaybeUninit::uninit(); 6];
        assert_eq!(read_to_end(file.as_fd(), &mut buf), Err(Errno::FBIG));
        // An empty file is no bytes, not an error.
        std::fs::write(&path, b"").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        assert_eq!(read_to_end(file.as_fd(), &mut buf), Ok(&b""[..]));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn read_to_end_joins_short_reads() {
        use std::io::Write;
        // A socket gives what has arrived: the first read returns the first part only, and the
        // second part must land right after it.
        let (mut writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
        writer.write_all(b"abc").unwrap();
        let late = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            writer.write_all(b"def").unwrap();
        });
        let mut buf = [MaybeUninit::uninit(); 16];
        assert_eq!(read_to_end(reader.as_fd(), &mut buf), Ok(&b"abcdef"[..]));
        late.join().unwrap();
    }
}
