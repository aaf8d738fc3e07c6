//! A cpio `newc` writer: the format the kernel unpacks an initramfs from.
//!
//! Every entry is a 110-byte ASCII header (`070701` and 13 eight-digit hex fields), the name with
//! its NUL, padding to 4 bytes, the data, padding to 4 bytes. The archive ends with `TRAILER!!!`.
//! Output is reproducible: entries are written sorted by path (a parent sorts before its children),
//! inode numbers count up from 1 in that order, uid/gid are 0 and every mtime is the one given.

use crate::{Result, fail};
use std::collections::BTreeMap;

pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;

/// The kernel's PATH_MAX: the longest name (with its NUL) the initramfs unpacker accepts.
pub const MAX_NAME: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    CharDev { major: u32, minor: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits (0o7777 at most).
    pub perm: u32,
}

/// An archive being built; paths are kept without a leading `/`.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    entries: BTreeMap<Vec<u8>, Entry>,
    mtime: u32,
}

impl Archive {
    pub fn new(mtime: u32) -> Archive {
        Archive {
            entries: BTreeMap::new(),
            mtime,
        }
    }

    pub fn dir(&mut self, path: impl AsRef<[u8]>, perm: u32) -> Result<()> {
        self.add(
            path.as_ref(),
            Entry {
                kind: Kind::Dir,
                perm,
            },
        )
    }

    pub fn file(&mut self, path: impl AsRef<[u8]>, perm: u32, data: Vec<u8>) -> Result<()> {
        self.add(
            path.as_ref(),
            Entry {
                kind: Kind::File(data),
                perm,
            },
        )
    }

