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

/// `openat(2)`, returning an [`Fd`].
pub fn open(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: rustix::fs::OFlags,
    mode: rustix::fs::Mode,
) -> Result<Fd, Errno> {
    rustix::fs::openat(dir, path, flags, mode).map(Fd::from)
}
