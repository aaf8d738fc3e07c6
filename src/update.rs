//! Power-safe promotion of a staged image, and the choice of the image to boot.
//!
//! `promote` moves `newimg/<image>` into the `img` partition so that, at every instant, `img/<image>` on
//! disk is a complete, verified image (old or new) and the previous image is never lost:
//!
//! 1. remove temporaries left on `img` by an interrupted run;
//! 2. when `img/<image>` already holds the staged image, the last run was cut after publishing: only
//!    remove the source (never copy again, never touch `-old`);
//! 3. verify the source (squashfs superblock, and the `<image>.sha256` sidecar when present); a bad one
//!    is renamed to `<image>.rejected` beside a one-line `<image>.rejected.reason`;
//! 4. check free space; delete a stale `-old` only when that alone makes room;
//! 5. copy to a temporary file, allocated whole first, with sendfile (see `copy` for why nothing
//!    else) and fsync it;
//! 6. hard-link the current image to a temporary name and rename that over `-old` (atomic), fsync;
//! 7. rename the copy over `<image>` (atomic), fsync the directory;
//! 8. only then remove the source (and its sidecar) from `newimg`, fsync.
//!
//! A power cut between any two steps leaves a state from which the next run finishes the update.
//!
//! Every outcome is logged (`update: ...` lines from one table, `NOTES`); a failed system call as
//! `update: cannot <what> (<ERRNO>)`, after which the current image is untouched and the update is
//! tried again at the next boot. Failures travel inside the module as one packed number (`Fail`).

use crate::cpath::CPath;
use crate::fd::Fd;
use crate::log::{Level, Log};
use crate::{errnames, numfmt, sha256, squashfs};
use core::ffi::CStr;
use core::num::NonZeroU32;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{self, AtFlags, Mode, OFlags};
use rustix::io::{self, Errno};

/// Bytes moved per copy call: large enough for full speed, small enough to report progress.
const CHUNK: u64 = 1 << 20;

/// The copy before it is published. Temporaries have fixed, hidden names so that any run finds them.
const TMP: &CStr = c".iovl-new.tmp";
/// The second name of the current image before it replaces `-old`.
const OLD_TMP: &CStr = c".iovl-old.tmp";

/// The name of a rejected update's reason file: the image name with this suffix.
const REASON_SUFFIX: &[u8] = b".rejected.reason";
/// The rejected update's own suffix (cut from `REASON_SUFFIX`, see `crate::inside`).
const REJECTED_SUFFIX: &[u8] = crate::inside(REASON_SUFFIX, b".rejected");
/// The marker of the previous image's name (cut from `OLD_TMP`).
const OLD_MARKER: &[u8] = crate::inside(OLD_TMP.to_bytes(), b"-old");
/// The longest suffix added to the image name, `REASON_SUFFIX`: names stay within NAME_MAX (255).
const LONGEST_SUFFIX: usize = REASON_SUFFIX.len();

/// A failure: what went wrong and, for a failed system call, the kernel's answer. Without an errno it
/// is a problem with the data (a bad image or name): a staged image with one is rejected, not retried.
/// With one, `what` is what could not be done, said after `cannot ` (stored once, see `error_parts`).
/// It is the packed `Fail` itself, not its texts: one register to pass, store and compare (an
/// `Option<Error>` too), the texts looked up only when a line is written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Error(Fail);

impl Error {
    /// A checked image that the kernel refused to mount.
    #[optimize(size)]
    pub fn mount_failed(errno: Errno) -> Error {
        Error(Msg::MountImage.errno(errno))
    }

    /// No loop device could take a checked image.
    #[optimize(size)]
    pub fn no_loop_device() -> Error {
        Error(Msg::NoLoopDevice.bad())
    }

    /// What went wrong, or what could not be done (with an errno).
    #[optimize(size)]
    pub fn what(self) -> &'static [u8] {
        self.0.what()
    }

    /// The kernel's answer to a failed system call; none for a data problem.
    #[optimize(size)]
    pub fn errno(self) -> Option<Errno> {
        (!self.0.is_data()).then(|| Errno::from_raw_os_error(self.0.errno_number()))
    }
}

/// The failures inside this module: a message number and the errno negated and cut to 16 bits, as
/// rustix holds it (0: a data problem), packed as `errno << 16 | (message + 1)`. Never zero, so a
/// `Res<()>` is one register and each `?` is a test; the public functions hand it out as an `Error`.
/// The message in the low byte keeps the constants small (Thumb-1 loads anything above 255 from a
/// literal pool); the errno in the high half needs no zero extension (the shift drops what lies above
/// its 16 bits), and is where rustix's `Result<(), Errno>` already holds it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Fail(NonZeroU32);

type Res<T> = Result<T, Fail>;

/// The messages of `Fail` after the squashfs reasons, in the order of `MESSAGES`.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Msg {
    BadName = Msg::FIRST,
    NotRegular,
    ShaMismatch,
    ShaFormat,
    StatfsImg,
    DeleteOld,
    FsyncImg,
    CreateCopy,
    FsyncCopy,
    LinkCurrent,
    RenameToOld,
    RenameCopy,
    ReadSha,
    ReadImage,
    Shrank,
    WriteCopy,
    WriteReason,
    RenameRejected,
    FsyncNewimg,
    Remove,
    OpenImage,
    Missing,
    StatImage,
    MountImage,
    NoLoopDevice,
}

/// The texts of `Fail` by number: the squashfs reasons (`squashfs::Bad`), then those of `Msg`. Those
/// that go with an errno (`Msg::errno`) say what could not be done: `cannot ` is added when they are
/// written (see `error_parts`); those of data problems (`Msg::bad`) say what is wrong.
const MESSAGES: &str = concat!(
    squashfs::reasons!(),
    "bad image name
not a regular file
sha256 mismatch
malformed .sha256 file
statfs img
delete the -old image
fsync img
create the copy on img
fsync the copy
link the current image
rename the current image to -old
rename the copy to the image name
read the .sha256 file
read an image
read all of an image: it shrank
copy the update to img
write the reason file
rename the rejected update
fsync newimg
remove a file
open an image
find the image
stat an image
mount the squashfs image
no loop device
"
);

impl Msg {
    /// After the `squashfs::Bad` numbers, whose texts start `MESSAGES`.
    const FIRST: u8 = squashfs::Bad::Truncated as u8 + 1;

    /// A problem with the data, with no errno.
    #[optimize(size)]
    fn bad(self) -> Fail {
        Fail::new(self as u8, 0)
    }

    /// The errno goes in negated, as rustix holds it (so no negation at each call site).
    #[optimize(size)]
    fn errno(self, errno: Errno) -> Fail {
        Fail::new(self as u8, errno.raw_os_error().wrapping_neg() as u16)
    }
}

impl Fail {
    #[optimize(size)]
    fn new(msg: u8, errno: u16) -> Fail {
        // `msg` stays below 255 (the messages and reasons are far fewer), so the 1 never carries.
        Fail(NonZeroU32::MIN.saturating_add(u32::from(errno) << 16 | u32::from(msg)))
    }

    /// Below `Msg::FIRST`: a `squashfs::Bad`; from it on: a `Msg`.
    #[optimize(size)]
    fn msg(self) -> u8 {
        (self.0.get() as u8).wrapping_sub(1)
    }

    /// The errno as packed: negated, 0 for none.
    #[optimize(size)]
    fn errno(self) -> u16 {
        (self.0.get() >> 16) as u16
    }

    /// The errno as the kernel numbers it, 0 for none.
    #[optimize(size)]
    fn errno_number(self) -> i32 {
        -i32::from(self.errno() as i16)
    }

    /// How `open` fails for a missing file: `Msg::Missing` comes only with ENOENT, so its number
    /// alone tells (a compare of one byte, not of the whole packed value).
    #[optimize(size)]
    fn is_missing(self) -> bool {
        self.msg() == Msg::Missing as u8
    }

    /// A problem with the data: no errno, so nothing above the message byte (one compare with a
    /// small constant, where a test of the errno's bits needs a mask from a literal pool on Thumb).
    #[optimize(size)]
    fn is_data(self) -> bool {
        self.0.get() <= 0xff
    }

    #[optimize(size)]
    fn what(self) -> &'static [u8] {
        crate::nth(MESSAGES, usize::from(self.msg()))
    }
}

impl From<squashfs::Bad> for Fail {
    #[optimize(size)]
    fn from(bad: squashfs::Bad) -> Fail {
        Fail::new(bad as u8, 0)
    }
}

impl From<Fail> for Error {
    #[optimize(size)]
    fn from(f: Fail) -> Error {
        Error(f)
    }
}

/// Attaches a message to a syscall result.
trait Context<T> {
    fn ctx(self, msg: Msg) -> Res<T>;
}

impl<T> Context<T> for io::Result<T> {
    #[optimize(size)]
    fn ctx(self, msg: Msg) -> Res<T> {
        self.map_err(|errno| msg.errno(errno))
    }
}

