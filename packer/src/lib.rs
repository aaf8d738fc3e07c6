//! The initramfs-overlay packer: builds reproducible gzip'd cpio `newc` archives.
//!
//! - [`cpio`] writes the archive, [`gzip`] compresses it (miniz_oxide, level 10, with searched deflate
//!   block ends for small archives).
//! - [`image`] lays out an image (init, base dirs, `/dev/console`, user files, busybox, modules).
//! - [`modules`] resolves kernel modules from `modules.dep`, [`busybox`] reads applet names.
//! - [`apt`] is a private apt configuration (foreign arches, extra suites) that downloads Debian packages.
//! - [`elf::strip_elf`] drops everything but the bytes the program headers cover.

pub mod apt;
pub mod busybox;
pub mod cpio;
pub mod elf;
pub mod gzip;
pub mod image;
pub mod modules;

use std::fmt;
use std::path::{Path, PathBuf};

pub use elf::strip_elf;

/// The workspace version: images are named `init-<VERSION>-<arch>[-debug].gz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// An error with a message that names what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// `fail!("...")`: return early with an [`Error`] built by `format!`.
#[macro_export]
macro_rules! fail {
    ($($t:tt)*) => { return Err($crate::Error(format!($($t)*))) };
}

/// Adds the path to an I/O error.
pub(crate) fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error(format!("{what} {}: {e}", path.display()))
}

/// Reads a whole file, naming it on failure.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io_err("cannot read", path, e))
}

/// The three supported architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Armv6l,
    I686,
    X86_64,
}

impl Arch {
    pub const ALL: [Arch; 3] = [Arch::Armv6l, Arch::I686, Arch::X86_64];

    /// The name used in file names and on the command line (`uname -m` style).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Armv6l => "armv6l",
            Arch::I686 => "i686",
            Arch::X86_64 => "x86_64",
        }
    }

    /// The Rust target triple the init is built for.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::Armv6l => "arm-unknown-linux-musleabihf",
            Arch::I686 => "i586-unknown-linux-musl",
            Arch::X86_64 => "x86_64-unknown-linux-musl",
        }
    }

    /// The cargo profile the init is built with: `init`, or on ARM `init-thumb`, which compiles the
    /// init and rustix as Thumb code (see Cargo.toml).
    pub fn init_profile(self) -> &'static str {
        match self {
            Arch::Armv6l => "init-thumb",
            Arch::I686 | Arch::X86_64 => "init",
        }
    }

    /// The Debian architecture whose packages run on it.
    pub fn debian(self) -> &'static str {
        match self {
            Arch::Armv6l => "armel",
            Arch::I686 => "i386",
            Arch::X86_64 => "amd64",
        }
    }

    /// The ELF `e_machine` of its binaries.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::Armv6l => elf::EM_ARM,
            Arch::I686 => elf::EM_386,
            Arch::X86_64 => elf::EM_X86_64,
        }
    }

    pub fn parse(s: &str) -> Result<Arch> {
        match Arch::ALL.iter().find(|a| a.name() == s || a.debian() == s) {
            Some(a) => Ok(*a),
            None => fail!("unknown arch {s:?} (expected armv6l, i686 or x86_64)"),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The workspace root (the folder above this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    workspace_root().join("target")
}

/// Where cargo builds the init in `target`: `<target>/<triple>/<profile>/init`.
pub fn init_binary(target: &Path, arch: Arch) -> PathBuf {
    target
        .join(arch.triple())
        .join(arch.init_profile())
        .join("init")
}

/// The init binary in the workspace's target folder.
pub fn default_init(arch: Arch) -> PathBuf {
    init_binary(&target_dir(), arch)
}

/// File name of an image: `init-<version>-<arch>[-debug].gz`.
pub fn image_name(arch: Arch, debug: bool) -> String {
    format!(
        "init-{VERSION}-{}{}.gz",
        arch.name(),
        if debug { "-debug" } else { "" }
    )
}

/// `target/init-<version>-<arch>[-debug].gz`.
pub fn default_output(arch: Arch, debug: bool) -> PathBuf {
    target_dir().join(image_name(arch, debug))
}

/// `<workspace>/busybox-cache` (or `$PACKER_BUSYBOX_CACHE`): downloaded busybox packages and the
/// private apt state.
pub fn busybox_cache() -> PathBuf {
    match std::env::var_os("PACKER_BUSYBOX_CACHE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("busybox-cache"),
    }
}

/// The archive mtime: `SOURCE_DATE_EPOCH` if set, else 0.
pub fn source_date_epoch() -> Result<u32> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(0),
        Ok(s) => match s.trim().parse::<u32>() {
            Ok(v) => Ok(v),
            Err(_) => fail!(
                "SOURCE_DATE_EPOCH={s:?} is not a number of seconds that fits newc (0..=4294967295)"
            ),
        },
    }
}

/// `.tmp<pid>-<n>`: a name suffix no other process or thread is using.
pub(crate) fn tmp_suffix() -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        ".tmp{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that a
/// failure never leaves a partial output. Creates the folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| io_err("cannot create folder", dir, e))?;
    let Some(name) = path.file_name() else {
        fail!("output {} has no file name", path.display())
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(tmp_suffix());
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err("cannot write", path, e));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh, empty temporary folder (removed on drop).
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::SeqCst);
            let p =
                std::env::temp_dir().join(format!("packer-test-{}-{tag}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names() {
        for a in Arch::ALL {
            assert_eq!(Arch::parse(a.name()).unwrap(), a);
            assert_eq!(Arch::parse(a.debian()).unwrap(), a);
        }
        assert!(Arch::parse("mips").unwrap_err().0.contains("mips"));
        assert_eq!(
            image_name(Arch::X86_64, true),
            format!("init-{VERSION}-x86_64-debug.gz")
        );
        assert!(
            default_output(Arch::I686, false).ends_with(format!("target/init-{VERSION}-i686.gz"))
        );
    }

    #[test]
    fn atomic_write_leaves_no_temp() {
        let t = testutil::TempDir::new("atomic");
        let out = t.path().join("sub/x.gz");
        write_atomic(&out, b"abc").unwrap();
        write_atomic(&out, b"de").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"de");
        let names: Vec<_> = std::fs::read_dir(t.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.gz")]);
        // A folder in the way: error, nothing written.
        std::fs::create_dir(t.path().join("d")).unwrap();
        assert!(write_atomic(&t.path().join("d"), b"x").is_err());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 2);
    }
}
