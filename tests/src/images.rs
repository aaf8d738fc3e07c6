//! Filesystem images and disks, built without mounting anything and without loop devices:
//! `mksquashfs`, `mke2fs -d`, `mkfs.vfat -C` + `mtools`, `sfdisk` on a sparse file + `dd`.
//! Also reads ext4 images back on the host (`e2fsck` on a copy to replay the journal, `debugfs`).

use crate::guest;
use crate::util::{copy_sparse, dd_into, fresh_dir, mkdir, run, show, write};
use crate::{R, bail, ensure};
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const MIB: u64 = 1 << 20;

/// The test OS tree.
pub struct OsSpec<'a> {
    pub busybox: &'a Path,
    /// `/etc/e2e-image-id`: tells which image booted.
    pub id: &'a str,
    /// `(kver, path relative to /lib/modules/<kver>, source file)`: modules the image carries
    /// (overlay.ko, which the init loads from the image).
    pub modules: Vec<(String, String, PathBuf)>,
    /// Incompressible filler of this many bytes in `/payload.bin` (update tests need big images).
    pub payload: u64,
}

/// Lays out the test OS in `dir`.
pub fn os_tree(spec: &OsSpec, dir: &Path) -> R<()> {
    fresh_dir(dir)?;
    for d in [
        "bin", "sbin", "etc", "dev", "proc", "sys", "run", "tmp", "mnt", "root",
    ] {
        mkdir(&dir.join(d))?;
    }
    std::fs::copy(spec.busybox, dir.join("bin/busybox"))
        .map_err(|e| format!("copy busybox: {e}"))?;
    for a in guest::APPLETS {
        symlink("busybox", dir.join("bin").join(a)).map_err(|e| format!("symlink {a}: {e}"))?;
    }
    let exe = |p: &Path, text: &str| -> R<()> {
        write(p, text)?;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())
    };
    exe(&dir.join("sbin/e2e-report"), guest::REPORT)?;
    exe(&dir.join("sbin/init"), &guest::init_script("init"))?;
    exe(
        &dir.join("sbin/other-init"),
        &guest::init_script("other-init"),
    )?;
    write(&dir.join("etc/e2e-marker"), "from-image\n")?;
    write(&dir.join("etc/e2e-image-id"), format!("{}\n", spec.id))?;
    for (kver, rel, src) in &spec.modules {
        let to = dir.join("lib/modules").join(kver).join(rel);
        mkdir(to.parent().unwrap())?;
        std::fs::copy(src, &to).map_err(|e| format!("copy {}: {e}", src.display()))?;
    }
    if spec.payload > 0 {
        let mut rng = fastrand::Rng::with_seed(
            spec.id
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)),
        );
        let mut f = std::fs::File::create(dir.join("payload.bin")).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; MIB as usize];
        let mut left = spec.payload;
        while left > 0 {
            rng.fill(&mut buf);
            let n = left.min(MIB) as usize;
            f.write_all(&buf[..n]).map_err(|e| e.to_string())?;
            left -= n as u64;
        }
    }
    Ok(())
}

/// `mksquashfs DIR OUT -noappend -all-root`.
pub fn squashfs(dir: &Path, out: &Path) -> R<()> {
    let _ = std::fs::remove_file(out);
    run(Command::new("mksquashfs").arg(dir).arg(out).args([
        "-noappend",
        "-all-root",
        "-quiet",
        "-no-progress",
    ]))?;
    Ok(())
}

/// An ext4 filesystem image: `mke2fs -t ext4 -L LABEL [-U UUID] [extra] -d DIR OUT SIZE`.
pub fn ext4(
    out: &Path,
    label: &str,
    dir: Option<&Path>,
    size_mib: u64,
    uuid: Option<&str>,
    extra: &[&str],
) -> R<()> {
    let _ = std::fs::remove_file(out);
    let mut c = Command::new("mke2fs");
    c.args(["-q", "-F", "-t", "ext4", "-L", label]);
    if let Some(u) = uuid {
        c.args(["-U", u]);
    }
    c.args(extra);
    if let Some(d) = dir {
        c.arg("-d").arg(d);
    }
    c.arg(out).arg(format!("{size_mib}M"));
    // Reproducible: no lazy init timestamps to worry about, but keep the hash seed fixed.
    c.env("E2FSPROGS_FAKE_TIME", "1700000000");
    run(&mut c)?;
    Ok(())
}

