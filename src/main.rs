//! initramfs-overlay: PID 1 of the initramfs. It finds the `img` and `overlay` partitions, promotes a
//! waiting update, loop-mounts the squashfs OS image, puts a writeable overlay on top and hands over to
//! the real init. Read `boot` below top to bottom: each step is one named function.
#![no_std]
#![no_main]
#![feature(optimize_attribute)]
#![deny(unsafe_op_in_unsafe_fn)]

mod devices;
mod entry;
mod files;
mod logger;
mod mem;
mod modules;
mod mounts;
mod sys;
mod update_step;

use devices::Found;
use entry::Start;
use initramfs_overlay::cmdline::{self, Config, FailAction};
use initramfs_overlay::cpath::CPath;
use initramfs_overlay::log::{Level, Log};
use initramfs_overlay::update::Status;
use logger::{Failed, Logger, Step, cannot, msg};
use rustix::fd::AsFd;

/// Where the initramfs mounts everything. `/run` is a tmpfs that moves into the new root, so the OS
/// finds the partitions under `/run/initramfs-overlay/` (see README).
pub mod paths {
    pub const RUN: &core::ffi::CStr = c"/run";
    pub const HANDOVER: &core::ffi::CStr = c"/run/initramfs-overlay";
    pub const IMAGE: &core::ffi::CStr = c"/run/initramfs-overlay/image";
    pub const OVERLAY: &core::ffi::CStr = c"/run/initramfs-overlay/overlay";
    pub const LOWER: &core::ffi::CStr = c"/run/initramfs-overlay/lower";
    pub const STATUS: &core::ffi::CStr = c"/run/initramfs-overlay/status";
    /// Short-lived mounts (the boot and newimg partitions) that the OS never sees.
    pub const SCRATCH: &core::ffi::CStr = c"/mnt/scratch";
    /// The new root while it is assembled.
    pub const ROOT: &core::ffi::CStr = c"/mnt/root";
}

/// The boot, as a story of named steps. Any failing step has already said what failed; `attempt`
/// then runs the failure action (or, in the debug build, a shell and a retry).
#[optimize(size)]
// Forced inline (into entry::start) on x86_64 only: -16 B there, measured.
#[cfg_attr(target_arch = "x86_64", inline(always))]
fn boot(start: Start) -> ! {
    let mut log = Logger::new();
    // /dev, /proc and /sys first: everything else reads or writes them.
    mounts::kernel_filesystems(&mut log);
    // Declared before the 8 KiB command-line buffer: LLVM lays out an ARM frame in declaration order
    // up from the stack pointer, so Thumb code reaches these often used ones with short sp-relative
    // forms instead of an offset loaded from a literal pool at each use (measured 64 B smaller on ARM).
    let mut config = Config::DEFAULT;
    let mut found = Found::NONE;
    // /proc/cmdline holds at most COMMAND_LINE_SIZE (4 KiB on the largest arch) plus a newline.
    let mut cmdline_buf = [core::mem::MaybeUninit::uninit(); 8192];
    read_cmdline(&mut log, &mut cmdline_buf, &mut config);
    log.set_quiet(config.quiet);
    // The module folders' name. After the buffer: read once, it need not be near the stack pointer.
    let kernel_release = rustix::system::uname();
    let kver = kernel_release.release().to_bytes();

    // Stock kernels have the disk, filesystem, loop and overlay drivers as modules.
    attempt(&mut log, &config, Step::Modules, |log| {
        modules::load_bundled(log, kver)
    });
    // The tmpfs that will carry the partitions' mounts into the booted OS.
    attempt(&mut log, &config, Step::HandoverDir, mounts::handover_tmpfs);
    // Wait for the partitions: by label unless the command line says otherwise.
    attempt(&mut log, &config, Step::Find, |log| {
        devices::find(log, &config, &mut found)
    });
    // Kernels without squashfs or loop built in get them from the boot partition.
    if let Some(boot_part) = found.boot() {
        attempt(&mut log, &config, Step::Boot, |log| {
            modules::load_from_boot_partition(log, boot_part, kver)
        });
    }
    let image_dir = attempt(&mut log, &config, Step::ImagePartition, |log| {
        mounts::image_partition(log, &found)
    });
    // A waiting update is promoted before any image is opened, so the new one boots right away.
    let mut status = Status::new();
    attempt(&mut log, &config, Step::Update, |log| {
        update_step::run(log, &found, &config, image_dir.as_fd(), &mut status)
    });
    // The current image, or `-old` when the current one is damaged.
    attempt(&mut log, &config, Step::Image, |log| {
        mounts::squashfs_image(log, &config, image_dir.as_fd(), &mut status)
    });
    // overlay.ko ships inside the image, matching the kernel it was built for.
    attempt(&mut log, &config, Step::OverlayModule, |log| {
        modules::load_overlay_from_image(log, kver, &config)
    });
    if !config.no_overlay {
        attempt(&mut log, &config, Step::OverlayPartition, |log| {
            mounts::overlay_partition(log, &found, &config)
        });
    }
    attempt(&mut log, &config, Step::Root, |log| {
        mounts::assemble_root(log, &config)
    });
    attempt(&mut log, &config, Step::Status, |log| {
        update_step::write_status(log, &status)
    });
    // After the switch the initramfs is gone: check the init while an error can still be reported.
    // The init's path, made once for its check and its execution (one join, not two: -32 / -28 / -8 B).
    let init = CPath::new(&[config.init]);
    attempt(&mut log, &config, Step::InitCheck, |log| {
        mounts::check_init(log, &config, &init)
    });
    preboot_shell(&mut log, &config);
    // /dev, /proc, /sys and /run move into the new root, the current folder since the init check.
    attempt(&mut log, &config, Step::Handover, mounts::move_into_root);
    attempt(&mut log, &config, Step::SwitchRoot, |log| {
        mounts::switch_root(log, &init, &start)
    });
    // `switch_root` only returns by failing, and `attempt` does not return from a failure in the
    // standard build; in the debug build the retry loop above never ends either.
    failure_action(&mut log, config.onerror)
}