/// What a promotion did, in the order of the status file's words (`UPDATE_WORDS`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
// A tag byte of its own: otherwise the tag hides in a spare value of `Error`'s 16-bit errno field,
// and every outcome is written and tested with 16-bit operations (+128 B on x86_64).
#[repr(u8)]
pub enum Outcome {
    /// No image was staged on `newimg`.
    NoUpdate,
    /// The staged image is now the current one; the previous one is `-old`.
    Promoted,
    /// A promotion cut short after publishing was finished by removing the source.
    Recovered,
    /// `Hooks::after` asked to stop after this step (tests simulate a power cut).
    Interrupted(Step),
    /// The staged image is bad; it was renamed to `<image>.rejected`.
    Rejected(&'static [u8]),
    /// `img` lacks this many bytes; nothing was changed.
    NoSpace { missing: u64 },
    /// A system call failed; the current image is untouched and the update is retried next boot.
    Failed(Error),
}

impl Outcome {
    /// The outcome's number, in the order of its variants: its tag (out of line, the match is
    /// compiled as the tag itself).
    // Left to LLVM on x86_64: -8 B there with `Logger::warn` also left to it (0 alone), measured.
    #[cfg_attr(not(target_arch = "x86_64"), inline(never))]
    #[optimize(size)]
    fn number(&self) -> usize {
        match *self {
            Outcome::NoUpdate => 0,
            Outcome::Promoted => 1,
            Outcome::Recovered => 2,
            Outcome::Interrupted(_) => 3,
            Outcome::Rejected(_) => 4,
            Outcome::NoSpace { .. } => 5,
            Outcome::Failed(_) => 6,
        }
    }
}

/// The points of a promotion after which `Hooks::after` is called.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    /// Temporaries of an interrupted run are gone.
    Cleaned,
    /// The reason file of a rejected update is written and fsynced.
    ReasonWritten,
    /// The bad update was renamed to `<image>.rejected`.
    Rejected,
    /// A stale `-old` was deleted to make room.
    OldDeleted,
    /// One more chunk of the copy was written.
    Copying,
    /// The copy is complete and fsynced under its temporary name.
    Copied,
    /// The current image got a second, temporary name.
    OldLinked,
    /// That name was renamed over `-old`, and the directory fsynced.
    OldKept,
    /// The copy was renamed over `<image>`, and the directory fsynced.
    Published,
    /// The source is gone from `newimg`.
    SourceRemoved,
}

/// What `promote` needs from its caller besides the directories.
pub trait Hooks {
    /// Milliseconds since any fixed point, for durations and MiB/s; wrapping, as the boot's step times
    /// (a copy takes far less than the 49 days of a u32), so 32-bit targets need no 64-bit arithmetic.
    fn now_ms(&mut self) -> u32;
    /// Called after each step; `false` stops the promotion there (tests simulate a power cut).
    fn after(&mut self, _step: Step) -> bool {
        true
    }
    /// The free bytes on `img` to plan with, given what statfs reported (tests inject a shortage).
    fn free_bytes(&mut self, reported: u64) -> u64 {
        reported
    }
}

/// Refuses names that are not a plain file name, or too long for the suffixes we add. Inlined except
/// on i686, where it measured 32 B smaller out of line (x86_64 -16 B, ARM -16 B inlined).
#[cfg_attr(not(target_arch = "x86"), inline(always))]
#[optimize(size)]
fn check_name(image: &[u8]) -> Res<()> {
    if crate::bad_file_name(image, 255 - LONGEST_SUFFIX) {
        return Err(Msg::BadName.bad());
    }
    Ok(())
}

/// `image` with `part` added: a suffix (".sha256") at the end, a marker ("-old") before the last
/// '.', unless that dot starts the name (root-squashfs.img: root-squashfs-old.img). The join is lossy
/// only for a name `check_name` refuses, and every caller checks the name before it uses the path.
#[optimize(size)]
fn name(image: &[u8], part: &[u8]) -> CPath {
    // Only a marker splits at a dot, so only for one is the dot looked for: 16 / 20 / 24 B smaller
    // than testing the marker inside the search.
    let marker = part.first() == Some(&b'-');
    let dot = marker
        .then(|| image.iter().rposition(|&c| c == b'.'))
        .flatten()
        .filter(|&i| i > 0)
        .unwrap_or(image.len());
    let (stem, ext) = image.split_at_checked(dot).unwrap_or((image, b""));
    CPath::lossy(&[stem, part, ext])
}

/// What the update's log lines start with: `update: ` before a note, and its step's name alone before
/// the `: cannot ...` of a failure (one constant holds both).
const LOG_HEAD: &[u8] = b"update: ";
const LOG_STEP: &[u8] = crate::inside(LOG_HEAD, b"update");
/// What the image check's failures start with (cut from `NOTES`).
const IMAGE_HEAD: &[u8] = crate::inside(NOTES.as_bytes(), b"image: ");
/// The suffix of an image's SHA-256 file (cut from `NOTES`).
const SIDECAR_SUFFIX: &[u8] = crate::inside(NOTES.as_bytes(), b".sha256");

/// The update's own log lines, in the order of `Note`: the text after `update: `, one line per
/// `Note` in three `nth` entries, around the two arguments of `say`.
const NOTES: &str = concat!(
    "newimg holds \n, \n bytes\n",
    "img already holds it; removing it from newimg\n\n\n",
    "no .sha256 file; checked the superblock only\n\n\n",
    "rejected: \n; renaming it to *.rejected\n\n",
    "deleting \n to make room\n\n",
    "img lacks \n\n bytes; not promoted\n",
    "promoted \n; previous image: \n\n",
    "sha256 ok in \n ms, \n MiB/s\n",
    "copied in \n ms, \n MiB/s\n",
);

/// The log level of each line of `NOTES`.
const LEVELS: [Level; 9] = [
    Level::Notice,
    Level::Notice,
    Level::Notice,
    Level::Error,
    Level::Warning,
    Level::Error,
    Level::Notice,
    Level::Info,
    Level::Info,
];

/// The lines of `NOTES`.
#[derive(Clone, Copy)]
enum Note {
    Holds,
    AlreadyHolds,
    NoSidecar,
    Rejected,
    DeletingOld,
    Lacks,
    Promoted,
    ShaOk,
    Copied,
}

/// Logs line `note` of `NOTES` with its arguments: one function for every line of the update (those
/// with at most one argument call it through `say_one`).
#[inline(never)]
#[optimize(size)]
fn say(log: &mut impl Log, note: Note, a: &[u8], b: &[u8]) {
    let level = LEVELS.get(note as usize).copied().unwrap_or(Level::Info);
    // The texts' slots start as copies of the arguments, stored from the registers that hold them
    // (cheaper than empty slices); the loop fills them with the note's three texts, around the
    // arguments: one call site for the lookup.
    let mut parts = [LOG_HEAD, a, a, b, b, b];
    for i in 0..3 {
        parts[2 * i + 1] = crate::nth(NOTES, note as usize * 3 + i);
    }
    log.line(level, &parts);
}

/// `say` for the lines with at most one argument: a call passes two values fewer.
#[inline(never)]
#[optimize(size)]
fn say_one(log: &mut impl Log, note: Note, a: &[u8]) {
    say(log, note, a, b"");
}

/// `say` with a number, in decimal, as its second argument.
#[inline(never)]
#[optimize(size)]
fn say_num(log: &mut impl Log, note: Note, a: &[u8], number: u64) {
    let mut num = numfmt::digits();
    say(log, note, a, numfmt::dec(number, &mut num));
}

/// Stops the promotion when the hook says so.
macro_rules! step {
    ($hooks:expr, $step:expr) => {
        if !$hooks.after($step) {
            return Ok(Outcome::Interrupted($step));
        }
    };
}

/// Promotes `new_dir/<image>` to `img_dir/<image>` (both mounted read-write), keeping the previous
/// image as `-old`, or finishes an interrupted promotion. Never leaves `img_dir` without a complete
/// image. Logs every outcome, a failure as `update: cannot <what> (<ERRNO>)`.
#[inline(never)]
#[optimize(size)]
pub fn promote(
    img_dir: BorrowedFd,
    new_dir: BorrowedFd,
    image: &[u8],
    log: &mut impl Log,
    hooks: &mut impl Hooks,
) -> Outcome {
    let current_name = name(image, b"");
    // The source stays open (and is closed) out here, so that no exit of `run` has to close it.
    let outcome = check_name(image).and_then(|()| match open(new_dir, current_name.as_cstr()) {
        Ok(src) => run(
            img_dir,
            new_dir,
            src.as_fd(),
            current_name.as_cstr(),
            image,
            log,
            hooks,
        ),
        Err(f) if f.is_missing() => Ok(Outcome::NoUpdate),
        Err(f) => Err(f),
    });
    outcome.unwrap_or_else(|f| {
        let e = Error(f);
        report(log, LOG_STEP, b"", e);
        Outcome::Failed(e)
    })
}

