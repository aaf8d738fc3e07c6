//! The seccomp shim of `s18_loop_fallback_pre_5_8` (`tests/fixtures/no-loop-configure.c`): booted
//! as `rdinit=`, it makes `ioctl(LOOP_CONFIGURE)` fail as on kernels before 5.8 (EINVAL, or ENOTTY
//! as their compat path tells a 32-bit process), proves
//! it, and execs the product's `/init`. Compiled here with the host gcc (no libc, the kernel's UAPI
//! headers only) and shipped in an extra cpio appended to the initrd, made with the packer's writer.

use crate::util::{root, run, write};
use crate::{R, ensure};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the shim is in the initrd (and so the kernel's `rdinit=`).
pub const PATH: &str = "/e2e-no-loop-configure";

/// The errnos a kernel before 5.8 answers LOOP_CONFIGURE with: EINVAL from the loop driver, ENOTTY
/// from a 64-bit kernel's compat ioctl path to a 32-bit process.
pub const ANSWERS: [&str; 2] = ["EINVAL", "ENOTTY"];

/// The line the shim prints on the console once its filter is proven, just before it execs `/init`
/// (the start of `OK_LINE` in the C source).
pub fn ok_line(answer: &str) -> String {
    format!("e2e-shim: LOOP_CONFIGURE now fails with {answer} (seccomp)")
}

/// What `ok_line` goes on with when LOOP_SET_STATUS64 fails too (built with `set_status`).
pub fn set_status_note(errno: &str) -> String {
    format!("(seccomp), LOOP_SET_STATUS64 with {errno}:")
}

/// The start of the shim's line when something did not work.
pub const FAILED: &str = "e2e-shim: FAILED: ";

/// The C source.
pub fn source() -> PathBuf {
    root().join("tests/fixtures/no-loop-configure.c")
}

/// `gcc` as the shim needs it: static, no libc or start files (`_start` is in the source), no stack
/// protector (it would call libc's `__stack_chk_fail`), one segment with no page padding, stripped.
/// `set_status`: the errno LOOP_SET_STATUS64 gets too, if any.
pub fn gcc(src: &Path, out: &Path, answer: &str, set_status: Option<&str>) -> Command {
    let mut c = Command::new("gcc");
    c.arg(format!("-DANSWER={answer}"))
        .arg(format!("-DANSWER_NAME=\"{answer}\""));
    if let Some(errno) = set_status {
        c.arg(format!("-DSET_STATUS_ANSWER={errno}"))
            .arg(format!("-DSET_STATUS_ANSWER_NAME=\"{errno}\""));
    }
    c.args([
        "-static",
        "-Os",
        "-nostdlib",
        "-ffreestanding",
        "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables",
        "-Wl,-z,noseparate-code",
        "-Wl,--build-id=none",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-s",
        "-o",
    ])
    .arg(out)
    .arg(src);
    c
}

/// Compiles the shim answering `answer` (one of [`ANSWERS`]; LOOP_SET_STATUS64 gets `set_status`)
/// and writes the gzip'd cpio that holds it (at [`PATH`], mode 0755) to `out`.
pub fn build_archive(out: &Path, answer: &str, set_status: Option<&str>) -> R<()> {
    let bin = out.with_extension("bin");
    run(&mut gcc(&source(), &bin, answer, set_status))?;
    let elf = crate::util::read(&bin)?;
    // An x86_64 ELF executable: the only kind the amd64 kernel's rdinit= may be here.
    ensure!(
        elf.len() > 20 && elf[..4] == *b"\x7fELF" && elf[4] == 2 && elf[18] == 62,
        "{} is not an x86_64 ELF",
        bin.display()
    );
    let mut a = packer::cpio::Archive::new(0);
    a.file(PATH.trim_start_matches('/'), 0o755, elf)
        .map_err(|e| e.0)?;
    write(out, packer::gzip::gzip(&a.write().map_err(|e| e.0)?))
}