/// Where the kernel shows its command line.
const CMDLINE: &core::ffi::CStr = c"/proc/cmdline";

/// Reads and parses /proc/cmdline into `config`, which holds the defaults: filled in place, since each
/// move of a `Config` is a copy. A malformed option stops the boot, with its name in the message.
#[optimize(size)]
fn read_cmdline<'b>(
    log: &mut Logger,
    buf: &'b mut [core::mem::MaybeUninit<u8>],
    config: &mut Config<'b>,
) {
    log.set_step(Step::Cmdline);
    // Without a command line there is no failure action asked for: the default, panic.
    let onerror = match files::read_small(rustix::fs::CWD, CMDLINE, buf) {
        Err(e) => {
            log.fail_path(cannot!("read "), CMDLINE, Some(e));
            FailAction::Panic
        }
        Ok(text) => match cmdline::parse_into(text, config, log) {
            Ok(()) => return,
            Err(e) => {
                // e.g. `cmdline: iovl.wait is not a number of seconds`
                log.say(Level::Error, msg!("% "), e.option, e.problem);
                e.onerror
            }
        },
    };
    failure_action(log, onerror)
}

/// Runs one step, timing it (the next step's start ends its clock). On failure: the standard build
/// runs the failure action; the debug build opens a shell and retries the step when the shell exits.
// In the standard build a failure never returns, so clippy sees a loop that cannot loop.
#[cfg_attr(not(feature = "debug-shell"), allow(clippy::never_loop))]
#[optimize(size)]
// Inlined into `boot`: a separate copy per step would repeat the frame setup 14 times.
#[inline(always)]
fn attempt<T>(
    log: &mut Logger,
    config: &Config,
    step: Step,
    mut run: impl FnMut(&mut Logger) -> Result<T, Failed>,
) -> T {
    loop {
        log.step_start(step);
        match run(log) {
            Ok(value) => return value,
            Err(Failed) => on_failure(log, config),
        }
    }
}

#[cfg(not(feature = "debug-shell"))]
#[optimize(size)]
// Inlined: the steps share one failure branch, which then calls `failure_action` directly.
#[inline(always)]
fn on_failure(log: &mut Logger, config: &Config) -> ! {
    failure_action(log, config.onerror)
}

#[cfg(feature = "debug-shell")]
#[optimize(size)]
fn on_failure(log: &mut Logger, _config: &Config) {
    log.step_failed();
    shell(log, "exit to retry the failed step");
}

#[cfg(not(feature = "debug-shell"))]
#[optimize(size)]
fn preboot_shell(_log: &mut Logger, _config: &Config) {}

/// Debug build: a shell on the console right before the switch, so the assembled root can be inspected.
#[cfg(feature = "debug-shell")]
#[optimize(size)]
fn preboot_shell(log: &mut Logger, config: &Config) {
    if !config.noshell {
        // The shell's time is not the last step's.
        log.step_done();
        shell(log, "type exit to boot");
    }
}

/// Runs busybox `/bin/sh` on the console and waits for it.
#[cfg(feature = "debug-shell")]
#[optimize(size)]
fn shell(log: &mut Logger, hint: &str) {
    log.line(Level::Warning, &[b"debug shell: ", hint.as_bytes()]);
    match sys::fork() {
        Ok(0) => {
            let errno = sys::exec(c"/bin/sh");
            log.fail_bare(cannot!("run /bin/sh"), Some(errno));
            rustix::runtime_448b8ad740e2a26f::exit_group(1)
        }
        Ok(child) => {
            // Reap every exited process until the shell itself is gone.
            while let Ok(Some((pid, _))) =
                rustix::process::wait(rustix::process::WaitOptions::empty())
            {
                if pid.as_raw_nonzero().get() as u32 == child {
                    break;
                }
            }
        }
        Err(e) => {
            log.fail_bare(cannot!("fork"), Some(e));
        }
    }
}

/// The configured failure action. `panic` exits PID 1, so the kernel panics and `panic=N` reboots.
#[optimize(size)]
fn failure_action(log: &mut Logger, action: FailAction) -> ! {
    use rustix::system::RebootCommand;
    log.line(Level::Warning, &[b"failure action: ", action.name()]);
    // The reboot(2) command of each action, in `FailAction`'s order: `panic` has none.
    const COMMANDS: [Option<RebootCommand>; 4] = [
        None,
        Some(RebootCommand::Restart),
        Some(RebootCommand::PowerOff),
        Some(RebootCommand::Halt),
    ];
    // That order, checked: a reordered enum must not pair an action with another's command.
    const {
        assert!(FailAction::Panic as usize == 0 && FailAction::Reboot as usize == 1);
        assert!(FailAction::Poweroff as usize == 2 && FailAction::Halt as usize == 3);
    }
    if let Some(&Some(command)) = COMMANDS.get(action as usize) {
        rustix::fs::sync();
        let _ = rustix::system::reboot(command);
    }
    // `panic` exits right away; reboot(2) does not return on success, and if it failed, exiting still
    // stops the machine (panic).
    rustix::runtime_448b8ad740e2a26f::exit_group(1)
}
