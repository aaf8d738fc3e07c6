//! The Debian kernels: resolved from their metapackages (the ABI number changes with security
//! updates), downloaded and unpacked with the packer's private apt configuration, never installed.
//! Then `depmod`, the ELF vmlinux for a PVH boot (x86, when the kernel has CONFIG_PVH) and the
//! Raspberry Pi Zero device tree patched for QEMU's raspi0.
//!
//! Everything lands in `tests/cache/` and is reused: a second run makes no network access at all
//! (delete `tests/cache/kernels/*.resolved` to pick up a newer kernel).

use crate::util::{cache_dir, mkdir, read, run, write};
use crate::{R, bail, ensure};
use packer::Arch;
use packer::apt::Apt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelId {
    /// bookworm's amd64 6.1 (`linux-image-amd64`).
    Amd64,
    /// bookworm-backports' amd64 6.12, whose modules are `.ko.xz`.
    Amd64Backports,
    /// bookworm's i386 686 6.1 (`linux-image-686:i386`).
    I386,
    /// bookworm's armel Raspberry Pi 0/1 6.1 (`linux-image-rpi:armel`).
    Rpi,
}

impl KernelId {
    pub const ALL: [KernelId; 4] = [
        KernelId::Amd64,
        KernelId::Amd64Backports,
        KernelId::I386,
        KernelId::Rpi,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KernelId::Amd64 => "amd64",
            KernelId::Amd64Backports => "amd64-backports",
            KernelId::I386 => "i386-686",
            KernelId::Rpi => "armel-rpi",
        }
    }

    /// The architecture of the init image that boots on it.
    pub fn arch(self) -> Arch {
        match self {
            KernelId::Amd64 | KernelId::Amd64Backports => Arch::X86_64,
            KernelId::I386 => Arch::I686,
            KernelId::Rpi => Arch::Armv6l,
        }
    }

    /// (metapackage, Debian arch, backports?)
    fn meta(self) -> (&'static str, &'static str, bool) {
        match self {
            KernelId::Amd64 => ("linux-image-amd64", "amd64", false),
            KernelId::Amd64Backports => ("linux-image-amd64", "amd64", true),
            KernelId::I386 => ("linux-image-686", "i386", false),
            KernelId::Rpi => ("linux-image-rpi", "armel", false),
        }
    }

    /// The modules the bundle names (the packer adds their dependencies). crc32c_generic,
    /// nls_cp437 and nls_ascii are not reachable through modules.dep and must be named.
    pub fn bundle(self) -> Vec<&'static str> {
        let virtio = [
            "virtio_ring",
            "virtio",
            "virtio_pci_modern_dev",
            "virtio_pci_legacy_dev",
            "virtio_pci",
            "virtio_blk",
        ];
        let rest = [
            "crc32c_generic",
            "crc16",
            "jbd2",
            "mbcache",
            "ext4",
            "nls_cp437",
            "nls_ascii",
            "fat",
            "vfat",
            "loop",
            "squashfs",
            "overlay",
        ];
        let mut v: Vec<&str> = Vec::new();
        if self != KernelId::Rpi {
            v.extend(virtio);
        }
        v.extend(rest);
        v
    }
}

/// An unpacked kernel, ready to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub id: KernelId,
    pub package: String,
    /// `uname -r`.
    pub kver: String,
    /// The unpacked package.
    pub root: PathBuf,
    /// `<root>/lib/modules/<kver>`, with modules.dep.
    pub modules: PathBuf,
    /// What QEMU's `-kernel` gets: the ELF vmlinux (PVH), the bzImage, or the ARM zImage.
    pub image: PathBuf,
    pub pvh: bool,
    /// The patched device tree (raspi0 only).
    pub dtb: Option<PathBuf>,
}

impl Kernel {
    /// A module's path relative to `modules` (`kernel/fs/squashfs/squashfs.ko[.xz]`).
    pub fn module_path(&self, name: &str) -> R<String> {
        let dep = std::fs::read_to_string(self.modules.join("modules.dep"))
            .map_err(|e| format!("modules.dep: {e}"))?;
        for line in dep.lines() {
            let Some((path, _)) = line.split_once(':') else {
                continue;
            };
            if packer::modules::module_name(path) == name.replace('-', "_") {
                return Ok(path.to_string());
            }
        }
        bail!("{}: no module {name} in modules.dep", self.kver)
    }
}

