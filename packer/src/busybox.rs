//! busybox for the debug image: fetch Debian's static build for an arch, read its applet names
//! straight out of the binary (no foreign binary is run), and lay out `/bin/busybox` plus links.

use crate::apt::Apt;
use crate::cpio::Archive;
use crate::{Arch, Result, fail};
use std::path::{Path, PathBuf};

/// The applet names compiled into a busybox binary.
///
/// busybox keeps them as one sorted, NUL-separated string table (`applet_names`) that starts with
/// `[\0[[\0` and ends with an empty string. Every candidate start is tried; the longest run of
/// strictly sorted, plausible names wins.
pub fn applets(binary: &[u8]) -> Result<Vec<String>> {
    const START: &[u8] = b"[\0[[\0";
    let mut best: Vec<String> = Vec::new();
    let mut at = 0;
    while let Some(pos) = find(&binary[at..], START) {
        let start = at + pos;
        at = start + 1;
        let mut names: Vec<String> = Vec::new();
        for raw in binary[start..].split(|b| *b == 0) {
            let ok = !raw.is_empty()
                && raw.len() <= 32
                && raw
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"[_-.".contains(c))
                && names.last().is_none_or(|l| l.as_bytes() < raw);
            if !ok {
                break;
            }
            names.push(String::from_utf8_lossy(raw).into_owned());
        }
        if names.len() > best.len() {
            best = names;
        }
    }
    if best.len() < 3 {
        fail!(
            "no busybox applet table (a sorted list starting with \"[\", \"[[\") found in the binary"
        );
    }
    Ok(best)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Adds `/bin/busybox` (mode 0755) and a symlink `/bin/<applet>` → `busybox` for every applet.
/// Returns the applet names.
pub fn add_busybox(archive: &mut Archive, binary: Vec<u8>) -> Result<Vec<String>> {
    let names = applets(&binary)?;
    if !names.iter().any(|n| n == "sh") {
        fail!("busybox has no `sh` applet");
    }
    archive.file("bin/busybox", 0o755, binary)?;
    for n in names.iter().filter(|n| *n != "busybox") {
        archive.symlink(format!("bin/{n}"), "busybox")?;
    }
    Ok(names)
}

/// Debian's static busybox (`busybox-static`) for `arch`, downloaded with apt into `cache`
/// (kept there) and unpacked; returns the path of the binary.
pub fn fetch(apt: &Apt, arch: Arch, cache: &Path) -> Result<PathBuf> {
    let deb_arch = arch.debian();
    let dir = apt
        .fetch_extract("busybox-static", deb_arch, None, cache)
        .map_err(|e| {
            crate::Error(format!(
                "cannot fetch busybox for {arch} (busybox-static:{deb_arch}): {e}"
            ))
        })?;
    let bin = dir.join("bin/busybox");
    if !bin.is_file() {
        fail!(
            "{} is missing after unpacking busybox-static:{deb_arch}",
            bin.display()
        );
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn parses_a_table() {
        let mut bin = b"\x7fELF junk [\0[ no\0".to_vec();
        bin.extend_from_slice(b"[\0[[\0ash\0busybox\0cat\0sh\0zcat\0\0more junk");
        assert_eq!(
            applets(&bin).unwrap(),
            ["[", "[[", "ash", "busybox", "cat", "sh", "zcat"]
        );
        let mut a = Archive::new(0);
        add_busybox(&mut a, bin).unwrap();
        assert!(a.get("bin/busybox").is_some());
        assert!(a.get("bin/[[").is_some());
        assert_eq!(
            a.get("bin/sh").unwrap().kind,
            crate::cpio::Kind::Symlink(b"busybox".to_vec())
        );
        assert!(applets(b"nothing here").is_err());
        assert!(
            add_busybox(&mut Archive::new(0), b"[\0[[\0cat\0\0".to_vec())
                .unwrap_err()
                .0
                .contains("sh")
        );
    }

    /// Real binaries for all three arches, fetched with apt. No network is a failure, not a skip.
    #[test]
    fn debian_busybox_applets_all_arches() {
        let apt = Apt::new(crate::busybox_cache().join("apt"));
        let mut host_list = None;
        for arch in Arch::ALL {
            let bin = fetch(&apt, arch, &crate::busybox_cache()).unwrap_or_else(|e| panic!("{e}"));
            let data = std::fs::read(&bin).unwrap();
            assert_eq!(crate::elf::machine(&data).unwrap(), arch.elf_machine());
            let names = applets(&data).unwrap();
            eprintln!("{arch}: {} applets", names.len());
            assert!(names.len() > 200, "{arch}: only {} applets", names.len());
            for must in [
                "sh",
                "ls",
                "mount",
                "switch_root",
                "modprobe",
                "insmod",
                "cat",
                "findfs",
                "losetup",
            ] {
                assert!(names.iter().any(|n| n == must), "{arch}: no {must}");
            }
            if arch == Arch::X86_64 {
                host_list = Some((bin, names));
            }
        }
        let (bin, names) = host_list.unwrap();
        let out = Command::new(&bin).arg("--list").output().unwrap();
        assert!(out.status.success());
        let listed: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(
            names, listed,
            "the parsed table must equal `busybox --list`"
        );
    }
}