#[optimize(size)]
fn run(
    img: BorrowedFd,
    new: BorrowedFd,
    src: BorrowedFd,
    current: &CStr,
    image: &[u8],
    log: &mut impl Log,
    hooks: &mut impl Hooks,
) -> Res<Outcome> {
    let old_name = name(image, OLD_MARKER);
    // The sidecar's name, made once for the check and both removals.
    let sidecar = &name(image, SIDECAR_SUFFIX);
    let (size, regular) = stat(src)?;
    say_num(log, Note::Holds, image, size);
    // One buffer for both scans and the sidecar's read.
    let buf = &mut [0; 64 * 1024];

    // One call site for both (a loop over references: by value is an ARM-mode helper on Thumb).
    for temporary in &[TMP, OLD_TMP] {
        remove(img, temporary)?;
    }
    step!(hooks, Step::Cleaned);

    // A power cut after publishing leaves the source behind: finish without copying, and keep -old.
    // A damaged current image (we booted -old) must not push a good -old out.
    let (mut same, mut keep_current) = (false, false);
    match open(img, current) {
        Ok(fd) => {
            let (current_size, _) = stat(fd.as_fd())?;
            same = current_size == size;
            if same {
                scan(buf, size, fd.as_fd(), None, Some((src, &mut same)))?;
            }
            keep_current = check_image(fd.as_fd()).is_ok();
        }
        Err(f) if f.is_missing() => {}
        Err(f) => return Err(f),
    }
    let outcome = 'outcome: {
        if same {
            say_one(log, Note::AlreadyHolds, b"");
            break 'outcome Outcome::Recovered;
        }
        let verdict = if regular {
            verify(src, size, new, sidecar, buf, log, hooks)
        } else {
            Err(Msg::NotRegular.bad())
        };
        match verdict {
            Ok(()) => {}
            Err(f) if f.is_data() => {
                let reason = f.what();
                if !reject(new, current, image, reason, log, hooks)? {
                    return Ok(Outcome::Interrupted(Step::ReasonWritten));
                }
                break 'outcome Outcome::Rejected(reason);
            }
            Err(e) => return Err(e),
        }

        let vfs = fs::fstatfs(img).ctx(Msg::StatfsImg)?;
        // Block sizes are powers of two from 512 B to 64 KiB: the clamps only keep absurd values
        // from overflowing the products below (a checked 64-bit multiply is a call on 32-bit
        // targets). Free blocks are counted up to 2^32 - 1, at least 2 TiB, far more than any image:
        // 32-bit factors make one multiply instruction there. statfs itself, not rustix's statvfs
        // made from it: the kernel already puts f_bsize in a zero f_frsize. (f_frsize is i64 or u32
        // by arch.)
        let block = (vfs.f_frsize as u64).min(1 << 20) as u32;
        let free_blocks = vfs.f_bfree.min(u32::MAX.into()) as u32;
        let free = hooks.free_bytes(u64::from(free_blocks) * u64::from(block));
        // Room for the data (rounded up to whole blocks, no division: at most one block more) plus
        // slack for the file system's own blocks (extent tree, journal credits). The size of a file
        // is below 2^63.
        let needed = size + u64::from(17 * block);
        let old = old_name.as_cstr();
        // Deleting -old frees its blocks only when it has no other name. (st_blocks is i64 on
        // 64-bit targets and u64 on 32-bit ones, and never negative.)
        #[allow(clippy::unnecessary_cast)]
        let old_bytes = match crate::stat(img, old, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_nlink == 1 => (st.st_blocks as u64) << 9,
            Ok(_) | Err(Errno::NOENT) => 0,
            Err(e) => return Err(Msg::StatImage.errno(e)),
        };
        match plan_space(free, needed, old_bytes) {
            Space::Fits => {}
            Space::FitsWithoutOld => {
                say_one(log, Note::DeletingOld, old_name.as_bytes());
                fs::unlinkat(img, old, AtFlags::empty()).ctx(Msg::DeleteOld)?;
                sync(img, Msg::FsyncImg)?;
                step!(hooks, Step::OldDeleted);
            }
            Space::Short { missing } => {
                say_num(log, Note::Lacks, b"", missing);
                return Ok(Outcome::NoSpace { missing });
            }
        }

        let tmp = crate::fd::open(
            img,
            TMP,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from(0o644),
        )
        .ctx(Msg::CreateCopy)?;
        let start = hooks.now_ms();
        match copy(src, tmp.as_fd(), size, hooks) {
            Ok(true) => {}
            Ok(false) => return Ok(Outcome::Interrupted(Step::Copying)),
            Err(e) => {
                // Give the space back; the error that matters is the copy's.
                let _ = remove(img, TMP);
                return Err(e);
            }
        };
        sync(tmp.as_fd(), Msg::FsyncCopy)?;
        drop(tmp);
        log_rate(log, size, Note::Copied, start, hooks);
        step!(hooks, Step::Copied);

        // Give the current image the -old name through a link and an atomic rename, so that it never
        // disappears: after a cut, either the previous -old or the current image holds that name.
        if keep_current {
            fs::linkat(img, current, img, OLD_TMP, AtFlags::empty()).ctx(Msg::LinkCurrent)?;
            step!(hooks, Step::OldLinked);
            rename(img, OLD_TMP, old, Msg::RenameToOld)?;
            // When -old already was this very file (a cut after this step), rename did nothing.
            remove(img, OLD_TMP)?;
            sync(img, Msg::FsyncImg)?;
            step!(hooks, Step::OldKept);
        }
        rename(img, TMP, current, Msg::RenameCopy)?;
        sync(img, Msg::FsyncImg)?;
        let previous = if keep_current {
            old_name.as_bytes()
        } else {
            b"none (it was missing or damaged)"
        };
        say(log, Note::Promoted, image, previous);
        step!(hooks, Step::Published);
        Outcome::Promoted
    };

    // Only now the source goes: its sidecar first, so that a cut in between leaves an image that the
    // next run recognises as already promoted, rather than a stale sidecar that would fail the next
    // update. A rejected one is already renamed aside: then its sidecar goes after it, or it would
    // fail the next update (the other order could leave a bad image with no hash to fail).
    let rejected = matches!(outcome, Outcome::Rejected(_));
    remove(new, sidecar.as_cstr())?;
    if !rejected {
        remove(new, current)?;
    }
    sync(new, Msg::FsyncNewimg)?;
    let done = if rejected {
        Step::Rejected
    } else {
        Step::SourceRemoved
    };
    step!(hooks, done);
    Ok(outcome)
}

/// renameat(2) within `dir` (atomic, replacing `to`), failing with `msg`. Inlined on ARM and i686,
/// where its three calls cost more than the syscalls themselves (-32 B on ARM, -48 on i686, where a
/// mere hint changed nothing; x86_64 unchanged as a hint).
#[cfg_attr(any(target_arch = "arm", target_arch = "x86"), inline(always))]
#[cfg_attr(not(any(target_arch = "arm", target_arch = "x86")), inline(never))]
#[optimize(size)]
fn rename(dir: BorrowedFd, from: &CStr, to: &CStr, msg: Msg) -> Res<()> {
    fs::renameat(dir, from, dir, to).ctx(msg)
}

/// fsync(2), failing with `msg`. Inlined on i686, where its two-operand `int 0x80` is about a call's
/// size (-8 B there; +72 on x86_64).
#[cfg_attr(target_arch = "x86", inline(always))]
#[cfg_attr(not(target_arch = "x86"), inline(never))]
#[optimize(size)]
fn sync(fd: BorrowedFd, msg: Msg) -> Res<()> {
    fs::fsync(fd).ctx(msg)
}

/// Room on `img` after comparing free bytes with what the copy needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Space {
    Fits,
    /// Fits once the stale `-old` (worth `old_bytes`) is deleted.
    FitsWithoutOld,
    Short {
        missing: u64,
    },
}

#[optimize(size)]
fn plan_space(free: u64, needed: u64, old_bytes: u64) -> Space {
    if free >= needed {
        Space::Fits
    } else if old_bytes > 0 && free.saturating_add(old_bytes) >= needed {
        Space::FitsWithoutOld
    } else {
        Space::Short {
            missing: needed - free.saturating_add(old_bytes),
        }
    }
}

/// Checks the squashfs superblock and, when `sidecar` (`<image>.sha256`) exists on newimg, the
/// SHA-256.
#[optimize(size)]
fn verify(
    src: BorrowedFd,
    size: u64,
    new: BorrowedFd,
    sidecar: &CPath,
    buf: &mut [u8; 64 * 1024],
    log: &mut impl Log,
    hooks: &mut impl Hooks,
) -> Res<()> {
    check_image(src)?;
    let sidecar = match open(new, sidecar.as_cstr()) {
        Err(f) if f.is_missing() => {
            say_one(log, Note::NoSidecar, b"");
            return Ok(());
        }
        sidecar => sidecar?,
    };
    // 64 hex digits and the character after them are all that matters.
    let line = buf.get_mut(..65).unwrap_or_default();
    let got = io::read(&sidecar, &mut *line);
    // One close for both ways out.
    drop(sidecar);
    let got = got.ctx(Msg::ReadSha)?;
    let line = line.get(..got).unwrap_or_default();
    // Parsed where it is looked at, not copied out of an `Option`. Its start value never shows (the
    // 64 digits shift every bit in): on 32-bit targets the words start as the length read, stored
    // from the register that holds it (eight zero immediates are longer on i686; zeros +8 B on
    // ARM); x86_64 zeroes them with two 16-byte stores, shorter than that loop (-8 B).
    let mut expected = if cfg!(target_arch = "x86_64") {
        [0; 8]
    } else {
        [got as u32; 8]
    };
    sha256::parse_sidecar_into(line, &mut expected).ok_or(Msg::ShaFormat.bad())?;
    let start = hooks.now_ms();
    let mut hash = sha256::Sha256::new();
    scan(buf, size, src, Some(&mut hash), None)?;
    if hash.finish() != expected {
        return Err(Msg::ShaMismatch.bad());
    }
    log_rate(log, size, Note::ShaOk, start, hooks);
    Ok(())
}

/// Reads `size` bytes of `fd` into `buf`: hashes them into `hash` and compares them with the same
/// bytes of `other`, each when given (the comparison clears `other`'s flag at the first difference,
/// and stops there). One read loop for the recovery check and the SHA-256. Either file ending early
/// is an error. A flag, not a `Res<bool>`: each caller then tests one packed value, not two. The
/// buffer is the caller's (`run`'s, one for both calls): a 64 KiB buffer of scan's own, inlined,
/// became one stack slot with `promote`'s small temporaries, which x86_64 then reached with 4-byte
/// offsets. Out of line, but inlined on ARM, where its arguments would wait on the stack past the
/// buffer, each reached through a literal (out of line there: +104 B). The buffer first: -8 B on
/// i686.
#[cfg_attr(target_arch = "arm", inline(always))]
#[cfg_attr(not(target_arch = "arm"), inline(never))]
#[optimize(size)]
fn scan(
    buf: &mut [u8; 64 * 1024],
    size: u64,
    fd: BorrowedFd,
    mut hash: Option<&mut sha256::Sha256>,
    mut other: Option<(BorrowedFd, &mut bool)>,
) -> Res<()> {
    // One buffer in two halves.
    let (ours, theirs) = buf.split_at_mut(32 * 1024);
    let mut done = 0;
    while done < size {
        let len = (size - done).min(ours.len() as u64) as usize;
        let part = ours.get_mut(..len).unwrap_or_default();
        read_exact_at(fd, part, done)?;
        if let Some(hash) = hash.as_deref_mut() {
            hash.update(part);
        }
        if let Some((other, same)) = other.as_mut() {
            let their_part = theirs.get_mut(..len).unwrap_or_default();
            read_exact_at(*other, their_part, done)?;
            if part != their_part {
                **same = false;
                break;
            }
        }
        done += len as u64;
    }
    Ok(())
}

/// Fills `buf` from `offset` of `fd`; the file ending first is an error.
#[optimize(size)]
fn read_exact_at(fd: BorrowedFd, mut buf: &mut [u8], mut offset: u64) -> Res<()> {
    while !buf.is_empty() {
        match io::pread(fd, &mut *buf, offset) {
            Ok(0) => return Err(Msg::Shrank.errno(Errno::IO)),
            Ok(got) => {
                // pread reads at most the buffer: the clamp lets the compiler drop the fallback.
                buf = buf.get_mut(got.min(buf.len())..).unwrap_or_default();
                offset += got as u64;
            }
            Err(e) => return Err(Msg::ReadImage.errno(e)),
        }
    }
    Ok(())
}

