//! Where messages go: one line per write to /dev/kmsg (it keeps each write as one record, so `dmesg`
//! shows the boot), errors and warnings also straight to the console so they are seen whatever the
//! kernel's loglevel. Failures are logged where they happen and travel up as the `Failed` marker.
//! Its state is global (see `QUIET` and the statics after it): the `Logger` passed along is a handle.

use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32};
use initramfs_overlay::cpath::{CText, append};
use initramfs_overlay::errnames;
use initramfs_overlay::log::{Level, Log};
use initramfs_overlay::numfmt;
use rustix::fd::BorrowedFd;
use rustix::io::Errno;

/// `<N>` (the kmsg level, N filled in per line) and the prefix every line carries.
const HEAD: &[u8] = b"<0>initramfs-overlay: ";
/// The console line starts after the level tag.
const LEVEL_TAG_LEN: usize = 3;
/// Longer lines are cut; kmsg itself keeps at most ~1 KB per record.
const LINE_MAX: usize = 512;

/// The byte that stands for `cannot ` at the start of a message (see `cannot!`).
const CANNOT: u8 = 1;

/// The message `cannot <what>`, e.g. `cannot!("open ")`: `msg!` of the text with the word that begins
/// most failure messages stored as one byte (`CANNOT`), which `step_line` writes out.
macro_rules! cannot {
    ($what:literal) => {
        $crate::logger::msg!(concat!("\x01", $what))
    };
}
pub(crate) use cannot;

/// The message `text`, e.g. `msg!("no free loop device")`, as the logger takes it: its number in
/// `MESSAGES`, found while compiling. A text missing there fails the build.
macro_rules! msg {
    ($text:expr) => {
        const { $crate::logger::Msg::of($text) }
    };
}
pub(crate) use msg;

/// A message of the boot: its line number in `MESSAGES`. A caller passes one small number, where the
/// text's address was a literal-pool word and a load on ARM and a 32-bit immediate on x86 at each use
/// (measured -56 / -76 / -128 B with the table).
#[derive(Clone, Copy)]
pub struct Msg(u8);

impl Msg {
    /// The number of the line `text` in `MESSAGES`; for `msg!`, which makes it a constant.
    pub const fn of(text: &str) -> Msg {
        Msg(initramfs_overlay::entry_number(MESSAGES.as_bytes(), text.as_bytes()) as u8)
    }
}

// A line number must fit the `u8` (the init profiles have no overflow checks, so a cast would
// wrap silently), and `cannot!`'s `\x01` must be the byte `step_line` writes out as `cannot `.
const _: () = assert!(initramfs_overlay::entries(MESSAGES.as_bytes()) <= 256);
const _: () = assert!(MESSAGES.as_bytes()[0] == CANNOT && cannot!("read ").0 == 0);

/// The debug build's own messages (its shell), in `MESSAGES` only there.
#[cfg(feature = "debug-shell")]
macro_rules! debug_shell_messages {
    () => {
        "\x01run /bin/sh\n\x01fork\n"
    };
}
#[cfg(not(feature = "debug-shell"))]
macro_rules! debug_shell_messages {
    () => {
        ""
    };
}

/// Every message of the boot (the `what` of `Logger`'s lines), one per line, by the file that says
/// it: `msg!` and `cannot!` name them by their text where they are used. `\x01` is `cannot `.
/// A text used but missing here fails the build; a line here that nothing says fails the host test
/// `every_boot_message_is_used` (src/lib.rs).
const MESSAGES: &str = concat!(
    // main.rs
    "\x01read \n",
    "% \n",
    debug_shell_messages!(),
    // logger.rs
    "done in % ms\n",
    // cmdline (through `Log::unknown_option`)
    "unknown option \n",
    // devices.rs
    "% is \n",
    "no % partition\n",
    // modules.rs
    "loaded \n",
    "\x01open \n",
    "the kernel cannot decompress this module format: \n",
    "\x01load \n",
    "\x01unmount the boot partition\n",
    "\x01read the load-order of \n",
    "load-order: %\n",
    "% loaded for \n",
    // mounts.rs
    "\x01mount % on \n",
    "\x01create directory \n",
    "img partition vanished\n",
    "FALLBACK: % cannot boot, booting \n",
    "no bootable image in \n",
    "is the loop module loaded? cannot open \n",
    "no free loop device\n",
    "\x01attach the image to a loop device\n",
    "\x01enter \n",
    "\x01stat \n",
    "\x01move to trash: \n",
    "full; deleting the old upper and work now\n",
    "\x01empty \n",
    "\x01start the trash cleaner, trash stays until next boot\n",
    "no overlayfs in this kernel: bundle overlay.ko, or ship it in the image's \n",
    "read-only despite rw: overlayfs found no room for work (overlay partition full)\n",
    "\x01find init \n",
    "init is not an executable file: \n",
    "not moved, the image has no mount point for \n",
    "\x01move into the new root: \n",
    "\x01move the new root onto /\n",
    "\x01chroot\n",
    "\x01stat /\n",
    "/ is not the initramfs (not ramfs or tmpfs)\n",
    "\x01execute \n",
    // update_step.rs
    "\x01unmount newimg\n",
    "\x01remount the image partition read-only\n",
    "\x01write \n",
);