/// The backports suite of this machine's distribution (e.g. `bookworm-backports`).
pub fn backports_suite() -> R<String> {
    match crate::setup::codename() {
        Some(c) => Ok(format!("{c}-backports")),
        None => bail!("cannot tell the distribution's codename from /etc/os-release"),
    }
}

/// The private apt configuration shared by the kernels and busybox.
pub fn apt() -> R<Apt> {
    Ok(Apt::new(cache_dir().join("apt")).extra_suite(&backports_suite()?))
}

fn pe(e: packer::Error) -> String {
    e.0
}

/// Fetches (or finds in the cache) and prepares one kernel.
pub fn get(id: KernelId) -> R<Kernel> {
    let dir = cache_dir().join("kernels");
    mkdir(&dir)?;
    let _lock = crate::util::lock(&dir.join(format!("{}.lock", id.name())))?;
    let record = dir.join(format!("{}.resolved", id.name()));
    // The record: "<package>\n<unpacked folder>\n". When both exist, no network access at all.
    let cached = std::fs::read_to_string(&record).ok().and_then(|t| {
        let mut l = t.lines();
        let (p, r) = (l.next()?.to_string(), PathBuf::from(l.next()?));
        r.is_dir().then_some((p, r))
    });
    let (package, root) = match cached {
        Some(c) => c,
        None => {
            let (meta, arch, bpo) = id.meta();
            let apt = apt()?;
            let suite = if bpo { Some(backports_suite()?) } else { None };
            let t = std::time::Instant::now();
            let package = apt.resolve(meta, arch, suite.as_deref()).map_err(pe)?;
            let root = apt
                .fetch_extract(&package, arch, suite.as_deref(), &dir)
                .map_err(pe)?;
            eprintln!(
                "e2e: kernel {}: {package} fetched and unpacked in {:.1} s",
                id.name(),
                t.elapsed().as_secs_f64()
            );
            write(&record, format!("{package}\n{}\n", root.display()))?;
            (package, root)
        }
    };
    prepare(id, package, root)
}

fn prepare(id: KernelId, package: String, root: PathBuf) -> R<Kernel> {
    let mods = root.join("lib/modules");
    let kvers: Vec<String> = std::fs::read_dir(&mods)
        .map_err(|e| format!("{}: {e}", mods.display()))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ensure!(
        kvers.len() == 1,
        "{}: expected one kernel version, found {kvers:?}",
        mods.display()
    );
    let kver = kvers[0].clone();
    let modules = mods.join(&kver);
    if !modules.join("modules.dep").is_file() {
        run(Command::new("depmod").arg("-b").arg(&root).arg(&kver))?;
    }
    let vmlinuz = root.join("boot").join(format!("vmlinuz-{kver}"));
    ensure!(vmlinuz.is_file(), "{} is missing", vmlinuz.display());
    let config = std::fs::read_to_string(root.join("boot").join(format!("config-{kver}")))
        .unwrap_or_default();
    let mut k = Kernel {
        id,
        package,
        kver,
        root: root.clone(),
        modules,
        image: vmlinuz.clone(),
        pvh: false,
        dtb: None,
    };
    if id.arch() != Arch::Armv6l
        && config.lines().any(|l| l == "CONFIG_PVH=y")
        && std::env::var_os("E2E_NO_PVH").is_none()
    {
        let elf = root.join("boot").join(format!("vmlinux-{}.e2e", k.kver));
        if !elf.is_file() {
            match extract_vmlinux(&vmlinuz) {
                Ok(data) => write(&elf, data)?,
                Err(e) => eprintln!(
                    "e2e: warning: {}: no ELF vmlinux ({e}); booting the bzImage",
                    id.name()
                ),
            }
        }
        if elf.is_file() {
            k.image = elf;
            k.pvh = true;
        }
    }
    if id == KernelId::Rpi {
        let out = root.join("boot").join("bcm2835-rpi-zero-qemu.dtb");
        if !out.is_file() {
            let src = root
                .join("usr/lib")
                .join(format!("linux-image-{}", k.kver))
                .join("bcm2835-rpi-zero.dtb");
            patch_dtb(&src, &out)?;
        }
        k.dtb = Some(out);
    }
    Ok(k)
}

