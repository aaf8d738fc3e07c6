//! The image layout. With an init: `/init` (stripped, 0755), the folders `dev proc sys mnt run`
//! and the `/dev/console` node (5,1). Then, each optional: busybox with its applet links (the
//! debug image), kernel modules with their `load-order`, and a user folder's files. Without an
//! init the same code makes a modules-only (or files-only) archive to concatenate to an image.

use crate::cpio::Archive;
use crate::{Arch, Error, Result, fail, io_err};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Kernel modules to bundle: `dir` is `<root>/lib/modules/<kver>` (with a `modules.dep`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulesSpec {
    pub dir: PathBuf,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// When given, the init and busybox must be ELF files for it.
    pub arch: Option<Arch>,
    /// The init ELF; `None` makes an archive without `/init` and the base folders.
    pub init: Option<PathBuf>,
    /// Put the init in stripped ([`crate::strip_elf`]); on by default.
    pub strip: bool,
    /// A static busybox: `/bin/busybox` plus `/bin/<applet>` links (the debug image).
    pub busybox: Option<PathBuf>,
    pub modules: Option<ModulesSpec>,
    /// A folder whose files, folders and symlinks go into the archive root.
    pub files: Option<PathBuf>,
    /// Every entry's mtime (`SOURCE_DATE_EPOCH` or 0).
    pub mtime: u32,
}

impl Default for ImageSpec {
    fn default() -> ImageSpec {
        ImageSpec {
            arch: None,
            init: None,
            strip: true,
            busybox: None,
            modules: None,
            files: None,
            mtime: 0,
        }
    }
}

/// What went into an archive.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub entries: usize,
    pub init_bytes: usize,
    pub applets: usize,
    /// Module paths in load order.
    pub modules: Vec<String>,
    pub files: usize,
}

/// Lays out the archive described by `spec`.
pub fn archive(spec: &ImageSpec) -> Result<(Archive, Summary)> {
    let mut a = Archive::new(spec.mtime);
    let mut sum = Summary::default();
    if let Some(init) = &spec.init {
        let elf = crate::read(init)?;
        check_machine(&elf, spec.arch, init)?;
        let elf = if spec.strip {
            crate::strip_elf(&elf).map_err(|e| in_file(init, e))?
        } else {
            elf
        };
        sum.init_bytes = elf.len();
        a.file("init", 0o755, elf)?;
        for d in ["dev", "proc", "sys", "mnt", "run"] {
            a.dir(d, 0o755)?;
        }
        a.char_dev("dev/console", 0o600, 5, 1)?;
    }
    if let Some(bb) = &spec.busybox {
        let bin = crate::read(bb)?;
        check_machine(&bin, spec.arch, bb)?;
        sum.applets = crate::busybox::add_busybox(&mut a, bin)
            .map_err(|e| in_file(bb, e))?
            .len();
    }
    if let Some(m) = &spec.modules {
        sum.modules = crate::modules::add_modules(&mut a, &m.dir, &m.names)?;
    }
    if let Some(dir) = &spec.files {
        sum.files = add_tree(&mut a, dir)?;
    }
    if a.is_empty() {
        fail!("nothing to put in the archive (no init, busybox, modules or files)");
    }
    sum.entries = a.len();
    Ok((a, sum))
}

/// The gzip'd archive.
pub fn build(spec: &ImageSpec) -> Result<(Vec<u8>, Summary)> {
    let (a, sum) = archive(spec)?;
    Ok((crate::gzip::gzip(&a.write()?), sum))
}

/// Builds the gzip'd archive and writes it to `out` atomically: on any error, no file is written.
pub fn build_to(spec: &ImageSpec, out: &Path) -> Result<Summary> {
    let (gz, sum) = build(spec)?;
    crate::write_atomic(out, &gz)?;
    Ok(sum)
}

fn in_file(path: &Path, e: Error) -> Error {
    Error(format!("{}: {e}", path.display()))
}

fn check_machine(elf: &[u8], arch: Option<Arch>, path: &Path) -> Result<()> {
    let m = crate::elf::machine(elf).map_err(|e| in_file(path, e))?;
    match arch {
        Some(a) if a.elf_machine() != m => {
            fail!(
                "{}: an ELF for {}, not for {a}",
                path.display(),
                crate::elf::machine_name(m)
            )
        }
        _ => Ok(()),
    }
}