/// A vfat filesystem image with `files` = (source, path inside, e.g. `modules/6.1.0/squashfs.ko`).
pub fn vfat(out: &Path, label: &str, size_mib: u64, files: &[(PathBuf, String)]) -> R<()> {
    let _ = std::fs::remove_file(out);
    run(Command::new("mkfs.vfat")
        .args(["-n", label, "-C"])
        .arg(out)
        .arg((size_mib * 1024).to_string()))?;
    let mut made: Vec<String> = Vec::new();
    for (src, dest) in files {
        let parts: Vec<&str> = dest.split('/').collect();
        for i in 1..parts.len() {
            let d = parts[..i].join("/");
            if !made.contains(&d) {
                run(Command::new("mmd")
                    .arg("-i")
                    .arg(out)
                    .arg(format!("::/{d}")))?;
                made.push(d);
            }
        }
        run(Command::new("mcopy")
            .arg("-i")
            .arg(out)
            .arg(src)
            .arg(format!("::/{dest}")))?;
    }
    Ok(())
}

/// A partition for [`gpt`] / [`mbr`].
pub struct Part<'a> {
    pub fs: &'a Path,
    /// GPT partition name (PARTLABEL); ignored on MBR.
    pub name: &'a str,
    /// "linux" or "fat".
    pub kind: &'a str,
    /// GPT partition GUID (PARTUUID); ignored on MBR.
    pub uuid: Option<&'a str>,
}

impl<'a> Part<'a> {
    /// A partition of an MBR disk, which has no names or GUIDs: `fs` as `kind`.
    pub fn mbr(fs: &'a Path, kind: &'a str) -> Part<'a> {
        Part {
            fs,
            name: "",
            kind,
            uuid: None,
        }
    }
}

fn size_mib(p: &Path) -> R<u64> {
    let len = std::fs::metadata(p)
        .map_err(|e| format!("{}: {e}", p.display()))?
        .len();
    Ok(len.div_ceil(MIB))
}

/// Runs `c` with `input` on its stdin; returns its output whatever its status.
fn run_with_input(c: &mut Command, input: &str) -> R<std::process::Output> {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", show(c)))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .map_err(|e| e.to_string())?;
    child.wait_with_output().map_err(|e| e.to_string())
}

fn sfdisk(disk: &Path, script: &str) -> R<()> {
    let mut c = Command::new("sfdisk");
    c.args(["--no-reread", "--no-tell-kernel", "-q"]).arg(disk);
    let out = run_with_input(&mut c, script)?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}\nscript:\n{script}",
            show(&c),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Lays out partitions one after another from 1 MiB; returns (start MiB, size MiB) of each.
fn layout(parts: &[Part]) -> R<Vec<(u64, u64)>> {
    let mut at = 1;
    let mut v = Vec::new();
    for p in parts {
        let s = size_mib(p.fs)?;
        v.push((at, s));
        at += s;
    }
    Ok(v)
}

