//! Paths, running commands, locks.

use crate::{R, bail};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (the folder above `tests/`), with symlinks resolved.
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    manifest.parent().unwrap_or(&manifest).to_path_buf()
}

/// `tests/cache/`: downloaded packages, unpacked kernels (gitignored, kept between runs).
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("E2E_CACHE") {
        Some(d) => PathBuf::from(d),
        None => root().join("tests").join("cache"),
    }
}

/// `target/e2e/`: images and disks built by this run.
pub fn work_dir() -> PathBuf {
    root().join("target").join("e2e")
}

/// `target/e2e-logs/`: every boot's console log, one folder per scenario.
pub fn logs_dir() -> PathBuf {
    root().join("target").join("e2e-logs")
}

/// Shows a command line for messages.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs a command to completion; returns its stdout. A failure names the command and its stderr.
pub fn run(cmd: &mut Command) -> R<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", show(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}):\n{}{}",
            show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `run(Command::new(program).args(args))`.
pub fn sh(program: &str, args: &[&str]) -> R<String> {
    run(Command::new(program).args(args))
}

/// Where a tool is on PATH (plus the sbin folders, which a non-login root shell may lack).
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Makes sure the sbin folders are on PATH (mke2fs, sfdisk, depmod live there). Call before any
/// thread starts.
pub fn fix_path() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for d in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        if !dirs.iter().any(|p| p == Path::new(d)) {
            dirs.push(PathBuf::from(d));
        }
    }
    if let Ok(p) = std::env::join_paths(dirs) {
        // SAFETY: called from main before any other thread exists.
        unsafe { std::env::set_var("PATH", p) };
    }
}

/// An exclusive lock on a file (held until dropped): serialises processes sharing the cache.
pub fn lock(path: &Path) -> R<File> {
    if let Some(d) = path.parent() {
        mkdir(d)?;
    }
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    f.lock()
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(f)
}

pub fn mkdir(d: &Path) -> R<()> {
    std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))
}

/// Removes a folder tree if it exists, then creates it empty.
pub fn fresh_dir(d: &Path) -> R<()> {
    match std::fs::remove_dir_all(d) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("cannot remove {}: {e}", d.display()),
    }
    mkdir(d)
}

pub fn write(path: &Path, data: impl AsRef<[u8]>) -> R<()> {
    if let Some(d) = path.parent() {
        mkdir(d)?;
    }
    std::fs::write(path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn read(path: &Path) -> R<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Copies a (sparse) disk image, keeping holes.
pub fn copy_sparse(from: &Path, to: &Path) -> R<()> {
    let _ = std::fs::remove_file(to);
    run(Command::new("cp").arg("--sparse=always").arg(from).arg(to)).map(|_| ())
}

/// `dd bs=1M` from `from` to `to` with `options` (counts in MiB), keeping holes, quietly.
fn dd_mib(from: &Path, to: &Path, options: &[String]) -> R<()> {
    run(Command::new("dd")
        .arg(format!("if={}", from.display()))
        .arg(format!("of={}", to.display()))
        .args(["bs=1M", "status=none"])
        .args(options))
    .map(|_| ())
}

/// Writes a file's bytes into `disk` at `offset` bytes, keeping holes (`dd conv=notrunc,sparse`).
pub fn dd_into(file: &Path, disk: &Path, offset: u64) -> R<()> {
    const MIB: u64 = 1 << 20;
    if !offset.is_multiple_of(MIB) {
        bail!("dd_into: offset {offset} is not MiB-aligned");
    }
    dd_mib(
        file,
        disk,
        &[
            format!("seek={}", offset / MIB),
            "conv=notrunc,sparse".into(),
        ],
    )
}

/// Copies `len` bytes of `disk` from `offset` into a new file `to`, keeping holes: a partition out of a
/// disk image. Both are whole MiB.
pub fn dd_out(disk: &Path, offset: u64, len: u64, to: &Path) -> R<()> {
    const MIB: u64 = 1 << 20;
    if !offset.is_multiple_of(MIB) || !len.is_multiple_of(MIB) {
        bail!("dd_out: {offset} + {len} is not in whole MiB");
    }
    let _ = std::fs::remove_file(to);
    let (skip, count) = (offset / MIB, len / MIB);
    dd_mib(
        disk,
        to,
        &[
            format!("skip={skip}"),
            format!("count={count}"),
            "conv=sparse".into(),
        ],
    )
}

/// SHA-256 of a file, hex (`sha256sum`: fast even in a debug build of the harness).
pub fn sha256_file(path: &Path) -> R<String> {
    let out = run(Command::new("sha256sum").arg(path))?;
    match out.split_whitespace().next() {
        Some(h) if h.len() == 64 => Ok(h.to_string()),
        _ => bail!("sha256sum {}: odd output {out:?}", path.display()),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A short tail of a log for error messages.
pub fn tail(log: &str, lines: usize) -> String {
    let v: Vec<&str> = log.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}
