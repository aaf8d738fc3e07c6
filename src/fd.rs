//! `Fd`: an open file, closed when dropped, for the boot and for `update`. The only unsafe code here
//! is its two lines below, each with its reason.
#![allow(unsafe_code)]

use core::ffi::CStr;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd};
use rustix::io::Errno;

/// An open file, closed when dropped. Not rustix's `OwnedFd`, for two costs: without std its `as_fd`
/// asserts at every use that the descriptor is not -1 (a compare and a trap each, about 0.3 KB over
/// the boot), while this one holds the borrowed form, checked once when made; and on ARM its drop
/// inlines a 20-byte close syscall wherever a descriptor goes out of scope (every `?` that leaves a
/// function with files open: about 40 places), while this one closes through one shared call there.
/// On x86 the inline syscall is as short as a call.
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

impl From<rustix::fd::OwnedFd> for Fd {
    fn from(fd: rustix::fd::OwnedFd) -> Fd {
        use rustix::fd::IntoRawFd;
        // SAFETY: `into_raw_fd` hands over an open descriptor (never -1) and its ownership: it stays
        // open until `Fd::drop` closes it, and `as_fd` lends it for no longer than the `Fd` lives.
        Fd(unsafe { BorrowedFd::borrow_raw(fd.into_raw_fd()) })
    }
}

/// `openat(2)`, returning an [`Fd`]. Inlined into each caller around one shared call that returns
/// a plain integer: a `Result<Fd, Errno>` is 8 bytes, which 32-bit targets return through memory (a
/// stack slot, a pointer argument and loads of the tag and value at every call), while an `i32`
/// comes back in a register.
#[cfg_attr(target_pointer_width = "32", inline(always))]
pub fn open(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: rustix::fs::OFlags,
    mode: rustix::fs::Mode,
) -> Result<Fd, Errno> {
    let fd_or_errno = openat_raw(dir, path, flags, mode);
    // Errors are -4095..-1: said as a range, it spares `Errno`'s own check of it (and its trap).
    if (-4095..0).contains(&fd_or_errno) {
        return Err(Errno::from_raw_os_error(fd_or_errno.wrapping_neg()));
    }
    // SAFETY: any other value is the descriptor `openat_raw` just opened and handed over with
    // `into_raw_fd` (never negative): it stays open until `Fd::drop` closes it, as in `From<OwnedFd>`.
    Ok(Fd(unsafe { BorrowedFd::borrow_raw(fd_or_errno) }))
}

/// `openat(2)`: the new descriptor, now the caller's to close, or the negated errno (-4095..-1).
#[cfg_attr(target_pointer_width = "32", inline(never))]
fn openat_raw(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: rustix::fs::OFlags,
    mode: rustix::fs::Mode,
) -> i32 {
    use rustix::fd::IntoRawFd;
    match rustix::fs::openat(dir, path, flags, mode) {
        Ok(fd) => fd.into_raw_fd(),
        Err(e) => e.raw_os_error().wrapping_neg(),
    }
}