/// A GPT disk holding the filesystems, with partition names and GUIDs.
pub fn gpt(out: &Path, parts: &[Part], disk_guid: &str) -> R<()> {
    let lay = layout(parts)?;
    let end = lay.last().map_or(1, |(s, n)| s + n);
    make_sparse(out, (end + 1) * MIB)?;
    let mut script = format!("label: gpt\nlabel-id: {disk_guid}\nunit: sectors\n");
    for (p, (start, size)) in parts.iter().zip(&lay) {
        let ty = if p.kind == "fat" {
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
        } else {
            "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        };
        script.push_str(&format!(
            "start={}, size={}, type={ty}, name=\"{}\"",
            start * 2048,
            size * 2048,
            p.name
        ));
        if let Some(u) = p.uuid {
            script.push_str(&format!(", uuid={u}"));
        }
        script.push('\n');
    }
    sfdisk(out, &script)?;
    copy_filesystems(out, parts, &lay)
}

/// [`gpt`] on a disk with 4 KiB logical sectors ("4Kn", e.g. behind many USB-SATA bridges): the
/// header at byte 4096, the entries at 8192, every LBA in 4 KiB units. Written by `fdisk -b 4096`,
/// as sfdisk 2.38 takes the sector size from the device only. Partition types stay fdisk's default
/// (Linux filesystem): neither the kernel nor the init reads them. Needs two or more partitions, so
/// that fdisk asks which one each expert command is for.
pub fn gpt_4k(out: &Path, parts: &[Part], disk_guid: &str) -> R<()> {
    const SECTORS_PER_MIB: u64 = MIB / 4096;
    ensure!(parts.len() >= 2, "gpt_4k: at least two partitions");
    let lay = layout(parts)?;
    let end = lay.last().map_or(1, |(s, n)| s + n);
    make_sparse(out, (end + 1) * MIB)?;
    // fdisk's dialog: g (new GPT), n (partition number, first and last sector) per partition, then
    // expert mode for the disk GUID (i), names (n) and GUIDs (u), r (back), w (write).
    let mut dialog = String::from("g\n");
    for (k, (start, size)) in lay.iter().enumerate() {
        let first = start * SECTORS_PER_MIB;
        let last = first + size * SECTORS_PER_MIB - 1;
        dialog.push_str(&format!("n\n{}\n{first}\n{last}\n", k + 1));
    }
    dialog.push_str(&format!("x\ni\n{disk_guid}\n"));
    for (k, p) in parts.iter().enumerate() {
        if !p.name.is_empty() {
            dialog.push_str(&format!("n\n{}\n{}\n", k + 1, p.name));
        }
        if let Some(u) = p.uuid {
            dialog.push_str(&format!("u\n{}\n{u}\n", k + 1));
        }
    }
    dialog.push_str("r\nw\n");
    let mut c = Command::new("fdisk");
    c.args(["-b", "4096"]).arg(out);
    let done = run_with_input(&mut c, &dialog)?;
    // fdisk answers a bad reply by asking again, and exits 0 at the end of its input: check what
    // it wrote, not only its status.
    let listed = Command::new("fdisk")
        .args(["-b", "4096", "-l", "-o", "Start,Name,UUID"])
        .arg(out)
        .output()
        .map_err(|e| format!("cannot run fdisk -l: {e}"))?;
    let listed = String::from_utf8_lossy(&listed.stdout).to_uppercase();
    for (p, (start, _)) in parts.iter().zip(&lay) {
        let row = (start * SECTORS_PER_MIB).to_string();
        // Start, name (one word or none) and GUID, each compared whole.
        let fields_match = |line: &str| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = p.name.to_uppercase();
            let want_name: Vec<&str> = name.split_whitespace().collect();
            fields.first() == Some(&row.as_str())
                && fields.get(1..fields.len().saturating_sub(1)) == Some(&want_name[..])
                && p.uuid
                    .is_none_or(|u| fields.last() == Some(&u.to_uppercase().as_str()))
        };
        ensure!(
            done.status.success() && listed.lines().any(fields_match),
            "`{}` did not write partition {} at sector {row}: {}\nlisting:\n{listed}",
            show(&c),
            p.name,
            String::from_utf8_lossy(&done.stderr)
        );
    }
    copy_filesystems(out, parts, &lay)
}

/// Copies each partition's filesystem image to its place on the disk.
fn copy_filesystems(disk: &Path, parts: &[Part], lay: &[(u64, u64)]) -> R<()> {
    for (p, (start, _)) in parts.iter().zip(lay) {
        dd_into(p.fs, disk, start * MIB)?;
    }
    Ok(())
}

