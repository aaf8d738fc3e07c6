//! The end-to-end harness: boots the initramfs that `just build` produced on real Debian kernels in
//! QEMU (x86_64 and i686 under TCG, armv6l on `-M raspi0`) and checks what the booted guest reports.
//!
//! - [`setup`] installs the host tools when they are missing (Debian packages, as root).
//! - [`kernels`] fetches the four Debian kernels with the packer's private apt configuration
//!   (`packer::apt`), unpacks them, runs depmod, extracts the ELF vmlinux for PVH boots and
//!   patches the Raspberry Pi Zero device tree for QEMU.
//! - [`guest`] is the test OS: a busybox shell script as `/sbin/init` that prints `E2E key=value`
//!   lines and powers off, and the parser for those lines.
//! - [`images`] builds squashfs, ext4 and vfat images and GPT/MBR disks without mounting anything.
//! - [`shim`] builds the seccomp shim (`tests/fixtures/no-loop-configure.c`) that makes LOOP_CONFIGURE
//!   fail as on kernels before 5.8, as an extra cpio for the initrd.
//! - [`qemu`] runs one bounded QEMU boot, with a console you can read and type into and an
//!   optional monitor socket.
//! - [`world`] is the shared setup (once per process, locked across processes) and the per-scenario
//!   helpers; [`report`] collects the summary table.

pub mod guest;
pub mod images;
pub mod kernels;
pub mod qemu;
pub mod report;
pub mod setup;
pub mod shim;
pub mod util;
pub mod world;

/// Errors are messages: every one names what failed and where its log is.
pub type R<T> = Result<T, String>;

/// `bail!("...")`: return early with a formatted error message.
#[macro_export]
macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*)) };
}

/// `ensure!(cond, "...")`: fail with the message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($c:expr, $($t:tt)*) => { if !$c { return Err(format!($($t)*)); } };
}