/// A failure that has already been reported. The boot decides what happens next.
pub struct Failed;

/// The boot's steps, which every message names: numbers into `STEP_NAMES`.
#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Step {
    Start,
    Cmdline,
    Modules,
    HandoverDir,
    Find,
    Boot,
    ImagePartition,
    Update,
    Image,
    OverlayModule,
    OverlayPartition,
    Root,
    Status,
    InitCheck,
    Handover,
    SwitchRoot,
}

/// The names of `Step`, in its order, as messages say them (see `initramfs_overlay::nth`).
const STEP_NAMES: &str = "start
cmdline
modules
handover dir
find
boot
image partition
update
image
overlay module
overlay partition
root
status
init check
handover
switch root
";

// The logger's state is global: the `Logger` that every function of the boot passes along is an
// empty handle, so no call passes or keeps a pointer for it. The init runs one thread; the atomics
// are only what makes a static safe to change, their relaxed loads and stores plain moves.
/// Info lines are left out (`quiet` on the command line).
static QUIET: AtomicBool = AtomicBool::new(false);
/// The running `Step`: every message is about it.
static STEP: AtomicU8 = AtomicU8::new(Step::Start as u8);
/// Milliseconds since boot when the running step started, cut to 32 bits (a step's time is their
/// wrapping difference, right for any step shorter than 49 days; 32-bit targets do 64-bit
/// arithmetic in pairs of registers). 0 while no step's clock runs (see `end_step`), instead of a
/// flag of its own: init starts long after the kernel's clock read 0, and the cut clock reads 0
/// again only every 49 days (a step started in that very millisecond would go untimed).
static STEP_START: AtomicU32 = AtomicU32::new(0);

/// An errno negated and cut to 16 bits, 0 for none: rustix's own representation (errno numbers are
/// below 4096), so callers pass the register they already hold; `errnames::text` names it as is.
#[inline(always)]
fn negated(errno: Option<Errno>) -> u16 {
    errno.map_or(0, |e| e.raw_os_error().wrapping_neg() as u16)
}

/// A line's level and errno (`negated`) as `step_line`'s one argument: its callers pass one value
/// fewer (on x86_64 all of them in registers then). The errno is stored sign-extended above the
/// level, so one arithmetic shift gets it back.
#[inline(always)]
fn level_errno(level: Level, negated_errno: u16) -> u32 {
    ((negated_errno as i16 as i32) << 8) as u32 | level as u32
}

/// The handle to the boot's log (see the statics above).
pub struct Logger(());

impl Logger {
    #[optimize(size)]
    pub const fn new() -> Logger {
        Logger(())
    }

    /// Opens /dev/kmsg once devtmpfs is mounted; until then lines go to the console only.
    #[optimize(size)]
    pub fn open_kmsg(&mut self) {
        crate::sys::open_kmsg();
    }

    /// Leaves info lines out from now on (`quiet`).
    #[optimize(size)]
    pub fn set_quiet(&mut self, quiet: bool) {
        QUIET.store(quiet, Relaxed);
    }

    /// Names the running step without starting its clock.
    #[optimize(size)]
    pub fn set_step(&mut self, step: Step) {
        STEP.store(step as u8, Relaxed);
    }