/// An MBR disk (`label-id` like `0x1234abcd`), `total_mib` big (a power of two for an SD card).
/// Returns where each partition is: (start, size) in MiB.
pub fn mbr(out: &Path, parts: &[Part], label_id: &str, total_mib: u64) -> R<Vec<(u64, u64)>> {
    ensure!(parts.len() <= 4, "MBR: at most 4 primary partitions");
    let lay = layout(parts)?;
    let end = lay.last().map_or(1, |(s, n)| s + n);
    ensure!(
        end <= total_mib,
        "MBR: {end} MiB of partitions do not fit {total_mib} MiB"
    );
    make_sparse(out, total_mib * MIB)?;
    let mut script = format!("label: dos\nlabel-id: {label_id}\nunit: sectors\n");
    for (p, (start, size)) in parts.iter().zip(&lay) {
        let ty = if p.kind == "fat" { "c" } else { "83" };
        script.push_str(&format!(
            "start={}, size={}, type={ty}\n",
            start * 2048,
            size * 2048
        ));
    }
    sfdisk(out, &script)?;
    copy_filesystems(out, parts, &lay)?;
    Ok(lay)
}

fn make_sparse(out: &Path, len: u64) -> R<()> {
    let _ = std::fs::remove_file(out);
    let f = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    f.set_len(len)
        .map_err(|e| format!("{}: {e}", out.display()))
}

/// Reads an ext4 image (a whole-disk filesystem) on the host: a copy, its journal replayed by
/// `e2fsck`, then `debugfs`. The guest may have been killed: nothing is trusted but what e2fsck
/// leaves.
pub struct Ext4View {
    copy: PathBuf,
    pub fsck: String,
}

impl Ext4View {
    pub fn open(img: &Path, scratch: &Path) -> R<Ext4View> {
        copy_sparse(img, scratch)?;
        let out = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(scratch)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run e2fsck: {e}"))?;
        let code = out.status.code().unwrap_or(99);
        // 0: clean, 1: errors fixed (a replayed journal counts), 2: fixed, reboot wanted.
        let fsck = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if code > 2 {
            bail!("e2fsck {} exited {code}: {fsck}", img.display());
        }
        Ok(Ext4View {
            copy: scratch.to_path_buf(),
            fsck,
        })
    }

    /// (name, size) of the entries of a folder.
    pub fn ls(&self, dir: &str) -> R<Vec<(String, u64)>> {
        let out = run(Command::new("debugfs")
            .arg("-R")
            .arg(format!("ls -p {dir}"))
            .arg(&self.copy))?;
        let mut v = Vec::new();
        for line in out.lines() {
            // /inode/mode/uid/gid/name/size/
            let f: Vec<&str> = line.split('/').collect();
            if f.len() >= 7 && !f[5].is_empty() {
                let name = f[5].to_string();
                if name != "." && name != ".." {
                    v.push((name, f[6].parse().unwrap_or(0)));
                }
            }
        }
        Ok(v)
    }

    pub fn names(&self, dir: &str) -> R<Vec<String>> {
        Ok(self.ls(dir)?.into_iter().map(|(n, _)| n).collect())
    }

    /// SHA-256 of a file in the image, or None when it does not exist.
    pub fn sha256(&self, path: &str) -> R<Option<String>> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let dir = if dir.is_empty() { "/" } else { dir };
        if !self.names(dir)?.iter().any(|n| n == name) {
            return Ok(None);
        }
        let out = self.copy.with_extension("dump");
        let _ = std::fs::remove_file(&out);
        run(Command::new("debugfs")
            .arg("-R")
            .arg(format!("dump {path} {}", out.display()))
            .arg(&self.copy))?;
        let h = crate::util::sha256_file(&out)?;
        let _ = std::fs::remove_file(&out);
        Ok(Some(h))
    }

    pub fn cat(&self, path: &str) -> R<String> {
        run(Command::new("debugfs")
            .arg("-R")
            .arg(format!("cat {path}"))
            .arg(&self.copy))
    }
}

impl Drop for Ext4View {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.copy);
    }
}
