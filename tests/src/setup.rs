//! Host tools: installed with apt (as root, non-interactive) only when one is missing.

use crate::util::{run, which};
use crate::{R, bail};
use std::path::Path;
use std::process::Command;

/// Every tool the suite runs (or, as an absolute path, a file it needs), and the Debian package that
/// ships it.
pub const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("qemu-system-i386", "qemu-system-x86"),
    ("qemu-system-arm", "qemu-system-arm"),
    ("mksquashfs", "squashfs-tools"),
    ("mke2fs", "e2fsprogs"),
    ("e2fsck", "e2fsprogs"),
    ("debugfs", "e2fsprogs"),
    ("mkfs.vfat", "dosfstools"),
    ("mcopy", "mtools"),
    ("mmd", "mtools"),
    ("sfdisk", "fdisk"),
    // fdisk -b: a GPT with 4 KiB sectors (sfdisk 2.38 takes the sector size from the device only).
    ("fdisk", "fdisk"),
    ("cpio", "cpio"),
    ("depmod", "kmod"),
    ("dtc", "device-tree-compiler"),
    ("xz", "xz-utils"),
    ("zstd", "zstd"),
    ("dpkg-deb", "dpkg"),
    ("apt-get", "apt"),
    // s18's seccomp shim (tests/fixtures/no-loop-configure.c): gcc and the kernel's UAPI headers.
    ("gcc", "gcc"),
    ("/usr/include/linux/seccomp.h", "linux-libc-dev"),
];

/// The packages installed when anything is missing: all of them at once, as the notes measured.
/// `qemu-utils/<codename>`: a plain install of the distribution's qemu-system-x86 would silently
/// remove a newer (backports) qemu-utils, so it is downgraded deliberately.
pub fn packages() -> Vec<String> {
    let mut p: Vec<String> = [
        "qemu-system-x86",
        "qemu-system-arm",
        "squashfs-tools",
        "busybox-static",
        "mtools",
        "dosfstools",
        "fdisk",
        "cpio",
        "kmod",
        "device-tree-compiler",
        "e2fsprogs",
        "xz-utils",
        "zstd",
        "gcc",
        "linux-libc-dev",
    ]
    .map(String::from)
    .to_vec();
    if let Some(c) = codename() {
        p.push(format!("qemu-utils/{c}"));
    }
    p
}

/// The distribution's codename (`VERSION_CODENAME` in /etc/os-release), e.g. `bookworm`.
pub fn codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The tools that are not on PATH, and the files (absolute paths) that do not exist.
pub fn missing() -> Vec<&'static str> {
    TOOLS
        .iter()
        .filter(|(t, _)| {
            if t.starts_with('/') {
                !Path::new(t).is_file()
            } else {
                which(t).is_none()
            }
        })
        .map(|(t, _)| *t)
        .collect()
}

/// Installs the packages when a tool is missing. Needs root; says what to run otherwise.
pub fn ensure_tools() -> R<()> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(());
    }
    let pkgs = packages();
    let cmdline = format!(
        "apt-get update && apt-get install -y --allow-downgrades --no-install-recommends {}",
        pkgs.join(" ")
    );
    // SAFETY: geteuid has no preconditions.
    if unsafe { geteuid() } != 0 {
        bail!(
            "missing tools: {}; run as root: {cmdline}",
            missing.join(", ")
        );
    }
    eprintln!(
        "e2e: missing tools {}; installing: {cmdline}",
        missing.join(", ")
    );
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    // A partial update failure (one flaky index) must not stop the install.
    if let Err(e) = run(&mut apt(&["update"])) {
        eprintln!("e2e: warning: {e}");
    }
    let mut args = vec![
        "install",
        "-y",
        "--allow-downgrades",
        "--no-install-recommends",
    ];
    args.extend(pkgs.iter().map(String::as_str));
    run(&mut apt(&args))?;
    let still = crate::setup::missing();
    if !still.is_empty() {
        bail!("still missing after apt-get install: {}", still.join(", "));
    }
    Ok(())
}

unsafe extern "C" {
    fn geteuid() -> u32;
}