    #[optimize(size)]
    fn step_name(&self) -> &'static [u8] {
        initramfs_overlay::nth(STEP_NAMES, usize::from(STEP.load(Relaxed)))
    }

    /// An info line about the running step, `<step>: <what><subject>` (see `warn`).
    #[inline(always)]
    pub fn info(&mut self, what: Msg, subject: &[u8]) {
        self.say(Level::Info, what, subject, b"");
    }

    /// A line about the running step with two values: `<step>: <what>` with `first` in place of its
    /// `%` and `second` after it, e.g. `msg!("% loaded for ")` (see `step_line`).
    #[inline(always)]
    pub fn say(&mut self, level: Level, what: Msg, first: &[u8], second: &[u8]) {
        self.step_line(what, level_errno(level, 0), first, second);
    }

    /// Logs `<step>: <what><subject> (<ERRNO>)` and returns the marker to propagate. `what` is a
    /// message (`cannot!("open ")`): it reaches `fail_raw` as one number. (A `%` in it would
    /// be the subject's place, see `step_line`.)
    #[inline(always)]
    pub fn fail(&mut self, what: Msg, subject: &[u8], errno: Option<Errno>) -> Failed {
        self.fail_raw(what, negated(errno), subject)
    }

    /// `fail` with a C string (a path, as `&CStr` or `CText`) as the subject: one pointer at the
    /// caller, its length is counted once, in here.
    #[inline(always)]
    pub fn fail_path<'p>(
        &mut self,
        what: Msg,
        path: impl Into<CText<'p>>,
        errno: Option<Errno>,
    ) -> Failed {
        self.fail_path_raw(path.into(), what, negated(errno))
    }

    /// The path first: where `strlen` takes it (on x86_64 and i686 fewer moves around that call).
    #[optimize(size)]
    #[inline(never)]
    fn fail_path_raw(&mut self, path: CText, what: Msg, negated_errno: u16) -> Failed {
        self.fail_raw(what, negated_errno, path.to_bytes())
    }

    /// `fail` with two values, placed as `say` places them (`cannot!("mount % on ")`).
    #[inline(always)]
    pub fn fail_two(
        &mut self,
        what: Msg,
        first: &[u8],
        second: &[u8],
        errno: Option<Errno>,
    ) -> Failed {
        self.step_line(
            what,
            level_errno(Level::Error, negated(errno)),
            first,
            second,
        );
        Failed
    }

    /// `fail` for a message with no subject: two fewer arguments at each caller.
    #[inline(always)]
    pub fn fail_bare(&mut self, what: Msg, errno: Option<Errno>) -> Failed {
        self.fail_bare_raw(what, negated(errno))
    }

    #[optimize(size)]
    #[inline(never)]
    fn fail_bare_raw(&mut self, what: Msg, negated_errno: u16) -> Failed {
        self.fail_raw(what, negated_errno, b"")
    }

    /// A warning about the running step, `<step>: <what><subject>`, written like a failure without
    /// an errno: `what` is one number at the caller, and its text need not repeat the step's name.
    // Left to LLVM on x86_64: -8 B there with `Outcome::number` also left to it (0 alone), measured.
    #[cfg_attr(not(target_arch = "x86_64"), inline(always))]
    pub fn warn(&mut self, what: Msg, subject: &[u8]) {
        self.say(Level::Warning, what, subject, b"");
    }

    /// `warn` for a warning with no subject: two fewer arguments at each caller.
    #[optimize(size)]
    #[inline(never)]
    pub fn warn_bare(&mut self, what: Msg) {
        self.step_line(what, level_errno(Level::Warning, 0), b"", b"");
    }

    /// `fail` with the errno as its negated 16-bit value, 0 for none: one register, no arithmetic at
    /// each of the many callers. The errno comes before the subject (a pointer and a length): that
    /// order measured smaller on all three arches.
    #[optimize(size)]
    #[inline(never)]
    fn fail_raw(&mut self, what: Msg, negated_errno: u16, subject: &[u8]) -> Failed {
        self.step_line(what, level_errno(Level::Error, negated_errno), subject, b"");
        Failed
    }

    /// Writes `<step>: <what><first><second> (<ERRNO>)` at the level and with the errno that
    /// `level_errno()` packed into one `u32`, the part in parentheses only with an errno: the line of
    /// every failure and of the other messages about a step. A `%` in `what` is where `first` goes
    /// instead (`msg!("FALLBACK: % cannot boot, booting ")`): a line with two values is one number and
    /// two slices at its caller, not an array of its pieces. A `what` from `cannot!` starts with
    /// `cannot `.
    #[optimize(size)]
    #[inline(never)]
    fn step_line(&mut self, what: Msg, level_errno: u32, first: &[u8], second: &[u8]) {
        // The errno as rustix holds it, negated: `errnames::text` names it by its absolute value.
        let negated_errno = level_errno as i32 >> 8;
        // The parts are placed as they are found: the values first, as they arrive, so that they
        // need not be kept across the calls that find the others (measured -48 / -36 / -24 B).
        let mut parts: [&[u8]; 7] = [self.step_name(), b"", b"", first, b"", second, b""];
        let mut number = numfmt::digits();
        let what = initramfs_overlay::nth(MESSAGES, usize::from(what.0));
        // A message from `cannot!` starts with the byte that stands for the word: the word joins the
        // separator after the step's name, one part cut to length.
        const SEPARATOR: &[u8] = b": cannot ";
        let (separator_len, what) = match what.strip_prefix(&[CANNOT]) {
            Some(rest) => (SEPARATOR.len(), rest),
            None => (": ".len(), what),
        };
        parts[1] = &SEPARATOR[..separator_len];
        let at = what.iter().position(|&b| b == b'%').unwrap_or(what.len());
        let (before, after) = what.split_at(at);
        parts[2] = before;
        // `after` starts with the `%`, or is empty without one.
        parts[4] = after.get(1..).unwrap_or_default();
        parts[6] = errnames::text(negated_errno, &mut number);
        // Without an errno the line ends after the values.
        write_log_line(
            level_errno as u8,
            if negated_errno != 0 {
                &parts[..]
            } else {
                &parts[..6]
            },
        );
    }

    /// Starts a step: ends the running one (see `end_step`), names the new one for messages and
    /// starts its clock. Steps follow each other, so one call at each step instead of two, and one
    /// clock reading both ends the old step and starts the new.
    #[optimize(size)]
    #[inline(never)]
    pub fn step_start(&mut self, step: Step) {
        let now = crate::sys::now_ms();
        self.end_step(now);
        self.set_step(step);
        STEP_START.store(now, Relaxed);
    }

    /// Ends the running step now (the debug build's shell: its time is not the step's).
    #[cfg(feature = "debug-shell")]
    #[optimize(size)]
    pub fn step_done(&mut self) {
        self.end_step(crate::sys::now_ms());
        // Stopped: the next `step_start` must not report it again.
        STEP_START.store(0, Relaxed);
    }

    /// Ends the running step, if any, at `now` with `<step>: done in N ms`: the boot timeline that
    /// `dmesg` shows (not with `quiet`). Its clock is left running: `step_start` starts the next one
    /// right after.
    #[optimize(size)]
    fn end_step(&mut self, now: u32) {
        let start = STEP_START.load(Relaxed);
        if start == 0 {
            return;
        }
        let mut number = numfmt::digits();
        let ms = numfmt::dec(now.wrapping_sub(start).into(), &mut number);
        self.say(Level::Info, msg!("done in % ms"), ms, b"");
    }

    /// A failed step is not done: the debug build's retry must not report it.
    #[cfg(feature = "debug-shell")]
    #[optimize(size)]
    pub fn step_failed(&mut self) {
        STEP_START.store(0, Relaxed);
    }
}