    pub fn symlink(&mut self, path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Result<()> {
        self.add(
            path.as_ref(),
            Entry {
                kind: Kind::Symlink(target.as_ref().to_vec()),
                perm: 0o777,
            },
        )
    }

    pub fn char_dev(
        &mut self,
        path: impl AsRef<[u8]>,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<()> {
        self.add(
            path.as_ref(),
            Entry {
                kind: Kind::CharDev { major, minor },
                perm,
            },
        )
    }

    pub fn get(&self, path: impl AsRef<[u8]>) -> Option<&Entry> {
        self.entries.get(path.as_ref())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry, creating missing parent folders (0755). Adding a folder that exists already
    /// sets its permissions; any other duplicate is an error.
    pub fn add(&mut self, path: &[u8], entry: Entry) -> Result<()> {
        let path = normalise(path)?;
        if path.len() + 1 > MAX_NAME {
            fail!(
                "{}: name longer than the kernel accepts ({} bytes)",
                show(&path),
                MAX_NAME - 1
            );
        }
        if entry.perm > 0o7777 {
            fail!("{}: bad permissions {:o}", show(&path), entry.perm);
        }
        let size = match &entry.kind {
            Kind::File(d) | Kind::Symlink(d) => d.len(),
            _ => 0,
        };
        if u32::try_from(size).is_err() {
            fail!(
                "{}: {size} bytes does not fit a newc archive (4 GiB - 1 at most)",
                show(&path)
            );
        }
        for (i, _) in path.iter().enumerate().filter(|(_, c)| **c == b'/') {
            let parent = &path[..i];
            match self.entries.get(parent) {
                None => {
                    self.entries.insert(
                        parent.to_vec(),
                        Entry {
                            kind: Kind::Dir,
                            perm: 0o755,
                        },
                    );
                }
                Some(Entry {
                    kind: Kind::Dir, ..
                }) => {}
                Some(_) => fail!(
                    "{}: its parent {} is not a folder",
                    show(&path),
                    show(parent)
                ),
            }
        }
        match self.entries.get_mut(&path) {
            None => {
                self.entries.insert(path, entry);
            }
            Some(old) if old.kind == Kind::Dir && entry.kind == Kind::Dir => old.perm = entry.perm,
            Some(_) => fail!("{}: added twice", show(&path)),
        }
        Ok(())
    }

    /// The archive bytes, ending with the trailer.
    pub fn write(&self) -> Result<Vec<u8>> {
        if self.entries.len() >= u32::MAX as usize {
            fail!(
                "too many entries for a newc archive ({})",
                self.entries.len()
            );
        }
        let mut out = Vec::new();
        for (i, (name, e)) in self.entries.iter().enumerate() {
            let (mode, nlink, data, rdev): (u32, u32, &[u8], (u32, u32)) = match &e.kind {
                Kind::Dir => (S_IFDIR, 2, &[], (0, 0)),
                Kind::File(d) => (S_IFREG, 1, d, (0, 0)),
                Kind::Symlink(t) => (S_IFLNK, 1, t, (0, 0)),
                Kind::CharDev { major, minor } => (S_IFCHR, 1, &[], (*major, *minor)),
            };
            let h = Header {
                ino: i as u32 + 1,
                mode: mode | e.perm,
                nlink,
                mtime: self.mtime,
                rdev,
                filesize: data.len() as u32,
            };
            h.write(&mut out, name);
            out.extend_from_slice(data);
            pad4(&mut out);
        }
        Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            mtime: 0,
            rdev: (0, 0),
            filesize: 0,
        }
        .write(&mut out, b"TRAILER!!!");
        Ok(out)
    }
}

struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    rdev: (u32, u32),
    filesize: u32,
}

impl Header {
    fn write(&self, out: &mut Vec<u8>, name: &[u8]) {
        out.extend_from_slice(b"070701");
        let fields = [
            self.ino,
            self.mode,
            0, // uid
            0, // gid
            self.nlink,
            self.mtime,
            self.filesize,
            0, // devmajor
            0, // devminor
            self.rdev.0,
            self.rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name);
        out.push(0);
        pad4(out);
    }
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// `/a//b/` → `a/b`; rejects empty names, `.` and `..`.
fn normalise(path: &[u8]) -> Result<Vec<u8>> {
    let parts: Vec<&[u8]> = path
        .split(|c| *c == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() || parts.iter().any(|p| *p == b"." || *p == b"..") {
        fail!("bad archive path {}", show(path));
    }
    Ok(parts.join(&b'/'))
}

fn show(path: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(path).trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::process::{Command, Stdio};

    fn field(h: &[u8], i: usize) -> u32 {
        u32::from_str_radix(std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap()
    }

    /// Parses an archive back: (name, header fields, data) per entry, checking alignment on the way.
    fn parse(mut a: &[u8]) -> Vec<(Vec<u8>, [u32; 13], Vec<u8>)> {
        let total = a.len();
        assert_eq!(total % 4, 0);
        let mut out = Vec::new();
        loop {
            assert_eq!((total - a.len()) % 4, 0, "entry not 4-aligned");
            assert_eq!(&a[..6], b"070701");
            let f: [u32; 13] = std::array::from_fn(|i| field(a, i));
            let namesize = f[11] as usize;
            let name = a[110..110 + namesize - 1].to_vec();
            assert_eq!(a[110 + namesize - 1], 0);
            let data_at = (110 + namesize).next_multiple_of(4);
            assert!(a[110 + namesize..data_at].iter().all(|b| *b == 0));
            let size = f[6] as usize;
            let data = a[data_at..data_at + size].to_vec();
            let next = (data_at + size).next_multiple_of(4);
            assert!(a[data_at + size..next].iter().all(|b| *b == 0));
            a = &a[next..];
            let end = name == b"TRAILER!!!";
            out.push((name, f, data));
            if end {
                assert!(a.is_empty(), "bytes after the trailer");
                return out;
            }
        }
    }

    fn sample(mtime: u32) -> Archive {
        let mut a = Archive::new(mtime);
        a.file("/init", 0o755, b"ELF!x".to_vec()).unwrap();
        a.char_dev("dev/console", 0o600, 5, 1).unwrap();
        a.symlink("bin/sh", "busybox").unwrap();
        a.file("bin/busybox", 0o755, vec![7; 13]).unwrap();
        a.dir("proc", 0o755).unwrap();
        a
    }

    #[test]
    fn header_bytes() {
        let mut a = Archive::new(0x1234);
        a.file("init", 0o755, b"abcde".to_vec()).unwrap();
        let out = a.write().unwrap();
        let first = b"070701\
            00000001000081ED0000000000000000\
            0000000100001234000000050000000000000000\
            00000000000000000000000500000000init\0\0abcde\0\0\0";
        assert_eq!(&out[..first.len()], &first[..]);
        let trailer = &out[first.len()..];
        assert_eq!(
            trailer,
            &b"07070100000000000000000000000000000000000000010000000000000000\
              000000000000000000000000000000000000000B00000000TRAILER!!!\0\0\0\0"[..]
        );
    }

    #[test]
    fn entries_sorted_with_parents_and_inodes() {
        let out = sample(7).write().unwrap();
        let entries = parse(&out);
        let names: Vec<String> = entries
            .iter()
            .map(|e| String::from_utf8(e.0.clone()).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/busybox",
                "bin/sh",
                "dev",
                "dev/console",
                "init",
                "proc",
                "TRAILER!!!"
            ]
        );
        for (i, (_, f, _)) in entries[..7].iter().enumerate() {
            assert_eq!(f[0], i as u32 + 1, "inode");
            assert_eq!((f[2], f[3]), (0, 0), "uid/gid");
            assert_eq!(f[5], 7, "mtime");
        }
        let by = |n: &str| entries.iter().find(|e| e.0 == n.as_bytes()).unwrap();
        assert_eq!(by("bin").1[1], 0o040755);
        assert_eq!(by("bin/sh").1[1], 0o120777);
        assert_eq!(by("bin/sh").2, b"busybox");
        assert_eq!(by("dev/console").1[1], 0o020600);
        assert_eq!((by("dev/console").1[9], by("dev/console").1[10]), (5, 1));
        assert_eq!(by("init").1[1], 0o100755);
        assert_eq!(by("init").2, b"ELF!x");
    }

    #[test]
    fn reproducible_regardless_of_insertion_order() {
        let mut b = Archive::new(7);
        b.dir("proc", 0o755).unwrap();
        b.file("bin/busybox", 0o755, vec![7; 13]).unwrap();
        b.symlink("/bin/sh", "busybox").unwrap();
        b.char_dev("/dev/console", 0o600, 5, 1).unwrap();
        b.file("init", 0o755, b"ELF!x".to_vec()).unwrap();
        assert_eq!(sample(7).write().unwrap(), b.write().unwrap());
        assert_ne!(sample(7).write().unwrap(), sample(8).write().unwrap());
    }

    #[test]
    fn bad_entries() {
        let mut a = Archive::new(0);
        a.file("x", 0o644, vec![]).unwrap();
        assert!(
            a.file("x", 0o644, vec![])
                .unwrap_err()
                .0
                .contains("added twice")
        );
        assert!(
            a.file("x/y", 0o644, vec![])
                .unwrap_err()
                .0
                .contains("not a folder")
        );
        assert!(a.file("a/../b", 0o644, vec![]).is_err());
        assert!(a.file("/", 0o644, vec![]).is_err());
        assert!(
            a.file(vec![b'n'; MAX_NAME], 0o644, vec![])
                .unwrap_err()
                .0
                .contains("longer")
        );
        a.file(vec![b'n'; MAX_NAME - 1], 0o644, vec![]).unwrap();
        a.dir("d", 0o700).unwrap();
        a.dir("d/", 0o755).unwrap();
        assert_eq!(a.get("d").unwrap().perm, 0o755);
    }

    #[test]
    fn system_cpio_lists_and_extracts() {
        let t = TempDir::new("cpio");
        let mut a = sample(1_700_000_000);
        a.file(b"etc/deep/latin1-\xe9", 0o644, b"hello\n".to_vec())
            .unwrap();
        let bytes = a.write().unwrap();
        // Listing shows the device node with its numbers.
        let mut child = Command::new("cpio")
            .args(["-itv", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cpio is installed");
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&bytes).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let list = String::from_utf8_lossy(&out.stdout);
        assert!(
            list.lines().any(|l| l.starts_with("crw-------")
                && l.contains("5,")
                && l.ends_with("dev/console")),
            "{list}"
        );
        assert!(
            list.lines()
                .any(|l| l.starts_with("lrwxrwxrwx") && l.ends_with("bin/sh -> busybox")),
            "{list}"
        );
        // Extraction (without the device node, which needs root).
        let mut no_dev = Archive::new(0);
        for (name, e) in &a.entries {
            if !matches!(e.kind, Kind::CharDev { .. }) {
                no_dev.add(name, e.clone()).unwrap();
            }
        }
        let bytes = no_dev.write().unwrap();
        let mut child = Command::new("cpio")
            .args(["-idv", "--quiet", "--no-absolute-filenames"])
            .current_dir(t.path())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&bytes).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        use std::os::unix::fs::PermissionsExt;
        let init = t.path().join("init");
        assert_eq!(std::fs::read(&init).unwrap(), b"ELF!x");
        assert_eq!(
            std::fs::metadata(&init).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        assert_eq!(
            std::fs::read_link(t.path().join("bin/sh")).unwrap(),
            std::path::Path::new("busybox")
        );
        assert_eq!(
            std::fs::read(t.path().join("bin/busybox")).unwrap(),
            vec![7; 13]
        );
        use std::os::unix::ffi::OsStrExt;
        let latin1 = t
            .path()
            .join(std::ffi::OsStr::from_bytes(b"etc/deep/latin1-\xe9"));
        assert_eq!(std::fs::read(latin1).unwrap(), b"hello\n");
        assert!(t.path().join("proc").is_dir());
    }
}