/// Copies `size` bytes from `src` to `dst`, each from its file position 0, with sendfile(2), a chunk
/// per call so that the hook sees progress. Returns false when the hook said stop.
///
/// Only sendfile: `img` and `newimg` are two file systems, and copy_file_range(2) between two file
/// systems is refused with EXDEV before Linux 5.3, and again since 5.19 unless the file system
/// implements it (ext4 and vfat do not); on 5.3 to 5.18 the kernel did it with the same in-kernel
/// splice (`do_splice_direct`) that sendfile uses. sendfile from and to regular files on ext4 or
/// vfat works on every kernel this init runs on (since 2.6.33), so no read/write fallback either.
///
/// The copy's whole size is allocated first (fallocate(2)): ext4 then neither reserves each block
/// nor grows the file at each page written (an inode update in the journal each time). Measured on
/// ext4 under QEMU: 29% fewer guest instructions for the copy (1 KiB and 4 KiB blocks alike), 20%
/// less time under TCG. Only a hint, its result unused: where it is not supported (ext4 without
/// extents) the copy runs as before, and a full file system still fails the copy in sendfile. (vfat
/// would emulate it by writing zeros, a second full write, but img is ext4.) A power cut during the
/// copy leaves a full-size temporary file, which the next promotion removes first.
#[optimize(size)]
fn copy(src: BorrowedFd, dst: BorrowedFd, size: u64, hooks: &mut impl Hooks) -> Res<bool> {
    let _ = fs::fallocate(dst, fs::FallocateFlags::empty(), 0, size);
    let mut left = size;
    while left > 0 {
        // From the source's file position, which sendfile advances: still 0 here, since every
        // other read of the source is a pread. No offset in memory: a count of what is left, in a
        // register, measured smaller.
        match fs::sendfile(dst, src, None, left.min(CHUNK) as usize) {
            // The source ended before its size: it shrank, never a short image.
            Ok(0) => return Err(Msg::Shrank.errno(Errno::IO)),
            Ok(moved) => {
                // sendfile moves at most the count asked for.
                left -= moved as u64;
                if !hooks.after(Step::Copying) {
                    return Ok(false);
                }
            }
            Err(e) => return Err(Msg::WriteCopy.errno(e)),
        }
    }
    Ok(true)
}

/// Renames a bad update aside with its reason, so that it is not tried again at every boot (its
/// sidecar goes with the source's removal in `run`). False when the hook said stop.
#[optimize(size)]
fn reject(
    new: BorrowedFd,
    current: &CStr,
    image: &[u8],
    reason: &'static [u8],
    log: &mut impl Log,
    hooks: &mut impl Hooks,
) -> Res<bool> {
    say_one(log, Note::Rejected, reason);
    // The reason first: a cut before the rename only means the update is checked and rejected again.
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
    let file = crate::fd::open(
        new,
        name(image, REASON_SUFFIX).as_cstr(),
        flags,
        Mode::from(0o644),
    )
    .ctx(Msg::WriteReason)?;
    // The reason and its newline in one writev: no buffer to join them in.
    let line = [io::IoSlice::new(reason), io::IoSlice::new(b"\n")];
    // A short write to a regular file means the file system is full.
    let written = match io::writev(&file, &line) {
        Ok(n) if n == reason.len() + 1 => sync(file.as_fd(), Msg::WriteReason),
        Ok(_) => Err(Msg::WriteReason.errno(Errno::NOSPC)),
        Err(e) => Err(Msg::WriteReason.errno(e)),
    };
    // One close for every way out.
    drop(file);
    written?;
    if !hooks.after(Step::ReasonWritten) {
        return Ok(false);
    }
    let rejected = name(image, REJECTED_SUFFIX);
    rename(new, current, rejected.as_cstr(), Msg::RenameRejected)?;
    Ok(true)
}

/// Unlinks `name` if it is there.
#[optimize(size)]
fn remove(dir: BorrowedFd, name: &CStr) -> Res<()> {
    match fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(Msg::Remove.errno(e)),
    }
}

/// Opens a file to read; a missing one fails with `Msg::Missing` (see `Fail::is_missing`).
#[optimize(size)]
fn open(dir: BorrowedFd, name: &CStr) -> Res<Fd> {
    crate::fd::open_read(dir, name).map_err(|e| {
        let msg = if e == Errno::NOENT {
            Msg::Missing
        } else {
            Msg::OpenImage
        };
        msg.errno(e)
    })
}

/// Logs `note` with the milliseconds since `start` and the MiB/s they make for `bytes`. (The byte
/// count before the note: that order measured smallest.)
#[inline(never)]
#[optimize(size)]
fn log_rate(log: &mut impl Log, bytes: u64, note: Note, start: u32, hooks: &mut impl Hooks) {
    let ms = hooks.now_ms().wrapping_sub(start);
    // KiB times 1000 per ms, then / 1024 for MiB, as KiB times 125 per ms, then / 128: the same
    // quotient (floor(floor(x / m) / n) is floor(x / (m n))), with constants that fit a byte. KiB
    // times 125 cannot overflow a u64, so no saturating multiply (a call on 32-bit targets).
    let rate = numfmt::div_rem((bytes >> 10) * 125, ms.max(1)).0 >> 7;
    let mut num = numfmt::digits();
    say_num(log, note, numfmt::dec(ms.into(), &mut num), rate);
}

/// An image that passed the superblock check, opened read-only for the loop device.
// The name first (repr(C)), at the candidate's own address: measured smaller on all three arches.
#[repr(C)]
pub struct Candidate {
    pub name: CPath,
    pub fd: Fd,
}

/// The images to try, in order.
pub struct Choice {
    /// The current image when it verifies, then `-old` when it verifies (the caller tries the next one
    /// when a mount fails).
    pub candidates: [Option<Candidate>; 2],
    /// Why the current image is not first; None when it is.
    pub current_error: Option<Error>,
}

impl Choice {
    /// No candidates yet. A function, not a constant: a constant would be 0.6 KB in .rodata to copy.
    #[optimize(size)]
    pub fn empty() -> Choice {
        Choice {
            candidates: [None, None],
            current_error: None,
        }
    }
}

/// Checks `<image>` and its `-old` in `img_dir` (squashfs superblock against the size), logs what is
/// wrong with either, and lists the bootable ones, current first, in `choice` (which starts as
/// `Choice::empty()`; filled in place, since a `Choice` holds two paths and each move copies them).
/// With neither good, no candidate is listed and the current image's error says why.
#[optimize(size)]
pub fn choose_image(img_dir: BorrowedFd, image: &[u8], log: &mut impl Log, choice: &mut Choice) {
    // The good images fill the candidates in order.
    let (mut good, mut ignored) = (0, None);
    // A range, not an array of bools: iterating an array by value calls an ARM-mode core helper
    // from Thumb code.
    for i in 0..2 {
        let old = i != 0;
        // No marker, then "-old": a length chosen, not one of two slices (as in `error_parts`).
        let name = name(
            image,
            OLD_MARKER.get(..OLD_MARKER.len() * i).unwrap_or_default(),
        );
        let checked = check_name(image)
            .and_then(|()| open(img_dir, name.as_cstr()))
            .and_then(|fd| check_image(fd.as_fd()).map(|()| fd));
        match checked {
            Ok(fd) => {
                // `good` is at most `i`, so below 2 here: the mask only spares a bounds check. The
                // slot is still empty: forgetting what it held spares a close that never runs.
                core::mem::forget(choice.candidates[good & 1].replace(Candidate { fd, name }));
                good += 1;
            }
            // A missing -old is normal.
            Err(f) if old && f.is_missing() => {}
            Err(f) => {
                let e = Error(f);
                report(log, IMAGE_HEAD, name.as_bytes(), e);
                // Only the current image's error is kept (a store through either slot, so that the
                // report above is not compiled twice).
                *if old {
                    &mut ignored
                } else {
                    &mut choice.current_error
                } = Some(e);
            }
        }
    }
}

/// The size of an open file and whether it is a regular file. A hint, not `inline(never)`: the
/// compiler inlines it where only the size is used (`check_image`: no pair returned through memory),
/// and on ARM everywhere; measured smaller than one shared copy (-16 / +8 / -24 B). On x86_64 inlined
/// everywhere, with no pair through memory at all (-16 B; +36 B on i686).
#[cfg_attr(target_arch = "x86_64", inline(always))]
#[cfg_attr(not(target_arch = "x86_64"), inline)]
#[optimize(size)]
fn stat(fd: BorrowedFd) -> Res<(u64, bool)> {
    let st = crate::fstat(fd).ctx(Msg::StatImage)?;
    Ok((
        st.st_size as u64,
        crate::is_type(st.st_mode, linux_raw_sys::general::S_IFREG),
    ))
}

/// Checks the squashfs superblock of an open image against its size.
#[optimize(size)]
fn check_image(fd: BorrowedFd) -> Res<()> {
    let (size, _) = stat(fd)?;
    // Not zeroed first: pread hands back only the bytes it read.
    let mut buf = [core::mem::MaybeUninit::uninit(); squashfs::SUPERBLOCK_LEN];
    // A whole superblock, or the file is shorter than one (pread reads all it can of a regular file),
    // which `check` refuses as too short.
    let (header, _) = io::pread(fd, &mut buf, 0).ctx(Msg::ReadImage)?;
    squashfs::check(header, size)?;
    Ok(())
}

/// Logs `<head><name>: cannot <what> (<ERRNO>)` as an error.
#[inline(never)]
#[optimize(size)]
fn report(log: &mut impl Log, head: &'static [u8], name: &[u8], e: Error) {
    let mut num = numfmt::digits();
    log.line(Level::Error, &error_parts(e, &mut num, head, name));
}