impl Log for Logger {
    #[inline(always)]
    fn line(&mut self, level: Level, parts: &[&[u8]]) {
        write_log_line(level as u8, parts);
    }

    #[inline(always)]
    fn unknown_option(&mut self, name: &[u8]) {
        self.warn(msg!("unknown option "), name);
    }
}

/// `Log::line` with the level as its kmsg number: `step_line` passes the one it unpacked as is.
#[optimize(size)]
fn write_log_line(level: u8, parts: &[&[u8]]) {
    if QUIET.load(Relaxed) && level == Level::Info as u8 {
        return;
    }
    // "<N>" + prefix + parts + "\n", assembled so that each line is a single write.
    let mut buf = [0u8; LINE_MAX];
    // The level tag and our prefix are one constant, with the level digit filled in.
    let (head, _) = buf.split_at_mut(HEAD.len());
    head.copy_from_slice(HEAD);
    head[1] = b'0' + level;
    // Cut when too long, leaving room for the newline.
    let (mut len, _) = append(&mut buf, HEAD.len(), parts);
    buf[len] = b'\n';
    len += 1;
    let line = &buf[..len];
    let console_line = &line[LEVEL_TAG_LEN..];
    let kmsg = crate::sys::kmsg();
    if let Some(kmsg) = kmsg {
        write_line(kmsg, line);
    }
    // Before /dev/kmsg is open every line, after it errors and warnings only.
    if kmsg.is_none() || level <= Level::Warning as u8 {
        write_line(console(), console_line);
    }
}

#[optimize(size)]
fn console() -> BorrowedFd<'static> {
    crate::sys::console()
}

/// Best effort: a log line that cannot be written has nowhere else to go. One write: /dev/kmsg takes a
/// record whole or not at all, and a blocking terminal writes all of it before returning.
#[optimize(size)]
fn write_line(fd: BorrowedFd<'_>, bytes: &[u8]) {
    let _ = rustix::io::write(fd, bytes);
}