/// Adds everything under `root` (not `root` itself) at the archive root: folders 0755, files 0755
/// if any exec bit is set else 0644 (so a checkout's umask does not matter), symlinks as they are.
/// Returns the number of entries. Other file types and unreadable files are errors.
pub fn add_tree(a: &mut Archive, root: &Path) -> Result<usize> {
    if !root.is_dir() {
        fail!("{}: not a folder", root.display());
    }
    let mut count = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = std::fs::read_dir(&dir).map_err(|e| io_err("cannot list", &dir, e))?;
        for e in rd {
            let e = e.map_err(|e| io_err("cannot list", &dir, e))?;
            let path = e.path();
            let name = rel.join(e.file_name());
            let key = name.as_os_str().as_bytes();
            let md =
                std::fs::symlink_metadata(&path).map_err(|e| io_err("cannot stat", &path, e))?;
            let ft = md.file_type();
            let added = if ft.is_symlink() {
                let t =
                    std::fs::read_link(&path).map_err(|e| io_err("cannot read link", &path, e))?;
                a.symlink(key, t.as_os_str().as_bytes())
            } else if ft.is_dir() {
                stack.push(name.clone());
                a.dir(key, 0o755)
            } else if ft.is_file() {
                let perm = if md.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                a.file(key, perm, crate::read(&path)?)
            } else {
                fail!(
                    "{}: not a file, folder or symlink (devices, fifos and sockets are not supported)",
                    path.display()
                )
            };
            added
                .map_err(|e| Error(format!("{} (from {}): {e}", path.display(), root.display())))?;
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::Kind;
    use crate::testutil::TempDir;

    /// A fake x86-64 ELF: header and one PT_LOAD of 16 bytes, then junk the stripper drops.
    pub(crate) fn fake_elf(machine: u16) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56 + 16 + 32];
        e[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        e[18..20].copy_from_slice(&machine.to_le_bytes());
        e[0x20] = 64; // e_phoff
        e[0x28] = 136; // e_shoff
        e[0x34] = 64; // e_ehsize
        e[0x36] = 56; // e_phentsize
        e[0x38] = 1; // e_phnum
        e[64] = 1; // PT_LOAD
        e[64 + 8] = 120; // p_offset
        e[64 + 32] = 16; // p_filesz
        e[120..136].fill(0xc3);
        e[136..].fill(0xee);
        e
    }

    fn files_fixture(t: &TempDir) -> PathBuf {
        let f = t.path().join("files");
        std::fs::create_dir_all(f.join("etc/empty")).unwrap();
        std::fs::write(f.join("etc/motd"), "hi\n").unwrap();
        std::fs::write(f.join("etc/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(f.join("etc/run.sh"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::fs::set_permissions(f.join("etc/motd"), std::fs::Permissions::from_mode(0o664))
            .unwrap();
        std::os::unix::fs::symlink("../etc/motd", f.join("etc/link")).unwrap();
        std::fs::create_dir_all(f.join("dev")).unwrap();
        f
    }

    #[test]
    fn standard_layout() {
        let t = TempDir::new("img");
        let init = t.path().join("init");
        std::fs::write(&init, fake_elf(crate::elf::EM_X86_64)).unwrap();
        let spec = ImageSpec {
            arch: Some(Arch::X86_64),
            init: Some(init.clone()),
            files: Some(files_fixture(&t)),
            ..Default::default()
        };
        let (a, sum) = archive(&spec).unwrap();
        assert_eq!(sum.init_bytes, 136, "stripped");
        assert_eq!(a.get("init").unwrap().perm, 0o755);
        assert_eq!(
            a.get("dev/console").unwrap().kind,
            Kind::CharDev { major: 5, minor: 1 }
        );
        for d in ["dev", "proc", "sys", "mnt", "run", "etc", "etc/empty"] {
            assert_eq!(a.get(d).unwrap().kind, Kind::Dir, "{d}");
        }
        assert_eq!(a.get("etc/motd").unwrap().perm, 0o644);
        assert_eq!(a.get("etc/run.sh").unwrap().perm, 0o755);
        assert_eq!(
            a.get("etc/link").unwrap().kind,
            Kind::Symlink(b"../etc/motd".to_vec())
        );
        assert_eq!(sum.files, 6);
        let (a2, _) = archive(&ImageSpec {
            strip: false,
            ..spec.clone()
        })
        .unwrap();
        assert_eq!(
            a2.get("init").unwrap().kind,
            Kind::File(fake_elf(crate::elf::EM_X86_64))
        );
        // Reproducible: two builds give the same bytes; SOURCE_DATE_EPOCH-style mtime changes them.
        assert_eq!(build(&spec).unwrap().0, build(&spec).unwrap().0);
        assert_ne!(
            build(&spec).unwrap().0,
            build(&ImageSpec { mtime: 1, ..spec }).unwrap().0
        );
    }

    #[test]
    fn bad_inputs_write_nothing() {
        let t = TempDir::new("bad");
        let out = t.path().join("out/x.gz");
        let init = t.path().join("init");
        std::fs::write(&init, fake_elf(crate::elf::EM_ARM)).unwrap();
        let base = ImageSpec {
            arch: Some(Arch::X86_64),
            init: Some(init.clone()),
            ..Default::default()
        };
        let cases: Vec<(ImageSpec, &str)> = vec![
            (base.clone(), "not for x86_64"),
            (
                ImageSpec {
                    init: Some(t.path().join("missing")),
                    ..base.clone()
                },
                "missing",
            ),
            (
                ImageSpec {
                    arch: Some(Arch::Armv6l),
                    busybox: Some(t.path().join("nobb")),
                    ..base.clone()
                },
                "nobb",
            ),
            (
                ImageSpec {
                    arch: None,
                    files: Some(t.path().join("nofiles")),
                    ..base.clone()
                },
                "nofiles",
            ),
            (
                ImageSpec {
                    init: None,
                    ..Default::default()
                },
                "nothing to put",
            ),
        ];
        for (spec, want) in cases {
            let e = build_to(&spec, &out).unwrap_err().0;
            assert!(e.contains(want), "{e:?} should mention {want:?}");
            assert!(!out.exists());
        }
        // A fifo among the user files.
        let files = files_fixture(&t);
        let fifo = files.join("etc/fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let spec = ImageSpec {
            arch: None,
            files: Some(files.clone()),
            ..base.clone()
        };
        assert!(build_to(&spec, &out).unwrap_err().0.contains("etc/fifo"));
        std::fs::remove_file(&fifo).unwrap();
        // A user file that clashes with /init.
        std::fs::write(files.join("init"), "x").unwrap();
        assert!(build_to(&spec, &out).unwrap_err().0.contains("added twice"));
        std::fs::remove_file(files.join("init")).unwrap();
        // An unreadable user file (root reads everything, so only checked as a normal user).
        let secret = files.join("etc/secret");
        std::fs::write(&secret, "s").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::File::open(&secret).is_err() {
            assert!(build_to(&spec, &out).unwrap_err().0.contains("etc/secret"));
        }
        std::fs::remove_file(&secret).unwrap();
        assert!(!out.exists());
        build_to(&spec, &out).unwrap();
        assert!(out.exists());
    }

    #[test]
    fn modules_only_archive() {
        let t = TempDir::new("modonly");
        let dir = t.path().join("lib/modules/6.12.9+bpo-amd64");
        std::fs::create_dir_all(dir.join("kernel/fs")).unwrap();
        std::fs::write(dir.join("modules.dep"), "kernel/fs/overlay.ko.xz:\n").unwrap();
        std::fs::write(dir.join("kernel/fs/overlay.ko.xz"), b"xz").unwrap();
        let spec = ImageSpec {
            modules: Some(ModulesSpec {
                dir,
                names: vec!["overlay".into()],
            }),
            ..Default::default()
        };
        let (a, sum) = archive(&spec).unwrap();
        assert_eq!(sum.modules, ["kernel/fs/overlay.ko.xz"]);
        assert!(a.get("init").is_none() && a.get("dev/console").is_none());
        assert!(a.get("lib/modules/6.12.9+bpo-amd64/load-order").is_some());
        assert_eq!(
            a.len(),
            7,
            "lib, modules, kver, kernel, fs, overlay.ko.xz, load-order"
        );
    }
}