/// `<head><name>: cannot <what> (<ERRNO>)`, or `<head><name>: <what>` for a content problem: the
/// parts of every error line, made in one place. The error and the buffer for its number come first:
/// that order measured smallest on all three arches.
#[inline(never)]
#[optimize(size)]
fn error_parts<'a>(
    e: Error,
    num: &'a mut numfmt::Digits,
    head: &'static [u8],
    name: &'a [u8],
) -> [&'a [u8]; 5] {
    // Named even for a data problem, where it is then left out: with no branch around the calls,
    // fewer values wait in registers across them.
    let errno = errnames::text(e.0.errno_number(), num);
    let what = e.what();
    // A failed call's parts, `: cannot ` and ` (<ERRNO>)`, cut to `: ` and nothing for a data
    // problem: a length is chosen per part, not a whole slice.
    let failed_call = !e.0.is_data();
    let shown = |part: &'a [u8], data_len: usize| {
        part.get(..if failed_call { part.len() } else { data_len })
            .unwrap_or_default()
    };
    [head, name, shown(b": cannot ", 2), what, shown(errno, 0)]
}

/// The status file's line after a boot of the current image, and its key alone (one constant).
const REASON_CURRENT: &[u8] = b"reason=current";
const REASON_KEY: &[u8] = crate::inside(REASON_CURRENT, b"reason=");
/// The status file's line after a failed update, and its key alone (one constant).
const UPDATE_FAILED: &[u8] = b"update=failed";
const UPDATE_KEY: &[u8] = crate::inside(UPDATE_FAILED, b"update=");
/// The unit of the missing bytes (cut from `NOTES`).
const BYTES_UNIT: &[u8] = crate::inside(NOTES.as_bytes(), b" bytes");

/// The values of the status file's `update=` line, by `Outcome::number` (a failure's is `UPDATE_FAILED`).
const UPDATE_WORDS: &str =
    "none\npromoted\nrecovered\ninterrupted\nrejected: \nno-space: missing \n";

/// The text of `/run/initramfs-overlay/status`, built in a fixed buffer: `key=value` lines.
// `len` first: at offset 0 it needs no offset past the buffer (x86_64 has a shorter form for it).
#[repr(C)]
pub struct Status {
    /// A `u32`: below the buffer's size, in shorter instructions on x86_64 than a `usize`.
    len: u32,
    buf: [u8; 1024],
}

impl Default for Status {
    #[optimize(size)]
    fn default() -> Self {
        Self::new()
    }
}

impl Status {
    #[optimize(size)]
    pub const fn new() -> Self {
        Status {
            len: 0,
            buf: [0; 1024],
        }
    }

    /// Appends one line made of `parts`; a line that does not fit is left out whole (so would one
    /// holding a NUL, which no name or error text has).
    #[optimize(size)]
    pub fn line(&mut self, parts: &[&[u8]]) {
        // `append` leaves the last byte free: room for the newline.
        let (len, whole) = crate::cpath::append(&mut self.buf, self.len as usize, parts);
        if let Some(slot) = self.buf.get_mut(len).filter(|_| whole) {
            *slot = b'\n';
            self.len = (len + 1) as u32;
        }
    }

    /// `booted=<name>` and `reason=`: `current`, or why `skipped` (the image not booted) could not boot.
    // Inlined into its one caller, where it is on x86_64 anyway: the compiler kept it out of line
    // on i686 and ARM (-4 and -8 B there, and -8 on x86_64).
    #[inline(always)]
    #[optimize(size)]
    pub fn booted(&mut self, booted: &[u8], skipped: Option<(&[u8], Error)>) {
        self.line(&[b"booted=", booted]);
        let mut num = numfmt::digits();
        match skipped {
            Some((name, e)) => self.line(&error_parts(e, &mut num, REASON_KEY, name)),
            None => self.line(&[REASON_CURRENT]),
        }
    }

    /// `update=<none|promoted|recovered|rejected: why|no-space: missing N bytes|failed: why>`.
    // Out of line: inlined into the boot's one big frame it costs more.
    #[inline(never)]
    #[optimize(size)]
    pub fn update(&mut self, outcome: &Outcome) {
        let mut num = numfmt::digits();
        // What follows the word.
        let detail: &[u8] = match *outcome {
            Outcome::Failed(e) => {
                return self.line(&error_parts(e, &mut num, UPDATE_FAILED, b""));
            }
            Outcome::Rejected(why) => why,
            Outcome::NoSpace { missing } => numfmt::dec(missing, &mut num),
            _ => b"",
        };
        let word = outcome.number();
        // Only the missing bytes have a unit.
        let tail = BYTES_UNIT
            .get(..if word == 5 { BYTES_UNIT.len() } else { 0 })
            .unwrap_or_default();
        let word = crate::nth(UPDATE_WORDS, word);
        self.line(&[UPDATE_KEY, word, detail, tail]);
    }

