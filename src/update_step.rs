//! The update step of the boot: when `newimg` holds an image, promote it onto `img` with the
//! power-safe logic of `initramfs_overlay::update`, then put `img` back to read-only. What happened
//! goes into the status that the OS reads at `/run/initramfs-overlay/status`.

use crate::devices::Found;
use crate::logger::{Failed, Logger, cannot};
use crate::mounts;
use crate::paths;
use crate::sys;
use initramfs_overlay::cmdline::Config;
use initramfs_overlay::update::{self, Hooks, Outcome, Status};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{CWD, Mode, OFlags};
use rustix::mount::MountFlags;

/// The boot's clock for the update's MiB/s figures; the other hooks keep their defaults.
struct BootHooks;

impl Hooks for BootHooks {
    #[optimize(size)]
    fn now_ms(&mut self) -> u32 {
        // Already 32 bits, as the update wants: only differences are used.
        sys::now_ms()
    }
}

/// Promotes a waiting update (if any) into `img`, the image partition's folder, and adds its
/// `update=` line to `status` (filled in place: a `Status` is 1 KiB, and returning one copies it).
#[optimize(size)]
pub fn run(
    log: &mut Logger,
    found: &Found,
    config: &Config,
    img: BorrowedFd<'_>,
    status: &mut Status,
) -> Result<(), Failed> {
    // Filled in place by `promote`: one slot for every outcome, never copied.
    let mut outcome = Outcome::NoUpdate;
    if let Some(newimg) = found.newimg() {
        mounts::mount_partition(log, newimg, paths::SCRATCH, MountFlags::NOATIME)?;
        let promoted = promote(log, config, img, &mut outcome);
        mounts::unmount_scratch(log, cannot!("unmount newimg"));
        // The image partition was mounted writeable only for the promotion.
        if let Err(e) = rustix::mount::mount_remount(paths::IMAGE, MountFlags::RDONLY, c"") {
            log.fail_bare(cannot!("remount the image partition read-only"), Some(e));
        }
        promoted?;
    }
    status.update(&outcome);
    Ok(())
}

/// Opens the newimg folder and promotes into `img`, writing what happened into `outcome` (untouched
/// when the folder cannot be opened). In place: a returned outcome was copied into `run`'s slot
/// (-80 B on x86_64).
#[optimize(size)]
fn promote(
    log: &mut Logger,
    config: &Config,
    img: BorrowedFd<'_>,
    outcome: &mut Outcome,
) -> Result<(), Failed> {
    let new = mounts::open_dir(log, paths::SCRATCH)?;
    // Every outcome is logged by `promote` itself; even a failed update leaves the current image
    // bootable, so it never stops the boot.
    *outcome = update::promote(img, new.as_fd(), config.image, log, &mut BootHooks);
    Ok(())
}

/// Writes the status file the booted OS reads.
#[optimize(size)]
pub fn write_status(log: &mut Logger, status: &Status) -> Result<(), Failed> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
    // One message for creating and writing it: the errno tells them apart.
    crate::sys::open(CWD, paths::STATUS, flags, Mode::from_raw_mode(0o644))
        .and_then(|file| rustix::io::write(&file, status.as_bytes()))
        .map_err(|e| log.fail_path(cannot!("write "), paths::STATUS, Some(e)))?;
    Ok(())
}