/// The ELF vmlinux inside an x86 bzImage: the payload the boot protocol (2.08+) points at,
/// decompressed with xz or zstd. Its length must match the size the kernel appends to it.
pub fn extract_vmlinux(bzimage: &Path) -> R<Vec<u8>> {
    let b = read(bzimage)?;
    ensure!(
        b.len() > 0x250 && &b[0x202..0x206] == b"HdrS",
        "{}: not a bzImage",
        bzimage.display()
    );
    let version = u16::from_le_bytes([b[0x206], b[0x207]]);
    ensure!(
        version >= 0x208,
        "boot protocol {version:#x} has no payload fields"
    );
    let setup_sects = match b[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let le32 = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
    let (off, len) = (le32(0x248), le32(0x24c));
    let start = (setup_sects + 1) * 512 + off;
    ensure!(start + len <= b.len() && len > 4, "payload out of bounds");
    let payload = &b[start..start + len];
    let expect = u32::from_le_bytes(payload[len - 4..].try_into().unwrap()) as usize;
    let tool: &[&str] = if payload.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        &["xz", "-dc"]
    } else if payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        &["zstd", "-dcq"]
    } else if payload.starts_with(&[0x1f, 0x8b]) {
        &["gzip", "-dc"]
    } else {
        bail!(
            "unknown payload compression {:02x?}",
            &payload[..4.min(len)]
        );
    };
    let mut child = Command::new(tool[0])
        .args(&tool[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", tool[0]))?;
    let mut stdin = child.stdin.take().unwrap();
    let data = payload.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&data);
    });
    // The decompressors complain about the size trailer after the stream; the output is complete.
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = feeder.join();
    let elf = out.stdout;
    ensure!(
        elf.starts_with(b"\x7fELF"),
        "decompressed payload is not ELF"
    );
    ensure!(
        elf.len() == expect,
        "decompressed {} bytes, the kernel says {expect}",
        elf.len()
    );
    Ok(elf)
}

/// QEMU 7.2's raspi0 lacks the "asb" register block, so the stock dtb makes bcm2835_power_probe
/// crash before any output. Reduce the power node to its "pm" block.
pub fn patch_dtb(src: &Path, out: &Path) -> R<()> {
    let dts = run(Command::new("dtc")
        .args(["-q", "-I", "dtb", "-O", "dts"])
        .arg(src))?;
    let mut patched = String::new();
    let mut hits = 0;
    let mut lines = dts.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with("reg = <0x7e100000 0x114 ")
            && lines
                .peek()
                .is_some_and(|n| n.trim().starts_with("reg-names = \"pm\\0asb\""))
        {
            let indent = &line[..line.len() - line.trim_start().len()];
            patched.push_str(&format!(
                "{indent}reg = <0x7e100000 0x114>;\n{indent}reg-names = \"pm\";\n"
            ));
            lines.next();
            hits += 1;
        } else {
            patched.push_str(line);
            patched.push('\n');
        }
    }
    ensure!(
        hits == 1,
        "{}: the power node (reg 0x7e100000, reg-names pm+asb) was not found",
        src.display()
    );
    let tmp = out.with_extension("dts");
    write(&tmp, patched)?;
    run(Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(out)
        .arg(&tmp))?;
    Ok(())
}

/// The static busybox of an arch (Debian's busybox-static, the one the packer puts in debug
/// images), fetched through the packer; cached like the kernels.
pub fn busybox(arch: Arch) -> R<PathBuf> {
    let dir = cache_dir().join("busybox");
    mkdir(&dir)?;
    let _lock = crate::util::lock(&dir.join(format!("{}.lock", arch.name())))?;
    let record = dir.join(format!("{}.resolved", arch.name()));
    if let Ok(p) = std::fs::read_to_string(&record) {
        let p = PathBuf::from(p.trim());
        if p.is_file() {
            return Ok(p);
        }
    }
    let bin = packer::busybox::fetch(&apt()?, arch, &dir).map_err(pe)?;
    write(&record, bin.display().to_string())?;
    Ok(bin)
}