    #[optimize(size)]
    pub fn as_bytes(&self) -> &[u8] {
        // `len` never passes the buffer's end: the clamp lets the compiler drop the fallback.
        self.buf
            .get(..(self.len as usize).min(self.buf.len()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::OwnedFd;
    use std::path::PathBuf;
    use std::string::{String, ToString};
    use std::sync::OnceLock;
    use std::vec::Vec;
    use std::{format, vec};

    const IMAGE: &str = "root-squashfs.img";

    fn text(bytes: &'static [u8]) -> &'static str {
        core::str::from_utf8(bytes).unwrap()
    }

    /// An error's text and errno, as its lines say them.
    fn parts(e: Error) -> (&'static str, Option<Errno>) {
        (text(e.what()), e.errno())
    }

    /// `choose_image` into a fresh `Choice`, returned; the current image's error when none is good.
    fn choose(img: BorrowedFd, log: &mut TestLog) -> Result<Choice, Error> {
        let mut choice = Choice::empty();
        choose_image(img, IMAGE.as_bytes(), log, &mut choice);
        match choice.current_error {
            Some(e) if choice.candidates[0].is_none() => Err(e),
            _ => Ok(choice),
        }
    }
    const OLD: &str = "root-squashfs-old.img";

    struct TestLog(Vec<String>);

    impl Log for TestLog {
        fn line(&mut self, _level: Level, parts: &[&[u8]]) {
            self.0
                .push(String::from_utf8_lossy(&parts.concat()).into_owned());
        }
    }

    impl TestLog {
        fn has(&self, text: &str) -> bool {
            self.0.iter().any(|l| l.contains(text))
        }
    }

    /// A deterministic clock, a power cut after the `stop_at`-th step (1-based), and injected space.
    #[derive(Default)]
    struct TestHooks {
        clock: u32,
        stop_at: Option<usize>,
        steps: Vec<Step>,
        free: Option<u64>,
    }

    impl Hooks for TestHooks {
        fn now_ms(&mut self) -> u32 {
            self.clock += 25;
            self.clock
        }
        fn after(&mut self, step: Step) -> bool {
            self.steps.push(step);
            self.stop_at != Some(self.steps.len())
        }
        fn free_bytes(&mut self, reported: u64) -> u64 {
            self.free.unwrap_or(reported)
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("iovl-update-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Three different real images, A (oldest, largest), B (current) and C (the update), made once by
    /// mksquashfs from incompressible data so that a copy takes several chunks. Fails when the tool is
    /// missing.
    fn images() -> &'static [Vec<u8>; 3] {
        static IMAGES: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
        IMAGES.get_or_init(|| {
            let dir = temp_dir("images");
            let make = |seed: u64, len: usize| {
                let src = dir.join(format!("src{seed}"));
                std::fs::create_dir_all(&src).unwrap();
                let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                std::fs::write(src.join("payload"), data).unwrap();
                let img = dir.join(format!("img{seed}"));
                let ok = std::process::Command::new("mksquashfs")
                    .arg(&src)
                    .arg(&img)
                    .args(["-noappend", "-all-root", "-quiet", "-no-progress"])
                    .stdout(std::process::Stdio::null())
                    .status()
                    .expect("mksquashfs must be installed (squashfs-tools)")
                    .success();
                assert!(ok);
                std::fs::read(img).unwrap()
            };
            let images = [make(1, 1_800_000), make(2, 1_300_000), make(3, 1_500_000)];
            std::fs::remove_dir_all(&dir).unwrap();
            images
        })
    }

    fn a() -> &'static [u8] {
        &images()[0]
    }
    fn b() -> &'static [u8] {
        &images()[1]
    }
    fn c() -> &'static [u8] {
        &images()[2]
    }

    /// An `img` and a `newimg` directory on the host's temp file system.
    struct Fixture {
        root: PathBuf,
        img: OwnedFd,
        new: OwnedFd,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    impl Fixture {
        fn new(img_files: &[(&str, &[u8])], new_files: &[(&str, &[u8])]) -> Fixture {
            let root = temp_dir("fx");
            let open = |sub: &str| {
                let path = root.join(sub);
                std::fs::create_dir(&path).unwrap();
                fs::open(
                    &path,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .unwrap()
            };
            let fx = Fixture {
                img: open("img"),
                new: open("new"),
                root,
            };
            for (name, data) in img_files {
                fx.put("img", name, data);
            }
            for (name, data) in new_files {
                fx.put("new", name, data);
            }
            fx
        }

        fn put(&self, dir: &str, name: &str, data: &[u8]) {
            std::fs::write(self.root.join(dir).join(name), data).unwrap();
        }

        fn get(&self, dir: &str, name: &str) -> Option<Vec<u8>> {
            std::fs::read(self.root.join(dir).join(name)).ok()
        }

        /// Whether `dir/name` holds exactly `data` (None: absent); never prints megabytes on failure.
        fn holds(&self, dir: &str, name: &str, data: Option<&[u8]>) -> bool {
            self.get(dir, name).as_deref() == data
        }

        fn list(&self, dir: &str) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(self.root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }

        fn promote(&self, hooks: &mut TestHooks) -> (Outcome, TestLog) {
            let mut log = TestLog(Vec::new());
            let outcome = promote(
                self.img.as_fd(),
                self.new.as_fd(),
                IMAGE.as_bytes(),
                &mut log,
                hooks,
            );
            (outcome, log)
        }
    }

    fn sidecar_of(data: &[u8]) -> String {
        let hex: String = sha256::digest(data)
            .iter()
            .map(|w| format!("{w:08x}"))
            .collect();
        format!("{hex}  {IMAGE}\n")
    }

    #[test]
    fn derives_names() {
        let img = IMAGE.as_bytes();
        assert_eq!(name(img, b"").as_cstr(), c"root-squashfs.img");
        assert_eq!(name(img, b"-old").as_cstr(), c"root-squashfs-old.img");
        assert_eq!(
            name(img, b".rejected.reason").as_bytes(),
            b"root-squashfs.img.rejected.reason"
        );
        assert_eq!(name(b"os", b"-old").as_bytes(), b"os-old");
        // A suffix never splits at a dot; a marker goes before the last dot, even a final one.
        assert_eq!(name(b"os", b".sha256").as_bytes(), b"os.sha256");
        assert_eq!(name(b".img", b".rejected").as_bytes(), b".img.rejected");
        assert_eq!(name(b"a.", b"-old").as_bytes(), b"a-old.");
        assert_eq!(name(b".img", b"-old").as_bytes(), b".img-old");
        assert_eq!(name(b"os.v2.sqfs", b"-old").as_bytes(), b"os.v2-old.sqfs");
        assert_eq!(
            name(b"os.v2.sqfs", b".sha256").as_bytes(),
            b"os.v2.sqfs.sha256"
        );
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b", &[b'x'; 255 - 15]] {
            assert_eq!(
                check_name(bad).map_err(|f| parts(Error(f))),
                Err(("bad image name", None)),
                "{bad:?}"
            );
        }
        // The longest name still fits with the longest suffix.
        let long = [b'x'; 255 - LONGEST_SUFFIX];
        assert_eq!(check_name(&long), Ok(()));
        // Dots are refused only as "." and "..".
        for good in [&b"..."[..], b".a", b"a.", b"a"] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
        assert_eq!(name(&long, b".rejected.reason").as_bytes().len(), 255);
        assert_eq!(name(&long, b"-old").as_bytes().len(), 243);
        let fx = Fixture::new(&[], &[]);
        let bad = promote(
            fx.img.as_fd(),
            fx.new.as_fd(),
            b"../x",
            &mut TestLog(Vec::new()),
            &mut TestHooks::default(),
        );
        assert_eq!(bad, Outcome::Failed(Error(Msg::BadName.bad())));
        // The boot side logs a bad name and lists nothing, with the name as the current image's error.
        let mut log = TestLog(Vec::new());
        let mut choice = Choice::empty();
        choose_image(fx.img.as_fd(), &[b'x'; 255 - 15], &mut log, &mut choice);
        assert!(choice.candidates.iter().all(Option::is_none));
        assert_eq!(
            choice.current_error.map(parts),
            Some(("bad image name", None))
        );
        assert!(log.has(": bad image name"), "{:?}", log.0);
    }

    #[test]
    fn every_message_has_its_text() {
        assert_eq!(
            MESSAGES.lines().count(),
            usize::from(Msg::NoLoopDevice as u8) + 1
        );
        assert_eq!(parts(Error(Msg::BadName.bad())), ("bad image name", None));
        assert_eq!(Error(Msg::StatImage.bad()).what(), b"stat an image");
        assert_eq!(
            parts(Error(Msg::Remove.errno(Errno::NOENT))),
            ("remove a file", Some(Errno::NOENT))
        );
        assert_eq!(
            parts(Error::mount_failed(Errno::INVAL)),
            ("mount the squashfs image", Some(Errno::INVAL))
        );
        assert_eq!(parts(Error::no_loop_device()), ("no loop device", None));
        for (msg, errno) in [
            (0, 0),
            (0, 0xFFFF),
            (254, 0),
            (254, 0xFFFF),
            (Msg::Remove as u8, 2),
        ] {
            let f = Fail::new(msg, errno);
            assert_eq!((f.msg(), f.errno()), (msg, errno));
            assert_eq!(f.is_data(), errno == 0);
        }
        let truncated = Fail::from(squashfs::Bad::Truncated);
        assert_eq!(
            truncated.what(),
            b"truncated squashfs image (bytes_used > file size)"
        );
        assert_eq!(
            squashfs::REASONS.lines().count(),
            squashfs::Bad::Truncated as usize + 1
        );
        assert!((squashfs::Bad::Truncated as u8) < Msg::FIRST);
        // Every line of the update has its text and level, and says it in full.
        assert_eq!(
            NOTES.split_terminator('\n').count(),
            3 * (Note::Copied as usize + 1)
        );
        assert_eq!(LEVELS.len(), Note::Copied as usize + 1);
        let mut log = TestLog(Vec::new());
        say(&mut log, Note::Promoted, b"a.img", b"a-old.img");
        say(&mut log, Note::AlreadyHolds, b"", b"");
        say(&mut log, Note::Copied, b"25", b"40");
        assert_eq!(
            log.0,
            [
                "update: promoted a.img; previous image: a-old.img",
                "update: img already holds it; removing it from newimg",
                "update: copied in 25 ms, 40 MiB/s"
            ]
        );
    }

    #[test]
    fn plans_space() {
        assert_eq!(plan_space(100, 100, 0), Space::Fits);
        assert_eq!(plan_space(100, 60, 50), Space::Fits);
        assert_eq!(plan_space(40, 100, 60), Space::FitsWithoutOld);
        assert_eq!(plan_space(40, 100, 59), Space::Short { missing: 1 });
        assert_eq!(plan_space(40, 100, 0), Space::Short { missing: 60 });
        assert_eq!(plan_space(0, u64::MAX, u64::MAX), Space::FitsWithoutOld);
        assert_eq!(plan_space(u64::MAX, 1, 0), Space::Fits);
        assert_eq!(
            plan_space(0, u64::MAX, 0),
            Space::Short { missing: u64::MAX }
        );
    }

    #[test]
    fn promotes_verifies_sha256_and_keeps_the_old_image() {
        let fx = Fixture::new(
            &[(IMAGE, b()), (OLD, a())],
            &[
                (IMAGE, c()),
                ("root-squashfs.img.sha256", sidecar_of(c()).as_bytes()),
            ],
        );
        let mut hooks = TestHooks::default();
        let (outcome, log) = fx.promote(&mut hooks);
        assert_eq!(outcome, Outcome::Promoted, "{:?}", log.0);
        assert!(fx.holds("img", IMAGE, Some(c())));
        assert!(fx.holds("img", OLD, Some(b())));
        assert_eq!(fx.list("img"), [OLD, IMAGE]);
        assert!(fx.list("new").is_empty());
        use Step::*;
        assert_eq!(
            hooks.steps,
            [
                Cleaned,
                Copying,
                Copying,
                Copied,
                OldLinked,
                OldKept,
                Published,
                SourceRemoved
            ]
        );
        let size = c().len();
        let rate = ((size >> 10) * 40) >> 10;
        for line in [
            format!("update: newimg holds root-squashfs.img, {size} bytes"),
            format!("update: sha256 ok in 25 ms, {rate} MiB/s"),
            format!("update: copied in 25 ms, {rate} MiB/s"),
        ] {
            assert!(log.has(&line), "{line}: {:?}", log.0);
        }
        assert!(
            log.has("update: promoted root-squashfs.img; previous image: root-squashfs-old.img")
        );
    }

    #[test]
    fn a_damaged_current_image_does_not_replace_a_good_old_one() {
        let fx = Fixture::new(&[(IMAGE, &b()[..100_000]), (OLD, a())], &[(IMAGE, c())]);
        let mut hooks = TestHooks::default();
        let (outcome, log) = fx.promote(&mut hooks);
        assert_eq!(outcome, Outcome::Promoted);
        assert!(log.has("previous image: none (it was missing or damaged)"));
        assert!(!hooks.steps.contains(&Step::OldLinked));
        assert!(fx.holds("img", IMAGE, Some(c())));
        assert!(fx.holds("img", OLD, Some(a())));
        assert_eq!(fx.list("img"), [OLD, IMAGE]);
    }

    #[test]
    fn first_install_needs_no_current_image() {
        let fx = Fixture::new(&[], &[(IMAGE, c())]);
        let (outcome, _) = fx.promote(&mut TestHooks::default());
        assert_eq!(outcome, Outcome::Promoted);
        assert_eq!(fx.list("img"), [IMAGE]);
        assert!(fx.holds("img", IMAGE, Some(c())));
    }

    #[test]
    fn a_source_that_shrinks_is_an_error_not_a_short_image() {
        let fx = Fixture::new(&[], &[(IMAGE, c())]);
        let src = fs::openat(&fx.new, IMAGE, OFlags::RDONLY, Mode::empty()).unwrap();
        let flags = OFlags::WRONLY | OFlags::CREATE;
        let dst = fs::openat(&fx.img, "copy", flags, Mode::from(0o644)).unwrap();
        let size = c().len() as u64;
        assert_eq!(
            copy(src.as_fd(), dst.as_fd(), size, &mut TestHooks::default()),
            Ok(true)
        );
        assert!(fx.holds("img", "copy", Some(c())));
        let dst = fs::openat(&fx.img, "short", flags, Mode::from(0o644)).unwrap();
        let got = copy(
            src.as_fd(),
            dst.as_fd(),
            size + 1,
            &mut TestHooks::default(),
        );
        assert_eq!(
            got.map_err(|f| parts(Error(f))),
            Err(("read all of an image: it shrank", Some(Errno::IO)))
        );
        // A refused copy (here: a read-only destination) names the copy and the kernel's answer.
        let ro = fs::openat(&fx.img, "copy", OFlags::RDONLY, Mode::empty()).unwrap();
        let got = copy(src.as_fd(), ro.as_fd(), size, &mut TestHooks::default());
        assert_eq!(
            got.map_err(|f| parts(Error(f))),
            Err(("copy the update to img", Some(Errno::BADF)))
        );
    }

    #[test]
    fn removes_leftover_temporaries() {
        let fx = Fixture::new(
            &[
                (IMAGE, b()),
                (".iovl-new.tmp", b"partial"),
                (".iovl-old.tmp", b"x"),
            ],
            &[(IMAGE, c())],
        );
        let (outcome, _) = fx.promote(&mut TestHooks::default());
        assert_eq!(outcome, Outcome::Promoted);
        assert_eq!(fx.list("img"), [OLD, IMAGE]);
    }

    #[test]
    fn a_failed_step_is_logged_and_leaves_the_update_for_the_next_boot() {
        let fx = Fixture::new(&[(IMAGE, b())], &[(IMAGE, c())]);
        // A directory where the temporary copy goes: unlinking it fails with EISDIR.
        std::fs::create_dir(fx.root.join("img").join(".iovl-new.tmp")).unwrap();
        let (outcome, log) = fx.promote(&mut TestHooks::default());
        let failed = Error(Msg::Remove.errno(Errno::ISDIR));
        assert_eq!(outcome, Outcome::Failed(failed));
        assert!(
            log.has("update: cannot remove a file (EISDIR)"),
            "{:?}",
            log.0
        );
        assert!(fx.holds("img", IMAGE, Some(b())));
        assert!(fx.holds("new", IMAGE, Some(c())));
        let mut status = Status::new();
        status.update(&outcome);
        assert_eq!(
            status.as_bytes(),
            b"update=failed: cannot remove a file (EISDIR)\n"
        );
    }

    #[test]
    fn nothing_staged_is_no_update() {
        let fx = Fixture::new(&[(IMAGE, b())], &[]);
        let mut hooks = TestHooks::default();
        assert_eq!(fx.promote(&mut hooks).0, Outcome::NoUpdate);
        assert!(hooks.steps.is_empty());
        assert_eq!(fx.list("img"), [IMAGE]);
    }

    #[test]
    fn restaged_current_image_is_removed_without_a_copy() {
        let fx = Fixture::new(
            &[(IMAGE, b()), (OLD, a())],
            &[(IMAGE, b()), ("root-squashfs.img.sha256", b"garbage")],
        );
        let mut hooks = TestHooks::default();
        let (outcome, log) = fx.promote(&mut hooks);
        assert_eq!(outcome, Outcome::Recovered);
        assert_eq!(hooks.steps, [Step::Cleaned, Step::SourceRemoved]);
        assert!(log.has("update: img already holds it; removing it from newimg"));
        assert!(fx.holds("img", OLD, Some(a())));
        assert!(fx.list("new").is_empty());
    }

    /// Asserts a rejection: renamed with its reason, and img untouched.
    fn assert_rejected(staged: &[u8], sidecar: Option<&[u8]>, reason: &str) {
        let mut new_files = vec![(IMAGE, staged)];
        new_files.extend(sidecar.map(|s| ("root-squashfs.img.sha256", s)));
        let fx = Fixture::new(&[(IMAGE, b()), (OLD, a())], &new_files);
        let mut hooks = TestHooks::default();
        let (outcome, log) = fx.promote(&mut hooks);
        assert!(
            matches!(outcome, Outcome::Rejected(r) if r == reason.as_bytes()),
            "{outcome:?} {:?}",
            log.0
        );
        assert_eq!(
            hooks.steps,
            [Step::Cleaned, Step::ReasonWritten, Step::Rejected]
        );
        assert!(fx.holds("new", "root-squashfs.img.rejected", Some(staged)));
        assert_eq!(
            fx.get("new", "root-squashfs.img.rejected.reason"),
            Some(format!("{reason}\n").into_bytes())
        );
        // The sidecar belongs to the bad image: left behind, it would fail the next update.
        assert!(fx.holds("new", "root-squashfs.img.sha256", None));
        assert!(fx.holds("new", IMAGE, None));
        assert_eq!(fx.list("img"), [OLD, IMAGE]);
        assert!(fx.holds("img", IMAGE, Some(b())));
        assert!(fx.holds("img", OLD, Some(a())));
        assert!(log.has(&format!(
            "update: rejected: {reason}; renaming it to *.rejected"
        )));
        let mut status = Status::new();
        status.update(&outcome);
        assert_eq!(
            status.as_bytes(),
            format!("update=rejected: {reason}\n").as_bytes()
        );
    }

    #[test]
    fn rejects_a_corrupt_update() {
        let mut bad_magic = c().to_vec();
        bad_magic[0] ^= 1;
        assert_rejected(&bad_magic, None, "not a squashfs image (bad magic)");
        assert_rejected(
            &c()[..c().len() / 2],
            None,
            "truncated squashfs image (bytes_used > file size)",
        );
        assert_rejected(
            &c()[..50],
            None,
            "image too short for a squashfs superblock",
        );
        assert_rejected(b"", None, "image too short for a squashfs superblock");
    }

    #[test]
    fn rejects_a_sha256_mismatch() {
        assert_rejected(c(), Some(sidecar_of(b()).as_bytes()), "sha256 mismatch");
        assert_rejected(
            c(),
            Some(b"d41d8cd98f00b204e9800998ecf8427e  root-squashfs.img\n"),
            "malformed .sha256 file",
        );
        // Upper case and a bare digest are fine.
        let fx = Fixture::new(
            &[(IMAGE, b())],
            &[
                (IMAGE, c()),
                (
                    "root-squashfs.img.sha256",
                    sidecar_of(c())[..64].to_uppercase().as_bytes(),
                ),
            ],
        );
        assert_eq!(fx.promote(&mut TestHooks::default()).0, Outcome::Promoted);
    }

    #[test]
    fn a_directory_is_rejected() {
        let fx = Fixture::new(&[(IMAGE, b())], &[]);
        std::fs::create_dir(fx.root.join("new").join(IMAGE)).unwrap();
        assert_eq!(
            fx.promote(&mut TestHooks::default()).0,
            Outcome::Rejected(b"not a regular file")
        );
        assert_eq!(
            fx.list("new"),
            [
                "root-squashfs.img.rejected",
                "root-squashfs.img.rejected.reason"
            ]
        );
    }

    #[test]
    fn refuses_when_space_is_short() {
        let vfs = fs::statvfs(std::env::temp_dir()).unwrap();
        let needed = c().len() as u64 + 17 * vfs.f_frsize;
        // -old as a second name of the current image (as after a cut) frees nothing when deleted.
        let fx = Fixture::new(&[(IMAGE, b())], &[(IMAGE, c())]);
        std::fs::hard_link(
            fx.root.join("img").join(IMAGE),
            fx.root.join("img").join(OLD),
        )
        .unwrap();
        for free in [0, 1000, needed - 1] {
            let mut hooks = TestHooks {
                free: Some(free),
                ..TestHooks::default()
            };
            let (outcome, log) = fx.promote(&mut hooks);
            assert_eq!(
                outcome,
                Outcome::NoSpace {
                    missing: needed - free
                }
            );
            assert!(
                log.has(&format!(
                    "update: img lacks {} bytes; not promoted",
                    needed - free
                )),
                "{:?}",
                log.0
            );
            assert_eq!(hooks.steps, [Step::Cleaned]);
            assert_eq!(fx.list("img"), [OLD, IMAGE]);
            assert!(fx.holds("img", IMAGE, Some(b())));
            assert!(fx.holds("new", IMAGE, Some(c())));
        }
        let mut hooks = TestHooks {
            free: Some(needed),
            ..TestHooks::default()
        };
        assert_eq!(fx.promote(&mut hooks).0, Outcome::Promoted);
        let mut status = Status::new();
        status.update(&Outcome::NoSpace { missing: 12345 });
        assert_eq!(status.as_bytes(), b"update=no-space: missing 12345 bytes\n");
    }

    #[test]
    fn deletes_a_stale_old_image_when_that_makes_room() {
        let fx = Fixture::new(&[(IMAGE, b()), (OLD, a())], &[(IMAGE, c())]);
        let mut hooks = TestHooks {
            free: Some(0),
            ..TestHooks::default()
        };
        let (outcome, log) = fx.promote(&mut hooks);
        assert_eq!(outcome, Outcome::Promoted);
        assert!(log.has("update: deleting root-squashfs-old.img to make room"));
        assert!(hooks.steps.contains(&Step::OldDeleted));
        assert!(fx.holds("img", IMAGE, Some(c())));
        assert!(fx.holds("img", OLD, Some(b())));
    }

    #[derive(Clone, Copy, Debug)]
    enum Start {
        /// img holds B and an older A as -old.
        WithOld,
        /// img holds B only.
        NoOld,
        /// img is empty: the first install.
        Empty,
        /// img holds B and A, and space is short unless A is deleted.
        Reclaim,
    }

    fn start(scenario: Start) -> Fixture {
        match scenario {
            Start::WithOld | Start::Reclaim => {
                Fixture::new(&[(IMAGE, b()), (OLD, a())], &[(IMAGE, c())])
            }
            Start::NoOld => Fixture::new(&[(IMAGE, b())], &[(IMAGE, c())]),
            Start::Empty => Fixture::new(&[], &[(IMAGE, c())]),
        }
    }

    /// What must hold after any power cut: a complete image (by content) under the image name, the
    /// previous image under the image name or -old, -old never the new image, the source not lost.
    fn assert_safe(fx: &Fixture, scenario: Start, when: &str) {
        let current = fx.get("img", IMAGE);
        let old = fx.get("img", OLD);
        let source = fx.get("new", IMAGE);
        match scenario {
            Start::Empty => assert!(
                current.is_none() || current.as_deref() == Some(c()),
                "{when}"
            ),
            _ => {
                assert!(
                    current.as_deref() == Some(b()) || current.as_deref() == Some(c()),
                    "{when}: no complete image"
                );
                assert!(
                    current.as_deref() == Some(b()) || old.as_deref() == Some(b()),
                    "{when}: previous image lost"
                );
            }
        }
        assert!(
            old.as_deref() != Some(c()),
            "{when}: -old overwritten with the new image"
        );
        assert!(
            current.as_deref() == Some(c()) || source.as_deref() == Some(c()),
            "{when}: update lost"
        );
        if !matches!(scenario, Start::Empty) || current.is_some() {
            // The boot side agrees: the current image verifies and is the first candidate.
            let choice = choose(fx.img.as_fd(), &mut TestLog(Vec::new())).unwrap();
            assert_eq!(
                choice.candidates[0].as_ref().map(|c| c.name.as_bytes()),
                Some(IMAGE.as_bytes()),
                "{when}"
            );
            assert_eq!(choice.current_error, None);
        }
    }

    fn assert_finished(fx: &Fixture, scenario: Start, when: &str) {
        assert!(fx.holds("img", IMAGE, Some(c())), "{when}");
        let (expect_old, listing) = match scenario {
            Start::Empty => (None, vec![IMAGE]),
            _ => (Some(b()), vec![OLD, IMAGE]),
        };
        assert!(fx.holds("img", OLD, expect_old), "{when}");
        assert_eq!(fx.list("img"), listing, "{when}: leftovers");
        assert!(fx.list("new").is_empty(), "{when}: source left");
    }

    /// Hooks for a run: the first run of the Reclaim scenario sees too little space.
    fn hooks(scenario: Start, first_run: bool, stop_at: Option<usize>) -> TestHooks {
        let free = matches!(scenario, Start::Reclaim)
            .then_some(0)
            .filter(|_| first_run);
        TestHooks {
            stop_at,
            free,
            ..TestHooks::default()
        }
    }

    #[test]
    fn survives_a_power_cut_after_every_step_and_during_recovery() {
        let mut cuts = 0;
        for scenario in [Start::WithOld, Start::NoOld, Start::Empty, Start::Reclaim] {
            // An uncut run tells how many steps there are.
            let fx = start(scenario);
            let mut full = hooks(scenario, true, None);
            assert_eq!(fx.promote(&mut full).0, Outcome::Promoted, "{scenario:?}");
            assert_finished(&fx, scenario, "uncut");
            if matches!(scenario, Start::Reclaim) {
                assert!(full.steps.contains(&Step::OldDeleted));
            }
            for k in 1..=full.steps.len() {
                // Cut after step k, then cut the recovery after each of its steps j, then finish.
                for j in 1.. {
                    let fx = start(scenario);
                    let when = format!(
                        "{scenario:?}: cut after step {k} ({:?}), then after recovery step {j}",
                        full.steps[k - 1]
                    );
                    let (outcome, _) = fx.promote(&mut hooks(scenario, true, Some(k)));
                    assert_eq!(outcome, Outcome::Interrupted(full.steps[k - 1]), "{when}");
                    assert_safe(&fx, scenario, &when);
                    cuts += 1;
                    let mut second = hooks(scenario, false, Some(j));
                    let (outcome2, log) = fx.promote(&mut second);
                    assert_safe(&fx, scenario, &when);
                    // A run cut after its last step has nothing left to do next time.
                    let expect_done = |cut: Outcome, next: Outcome| match cut {
                        Outcome::Interrupted(Step::SourceRemoved) => next == Outcome::NoUpdate,
                        _ => matches!(next, Outcome::Promoted | Outcome::Recovered),
                    };
                    let recovery_cut = matches!(outcome2, Outcome::Interrupted(_));
                    if recovery_cut {
                        cuts += 1;
                        let (outcome3, log) = fx.promote(&mut hooks(scenario, false, None));
                        assert!(
                            expect_done(outcome2, outcome3),
                            "{when}: {outcome2:?} then {outcome3:?} {:?}",
                            log.0
                        );
                    } else {
                        assert!(
                            expect_done(outcome, outcome2),
                            "{when}: {outcome2:?} {:?}",
                            log.0
                        );
                        // After the publish, recovery only removes the source: no second copy.
                        if full.steps[..k].contains(&Step::Published)
                            && outcome2 != Outcome::NoUpdate
                        {
                            assert_eq!(outcome2, Outcome::Recovered, "{when}");
                            assert!(!second.steps.contains(&Step::Copying), "{when}");
                        }
                    }
                    assert_finished(&fx, scenario, &when);
                    if !recovery_cut {
                        break;
                    }
                }
            }
        }
        assert!(cuts > 100, "{cuts}");
    }

    #[test]
    fn a_cut_while_rejecting_rejects_again() {
        let fx = Fixture::new(&[(IMAGE, b())], &[(IMAGE, &c()[..4096])]);
        let reason = "truncated squashfs image (bytes_used > file size)";
        let mut hooks = TestHooks {
            stop_at: Some(2),
            ..TestHooks::default()
        };
        assert_eq!(
            fx.promote(&mut hooks).0,
            Outcome::Interrupted(Step::ReasonWritten)
        );
        assert_eq!(
            fx.promote(&mut TestHooks::default()).0,
            Outcome::Rejected(reason.as_bytes())
        );
        assert_eq!(
            fx.list("new"),
            [
                "root-squashfs.img.rejected",
                "root-squashfs.img.rejected.reason"
            ]
        );
        assert_eq!(fx.list("img"), [IMAGE]);
    }

    #[test]
    fn chooses_the_current_image_then_old() {
        let names = |choice: &Choice| {
            choice.candidates.each_ref().map(|c| {
                c.as_ref()
                    .map(|c| String::from_utf8_lossy(c.name.as_bytes()).into_owned())
            })
        };
        let read = |c: &Candidate| {
            let mut buf = vec![0; a().len() + b().len()];
            let n = io::pread(&c.fd, &mut buf[..], 0).unwrap();
            buf.truncate(n);
            buf
        };

        let fx = Fixture::new(&[(IMAGE, b()), (OLD, a())], &[]);
        let mut log = TestLog(Vec::new());
        let choice = choose(fx.img.as_fd(), &mut log).unwrap();
        assert_eq!(
            names(&choice),
            [Some(IMAGE.to_string()), Some(OLD.to_string())]
        );
        assert!(read(choice.candidates[0].as_ref().unwrap()) == b());
        assert_eq!(choice.current_error, None);
        assert!(log.0.is_empty(), "{:?}", log.0);

        // A corrupt current image: boot -old, and say why.
        let mut corrupt = b().to_vec();
        corrupt[..4].copy_from_slice(b"junk");
        fx.put("img", IMAGE, &corrupt);
        let mut log = TestLog(Vec::new());
        let choice = choose(fx.img.as_fd(), &mut log).unwrap();
        assert_eq!(names(&choice), [Some(OLD.to_string()), None]);
        assert!(read(choice.candidates[0].as_ref().unwrap()) == a());
        let error = choice.current_error.unwrap();
        assert_eq!(parts(error), ("not a squashfs image (bad magic)", None));
        assert!(log.has("image: root-squashfs.img: not a squashfs image (bad magic)"));
        let mut status = Status::new();
        status.booted(
            choice.candidates[0].as_ref().unwrap().name.as_bytes(),
            Some((IMAGE.as_bytes(), error)),
        );
        status.update(&Outcome::NoUpdate);
        assert_eq!(
            std::str::from_utf8(status.as_bytes()).unwrap(),
            "booted=root-squashfs-old.img\nreason=root-squashfs.img: not a squashfs image (bad magic)\nupdate=none\n"
        );

        // A missing current image.
        std::fs::remove_file(fx.root.join("img").join(IMAGE)).unwrap();
        let mut log = TestLog(Vec::new());
        let choice = choose(fx.img.as_fd(), &mut log).unwrap();
        assert_eq!(names(&choice), [Some(OLD.to_string()), None]);
        assert!(log.has("image: root-squashfs.img: cannot find the image (ENOENT)"));

        // A good current image and a damaged -old: no fallback, with a warning.
        fx.put("img", IMAGE, b());
        fx.put("img", OLD, &a()[..1000]);
        let mut log = TestLog(Vec::new());
        let choice = choose(fx.img.as_fd(), &mut log).unwrap();
        assert_eq!(names(&choice), [Some(IMAGE.to_string()), None]);
        assert_eq!(choice.current_error, None);
        assert!(log.has("image: root-squashfs-old.img: truncated squashfs image"));

        // Nothing bootable: the current image's error.
        fx.put("img", IMAGE, &b()[..1000]);
        let got = choose(fx.img.as_fd(), &mut TestLog(Vec::new())).err();
        assert_eq!(
            got.map(parts),
            Some(("truncated squashfs image (bytes_used > file size)", None))
        );
        std::fs::remove_file(fx.root.join("img").join(OLD)).unwrap();
        let mut log = TestLog(Vec::new());
        assert!(choose(fx.img.as_fd(), &mut log).is_err());
        assert_eq!(
            log.0.len(),
            1,
            "a missing -old is not worth a line: {:?}",
            log.0
        );
    }

    #[test]
    fn status_text() {
        let name = IMAGE.as_bytes();
        let mut status = Status::new();
        status.booted(name, None);
        status.update(&Outcome::Promoted);
        status.update(&Outcome::Recovered);
        let failed = Error(Msg::WriteCopy.errno(Errno::NOENT));
        status.update(&Outcome::Failed(failed));
        status.update(&Outcome::Interrupted(Step::Copied));
        status.update(&Outcome::NoUpdate);
        status.booted(name, Some((name, Error::mount_failed(Errno::INVAL))));
        assert_eq!(
            std::str::from_utf8(status.as_bytes()).unwrap(),
            "booted=root-squashfs.img\nreason=current\nupdate=promoted\nupdate=recovered\n\
             update=failed: cannot copy the update to img (ENOENT)\nupdate=interrupted\nupdate=none\n\
             booted=root-squashfs.img\nreason=root-squashfs.img: cannot mount the squashfs image (EINVAL)\n"
        );
        // A line that does not fit is left out whole; shorter ones still go in.
        let before = status.as_bytes().len();
        let long = "x".repeat(1024);
        status.line(&[b"reason=", long.as_bytes()]);
        assert_eq!(status.as_bytes().len(), before);
        status.line(&[b"update=none"]);
        assert!(status.as_bytes().ends_with(b"\nupdate=none\n"));
        for _ in 0..200 {
            status.line(&[b"update=none"]);
        }
        assert!(status.as_bytes().len() <= 1024 && status.as_bytes().ends_with(b"\n"));
    }
}
