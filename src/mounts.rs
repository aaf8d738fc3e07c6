//! The mount steps of the boot, in boot order: kernel filesystems, the hand-over tmpfs, the image
//! partition, the squashfs image, the overlay partition, the new root, and the switch into it.

use crate::devices::{Found, Partition};
use crate::entry::Start;
use crate::files;
use crate::logger::{Failed, Logger, Msg, cannot, msg};
use crate::paths;
use crate::sys;
use crate::sys::{Fd, open, open_read};
use core::ffi::CStr;
use initramfs_overlay::cmdline::Config;
use initramfs_overlay::cpath::{CPath, CText};
use initramfs_overlay::log::Level;
use initramfs_overlay::update::{self, Choice, Status};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd};
use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

/// `mount(2)`, reporting `cannot mount <source> on <target> (ERRNO)`. `data` is always a string:
/// an empty one is no options to every filesystem, as NULL is, and saves the optional argument.
#[optimize(size)]
#[inline(always)]
pub fn mount(
    log: &mut Logger,
    source: &CStr,
    target: &CStr,
    fstype: &CStr,
    flags: MountFlags,
    data: &CStr,
) -> Result<(), Failed> {
    mount_reporting(log, source, target, fstype, flags, data).map_err(|_| Failed)
}

/// `mount`, returning the errno for callers that record or explain it.
#[optimize(size)]
#[inline(always)]
fn mount_reporting(
    log: &mut Logger,
    source: &CStr,
    target: &CStr,
    fstype: &CStr,
    flags: MountFlags,
    data: &CStr,
) -> Result<(), Errno> {
    mount_texts(
        log,
        CText::new(source),
        CText::new(target),
        CText::new(fstype),
        flags,
        data,
    )
}

/// `mount_reporting` with the two strings it names and the filesystem type as one pointer each: their
/// lengths are counted once, in here, not loaded at each caller. Every new mount of the boot goes
/// through here (moves, remounts and binds call mount(2) themselves): one call, one message.
#[optimize(size)]
#[inline(never)]
fn mount_texts(
    log: &mut Logger,
    source: CText<'_>,
    target: CText<'_>,
    fstype: CText<'_>,
    flags: MountFlags,
    data: &CStr,
) -> Result<(), Errno> {
    // The strings' lengths only for the message: the system call takes the pointers alone.
    rustix::mount::mount(
        source.as_c_str(),
        target.as_c_str(),
        fstype.as_c_str(),
        flags,
        data,
    )
    .inspect_err(|&e| {
        log.fail_two(
            cannot!("mount % on "),
            source.to_bytes(),
            target.to_bytes(),
            Some(e),
        );
    })
}

/// Opens one of our folders, reporting `cannot open <path> (ERRNO)`.
#[optimize(size)]
#[inline(always)]
pub fn open_dir(log: &mut Logger, path: &CStr) -> Result<Fd, Failed> {
    open_dir_text(log, CText::new(path))
}

/// `open_dir` with the path as one pointer: its length is counted once, in here.
#[optimize(size)]
#[inline(never)]
fn open_dir_text(log: &mut Logger, path: CText<'_>) -> Result<Fd, Failed> {
    let path = path.as_c_str();
    files::open_dir(CWD, path).map_err(|e| log.fail_path(cannot!("open "), path, Some(e)))
}

/// The initramfs folders we mount on, /mnt last: the others move into the new root at the end.
/// One pointer each, as in the tables below: half the size of a table of `&CStr`s.
const MOUNT_POINTS: [CText<'static>; 5] = [
    CText::new(c"/dev"),
    CText::new(c"/proc"),
    CText::new(c"/sys"),
    CText::new(paths::RUN),
    CText::new(c"/mnt"),
];

/// The kernel's own filesystems, mounted on the first three `MOUNT_POINTS`; each one's name is its
/// source too.
const KERNEL_FILESYSTEMS: [CText<'static>; 3] = [
    CText::new(c"devtmpfs"),
    CText::new(c"proc"),
    CText::new(c"sysfs"),
];

/// /dev, /proc and /sys, and a console on fds 0-2. Errors are reported but not fatal here: whatever
/// is missing makes a later step fail with a precise message.
#[optimize(size)]
pub fn kernel_filesystems(log: &mut Logger) {
    for &dir in &MOUNT_POINTS {
        let _ = files::ensure_dir(CWD, dir);
    }
    // /dev holds the device nodes; /proc and /sys, after it, need neither devices nor programs.
    let mut flags = MountFlags::NOSUID;
    for (&fstype, &dir) in KERNEL_FILESYSTEMS.iter().zip(&MOUNT_POINTS) {
        let _ = mount_texts(log, fstype, dir, fstype, flags, c"");
        // Right after /dev, so that a failing /proc or /sys can be reported. Tried again after each
        // mount: once there is a console the new descriptor is not 0 and closes again, and while there
        // is none (devtmpfs failed) the open fails again, harmlessly.
        open_console();
        flags |= MountFlags::NOEXEC | MountFlags::NODEV;
    }
    // Our step lines come faster than /dev/kmsg's default rate limit (10 lines per 5 s) allows. A
    // `printk.devkmsg=` given on the command line locks the setting, and then this write fails.
    set_devkmsg(b"on\n");
    log.open_kmsg();
    // Nothing mounted from here on may propagate anywhere once the root moves (as systemd's switch-root).
    let _ = rustix::mount::mount_change(
        c"/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    );
}

/// The kernel gives init /dev/console as fds 0-2 only when the archive has that node. Without it fd
/// 0 is free, so the console opens as fd 0: it is stdin from now on, for us and the real init, and
/// must stay open (not be closed at the end of this function); 1 and 2 are copies. Any other number
/// means fd 0 was taken, by the kernel's console: that descriptor closes again. (The open itself is
/// the test: no fstat of fd 0 and its stat buffer first.)
#[optimize(size)]
#[inline(always)]
fn open_console() {
    if let Ok(console) = open(CWD, c"/dev/console", OFlags::RDWR, Mode::empty())
        && console.as_fd().as_raw_fd() == 0
    {
        let _ = rustix::stdio::dup2_stdout(&console);
        let _ = rustix::stdio::dup2_stderr(&console);
        core::mem::forget(console);
    }
}

/// Sets /dev/kmsg's rate limit (`printk.devkmsg`). Best effort: see the callers.
#[optimize(size)]
fn set_devkmsg(value: &[u8]) {
    if let Ok(file) = open(
        CWD,
        c"/proc/sys/kernel/printk_devkmsg",
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        let _ = rustix::io::write(&file, value);
    }
}

/// The folders `handover_tmpfs` makes, one pointer each: a table half the size of one of `&CStr`s.
const HANDOVER_DIRS: [CText<'static>; 6] = [
    CText::new(paths::HANDOVER),
    CText::new(paths::IMAGE),
    CText::new(paths::OVERLAY),
    CText::new(paths::LOWER),
    CText::new(paths::SCRATCH),
    CText::new(paths::ROOT),
];

/// A tmpfs on /run with the hand-over folders; it moves onto the new root's /run at the end.
#[optimize(size)]
pub fn handover_tmpfs(log: &mut Logger) -> Result<(), Failed> {
    mount(
        log,
        c"tmpfs",
        paths::RUN,
        c"tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        c"mode=0755",
    )?;
    create_dirs(log, &HANDOVER_DIRS)
}

/// Creates the folders `dirs` (relative to the current folder, or absolute) where they do not exist
/// yet, reporting `cannot create directory <dir> (ERRNO)`: the hand-over folders and the overlay
/// partition's, one loop for both.
#[optimize(size)]
#[inline(never)]
fn create_dirs(log: &mut Logger, dirs: &[CText<'static>]) -> Result<(), Failed> {
    for &dir in dirs {
        files::ensure_dir(CWD, dir)
            .map_err(|e| log.fail_path(cannot!("create directory "), dir, Some(e)))?;
    }
    Ok(())
}

/// Mounts a found partition with its probed filesystem type.
#[optimize(size)]
// Out of line (measured smaller): inlined, it adds to `boot`'s large frame and register pressure.
#[inline(never)]
pub fn mount_partition(
    log: &mut Logger,
    part: &Partition,
    target: &CStr,
    flags: MountFlags,
) -> Result<(), Failed> {
    mount_texts(
        log,
        CText::new(part.dev.as_cstr()),
        CText::new(target),
        part.fstype,
        flags,
        c"",
    )
    .map_err(|_| Failed)
}

/// Unmounts the scratch folder (the boot or newimg partition, see `paths::SCRATCH`) after its one
/// use: leaving it mounted would keep the device busy, but a failed unmount is worth a warning only,
/// `what`. One copy of the call and its check for both partitions.
#[optimize(size)]
#[inline(never)]
pub fn unmount_scratch(log: &mut Logger, what: Msg) {
    if rustix::mount::unmount(paths::SCRATCH, UnmountFlags::empty()).is_err() {
        log.warn_bare(what);
    }
}

/// The `img` partition: read-only, unless an update waits and must be promoted onto it. Returns its
/// folder, open: the update and the image steps both work in it, so it is opened once, here (-32 /
/// -20 / -40 B against an open in each of them), and stays open until the real init is executed.
/// In the debug shell the partition is therefore busy: `umount` fails until the boot goes on, and a
/// mount put in its place is not seen by the steps after it. A retry of this step after a failed
/// open mounts the partition again on top, as a retried overlay step does.
#[optimize(size)]
pub fn image_partition(log: &mut Logger, found: &Found) -> Result<Fd, Failed> {
    // `find` ends only once img is found; the `else` cannot happen but must not panic.
    let Some(img) = found.img() else {
        return Err(log.fail_bare(msg!("img partition vanished"), None));
    };
    let flags = if found.newimg().is_some() {
        MountFlags::empty()
    } else {
        MountFlags::RDONLY
    };
    mount_partition(log, img, paths::IMAGE, flags)?;
    open_dir(log, paths::IMAGE)
}

/// Loop-mounts the first good image of `image_dir` (see `image_partition`): the current one, else
/// `-old` (the automatic fallback). Images are checked before use, so a bad one is a clear message,
/// never a mount attempt.
#[optimize(size)]
// Out of line (measured smaller): inlined, it adds to `boot`'s large frame and register pressure.
#[inline(never)]
pub fn squashfs_image(
    log: &mut Logger,
    config: &Config,
    image_dir: BorrowedFd<'_>,
    status: &mut Status,
) -> Result<(), Failed> {
    // Filled in place: the choice holds two paths, too big to move around.
    let mut choice = Choice::empty();
    // Logs why each image that cannot boot cannot; with neither good there is no candidate, and the
    // boot fails below.
    update::choose_image(image_dir, config.image, log, &mut choice);
    // Why the current image could not boot, if it could not: its check failed, or its mount (it is
    // the first candidate whenever its check passed). The image skipped is always the current one.
    let mut skipped_error = choice.current_error;
    for candidate in choice.candidates.iter().flatten() {
        match loop_mount(log, candidate.fd.as_fd()) {
            Ok(()) => {
                let name = candidate.name.as_bytes();
                if skipped_error.is_some() {
                    log.say(
                        Level::Error,
                        msg!("FALLBACK: % cannot boot, booting "),
                        config.image,
                        name,
                    );
                }
                status.booted(name, skipped_error.map(|e| (config.image, e)));
                return Ok(());
            }
            Err(e) => {
                skipped_error.get_or_insert(e);
            }
        }
    }
    Err(log.fail_path(msg!("no bootable image in "), paths::IMAGE, None))
}

/// The loop control device.
const LOOP_CONTROL: &CStr = c"/dev/loop-control";
/// What the loop devices' paths start with, before their number (cut from `LOOP_CONTROL`, see
/// `initramfs_overlay::inside`).
const LOOP_DEVICE: &[u8] = initramfs_overlay::inside(LOOP_CONTROL.to_bytes(), b"/dev/loop");

/// Attaches a checked image to a free loop device and mounts it read-only on the lower folder.
#[optimize(size)]
// Out of line (measured smaller): inlined, it adds to `boot`'s large frame and register pressure.
#[inline(never)]
fn loop_mount(log: &mut Logger, file: BorrowedFd<'_>) -> Result<(), update::Error> {
    let control = open(
        CWD,
        LOOP_CONTROL,
        OFlags::RDWR | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        log.fail_path(
            msg!("is the loop module loaded? cannot open "),
            LOOP_CONTROL,
            Some(e),
        );
        update::Error::no_loop_device()
    })?;
    // Every way out of the attempts closes the control device here, once.
    attach_free_device(log, control.as_fd(), file)
}

/// Binds `file` to a free loop device (from `control`) and mounts it, as `loop_mount` does.
#[optimize(size)]
fn attach_free_device(
    log: &mut Logger,
    control: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
) -> Result<(), update::Error> {
    // Every failure before the mount leaves the image without a loop device.
    let no_device = |_: Failed| update::Error::no_loop_device();
    // Another opener could take the device between GET_FREE and attach; ask again then.
    let mut last = Errno::BUSY;
    for _ in 0..4 {
        let number = sys::loop_get_free(control)
            .map_err(|e| log.fail_bare(msg!("no free loop device"), Some(e)))
            .map_err(no_device)?;
        let path = numbered(LOOP_DEVICE, number.into());
        let device = open_read(CWD, path.as_cstr())
            .map_err(|e| log.fail_path(cannot!("open "), path.as_cstr(), Some(e)))
            .map_err(no_device)?;
        match sys::loop_attach(device.as_fd(), file) {
            // The device stays open until the mount holds it: with AUTOCLEAR, the last close unbinds
            // it. From then on it clears itself when the mount goes away, or now if the mount failed.
            Ok(()) => {
                return mount_reporting(
                    log,
                    path.as_cstr(),
                    paths::LOWER,
                    c"squashfs",
                    MountFlags::RDONLY,
                    c"",
                )
                .map_err(update::Error::mount_failed);
            }
            Err(e) => last = e,
        }
        if last != Errno::BUSY {
            break;
        }
    }
    Err(no_device(log.fail_bare(
        cannot!("attach the image to a loop device"),
        Some(last),
    )))
}

/// `<prefix><n>` as a path: the one way the loop devices' and the trash's numbered names are made.
#[optimize(size)]
fn numbered(prefix: &[u8], n: u64) -> CPath {
    let mut digits = initramfs_overlay::numfmt::digits();
    // Digits never hold a NUL and always fit, so the lossy join is exact.
    CPath::lossy(&[prefix, initramfs_overlay::numfmt::dec(n, &mut digits)])
}

/// The folders of the overlay partition: `trash` (see `clear_upper_and_work`), the overlay's `upper`
/// and `work`, and `persistent`. One table, sliced where fewer are meant; one pointer each, as
/// `HANDOVER_DIRS`, so that `create_dirs` takes either.
const OVERLAY_FOLDERS: [CText<'static>; 4] = [
    CText::new(c"trash"),
    CText::new(c"upper"),
    CText::new(c"work"),
    CText::new(c"persistent"),
];

/// The `overlay` partition, read-write, with `upper/`, `work/` and `persistent/`. `upper` and `work`
/// start empty on every boot: `work` too, because a stale index breaks the mount after an update.
#[optimize(size)]
pub fn overlay_partition(log: &mut Logger, found: &Found, config: &Config) -> Result<(), Failed> {
    let Some(part) = found.overlay() else {
        return Ok(());
    };
    mount_partition(log, part, paths::OVERLAY, MountFlags::NOATIME)?;
    // Its folders are named from inside it: it is the current folder until `check_init` enters the
    // new root (the trash cleaner keeps it as its own).
    rustix::process::chdir(paths::OVERLAY)
        .map_err(|e| log.fail_path(cannot!("enter "), paths::OVERLAY, Some(e)))?;
    if !config.keep_upper {
        clear_upper_and_work(log, CWD)?;
    }
    create_dirs(log, &OVERLAY_FOLDERS[1..])
}

/// Clearing must not cost time per file left in `upper`: both folders are renamed into `trash/`
/// (O(1)), and a child process deletes the trash in the background while the OS boots. `overlay` is
/// the partition's folder (the current one, see `overlay_partition`), as in the functions below.
#[optimize(size)]
// Out of line on x86 (measured smaller): inlined, it adds to `boot`'s large frame and register
// pressure. Left to LLVM on ARM, which inlines it into `boot` there: 16 B smaller.
#[cfg_attr(not(target_arch = "arm"), inline(never))]
fn clear_upper_and_work(log: &mut Logger, overlay: BorrowedFd<'_>) -> Result<(), Failed> {
    // Deleting, now or in the background, never leaves this filesystem.
    let device = initramfs_overlay::stat(overlay, c".", AtFlags::empty())
        .map_err(|e| log.fail_path(cannot!("stat "), paths::OVERLAY, Some(e)))?
        .st_dev as u32;
    if move_to_trash(log, overlay)? {
        empty_trash_in_background(log, overlay, device);
    } else {
        clear_in_place(log, overlay, device)?;
    }
    Ok(())
}

/// What is moved into `trash/` is named from inside the overlay partition, as `trash/<inode>`.
const TRASH_PREFIX: &[u8] = b"trash/";

/// Moves `upper` and `work` into `trash/`; `false` when the partition is too full for that.
#[optimize(size)]
fn move_to_trash(log: &mut Logger, overlay: BorrowedFd<'_>) -> Result<bool, Failed> {
    // One literal for the call and the message: a C string, whose bytes are the message's too.
    let trash_dir = OVERLAY_FOLDERS[0];
    match files::ensure_dir(overlay, trash_dir) {
        Ok(()) => {}
        Err(Errno::NOSPC) => return Ok(false),
        Err(e) => return Err(log.fail_path(cannot!("create directory "), trash_dir, Some(e))),
    }
    for &name in &OVERLAY_FOLDERS[1..3] {
        let name = name.as_c_str();
        // The inode number is unique on this filesystem while the folder exists: a free trash name.
        let moved =
            initramfs_overlay::stat(overlay, name, AtFlags::SYMLINK_NOFOLLOW).and_then(|stat| {
                let trash_name = numbered(TRASH_PREFIX, stat.st_ino);
                rustix::fs::renameat(overlay, name, overlay, trash_name.as_cstr())
            });
        // One message for the stat and the rename: either way the folder could not go to the trash.
        match moved {
            // No such folder (a first boot, say): nothing to clear.
            Ok(()) | Err(Errno::NOENT) => {}
            Err(Errno::NOSPC) => return Ok(false),
            Err(e) => return Err(log.fail_path(cannot!("move to trash: "), name, Some(e))),
        }
    }
    Ok(true)
}

/// A full partition has no room for `trash` or for a new, empty `upper`: delete the old contents now
/// (time per file, but it frees the space), so that a disk filled up by the last boot still boots.
#[optimize(size)]
fn clear_in_place(log: &mut Logger, overlay: BorrowedFd<'_>, device: u32) -> Result<(), Failed> {
    log.warn_bare(msg!("full; deleting the old upper and work now"));
    // `trash` first: whatever was already moved there frees room for a new `upper` or `work`.
    for &name in &OVERLAY_FOLDERS[..3] {
        match files::empty_dir_at(overlay, name.as_c_str(), device) {
            // No such folder: nothing to delete.
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(log.fail_path(cannot!("empty "), name, Some(e))),
        }
    }
    Ok(())
}

/// Forks a child that deletes the trash (on `device` only) and exits. It outlives the switch: the
/// real init reaps it. A failed fork only means the trash waits for the next boot.
#[optimize(size)]
fn empty_trash_in_background(log: &mut Logger, overlay: BorrowedFd<'_>, device: u32) {
    match sys::fork() {
        // The child.
        Ok(0) => {
            let code =
                files::empty_dir_at(overlay, OVERLAY_FOLDERS[0].as_c_str(), device).is_err() as i32;
            rustix::runtime_448b8ad740e2a26f::exit_group(code)
        }
        // The parent: the child's pid.
        Ok(_) => {}
        Err(e) => {
            log.fail_bare(
                cannot!("start the trash cleaner, trash stays until next boot"),
                Some(e),
            );
        }
    }
}

/// Mounts the new root on /mnt/root: overlayfs with `persistent` above the image, read-only unless
/// `rw`; or, with `iovl.no-overlay`, the image itself, read-only. One mount call for either.
#[optimize(size)]
pub fn assemble_root(log: &mut Logger, config: &Config) -> Result<(), Failed> {
    // lowerdir last, so that one constant holds all options up to the image: `persistent` above
    // the image, unless left out (then the constant is cut before it: a length chosen, one part
    // fewer to join). The kernel shows the options in its own order anyway.
    // `OPTIONS` ends with `PERSISTENT` by construction, so the cut can only drop that layer.
    macro_rules! persistent {
        () => {
            "/run/initramfs-overlay/overlay/persistent:"
        };
    }
    const PERSISTENT: &[u8] = persistent!().as_bytes();
    const OPTIONS: &[u8] = concat!(
        "upperdir=/run/initramfs-overlay/overlay/upper,",
        "workdir=/run/initramfs-overlay/overlay/work,",
        "lowerdir=",
        persistent!()
    )
    .as_bytes();
    let len = if config.no_persistent {
        OPTIONS.len() - PERSISTENT.len()
    } else {
        OPTIONS.len()
    };
    // Our own constants, well within a CPath: the lossy join is exact.
    let options = CPath::lossy(&[
        OPTIONS.get(..len).unwrap_or_default(),
        paths::LOWER.to_bytes(),
    ]);
    let overlay = !config.no_overlay;
    let (source, fstype, flags, data) = if overlay {
        let flags = if config.rw {
            MountFlags::empty()
        } else {
            MountFlags::RDONLY
        };
        (c"overlay", c"overlay", flags, options.as_cstr())
    } else {
        // A bind mount has no filesystem type of its own: the kernel ignores the one given.
        (paths::LOWER, c"", MountFlags::BIND, c"")
    };
    mount_reporting(log, source, paths::ROOT, fstype, flags, data).map_err(|e| {
        // ENODEV: the kernel has no overlayfs, which is a packaging problem worth naming. (The
        // line ends with the modules folder as `modules` names it, given as the subject.)
        if overlay && e == Errno::NODEV {
            log.fail_path(
                msg!("no overlayfs in this kernel: bundle overlay.ko, or ship it in the image's "),
                crate::modules::LIB_MODULES,
                None,
            );
        }
        Failed
    })?;
    // When overlayfs cannot create its work folder (a partition filled by `persistent`) it mounts
    // read-only and says so only in the kernel log: a boot asked to be writeable must say it is not.
    if overlay && config.rw {
        // We are root, so a write check fails only with EROFS, when the mount is read-only.
        let read_only =
            rustix::fs::access(paths::ROOT, rustix::fs::Access::WRITE_OK) == Err(Errno::ROFS);
        if read_only {
            log.warn_bare(msg!(
                "read-only despite rw: overlayfs found no room for work (overlay partition full)"
            ));
        }
    }
    Ok(())
}

/// Enters the new root (it is the current folder from here on) and refuses to switch to an init that
/// does not exist or cannot run: after the switch the initramfs is gone, so this is the last moment a
/// clear message (or the debug shell) can help. `init` is `config.init` as a path, which `switch_root`
/// executes.
#[optimize(size)]
pub fn check_init(log: &mut Logger, config: &Config, init: &CPath) -> Result<(), Failed> {
    // The new root becomes the current folder: the init is looked up inside it, and the steps after
    // this one (`move_into_root`, `switch_root`) work from it.
    rustix::process::chdir(paths::ROOT)
        .map_err(|e| log.fail_path(cannot!("enter "), paths::ROOT, Some(e)))?;
    // Resolve inside the new root, so absolute symlinks like /sbin/init -> /lib/systemd/systemd work.
    // A path that does not go in whole is one too long (the kernel's command line holds no NUL):
    // told as the kernel tells a name too long, by the one failure message of the lookup.
    let found = match init.whole() {
        Some(init) => sys::open_path_in_root(CWD, init.as_cstr()),
        None => Err(Errno::NAMETOOLONG),
    };
    // What is wrong with it, told in one place below.
    let (what, errno) = match found {
        Err(Errno::NOSYS) => return Ok(()), // kernels before 5.6: exec will tell
        Err(e) => (cannot!("find init "), e),
        Ok(file) => match initramfs_overlay::fstat(file.as_fd()) {
            Err(e) => (cannot!("stat "), e),
            Ok(stat)
                if initramfs_overlay::is_type(stat.st_mode, linux_raw_sys::general::S_IFREG)
                    && stat.st_mode & 0o111 != 0 =>
            {
                return Ok(());
            }
            Ok(_) => (msg!("init is not an executable file: "), Errno::ACCESS),
        },
    };
    Err(log.fail(what, config.init, Some(errno)))
}

/// Moves /dev, /proc, /sys and the hand-over /run into the new root (the current folder, see
/// `check_init`), where the OS expects them.
#[optimize(size)]
pub fn move_into_root(log: &mut Logger) -> Result<(), Failed> {
    // Give the OS the kernel's default rate limit on /dev/kmsg back (see `kernel_filesystems`).
    // Before /proc moves: the path is the initramfs's /proc.
    set_devkmsg(b"ratelimit\n");
    // From inside the new root (the current folder since `check_init`), the same folder there is the
    // path without its leading `/`.
    // All but /mnt, which holds the new root itself.
    for &from in &MOUNT_POINTS[..4] {
        let from = from.as_c_str();
        match rustix::mount::mount_move(from, &from[1..]) {
            // An image without one of these folders can still boot; its init will say what it misses.
            Err(Errno::NOENT) => log.warn(
                msg!("not moved, the image has no mount point for "),
                from.to_bytes(),
            ),
            Err(e) => {
                return Err(log.fail_path(cannot!("move into the new root: "), from, Some(e)));
            }
            Ok(()) => {}
        }
    }
    Ok(())
}

/// Makes /mnt/root the root and executes the real init with the kernel's arguments and environment.
/// pivot_root(2) refuses the initramfs rootfs (EINVAL), so, like klibc's run-init and systemd, we then
/// free the initramfs (without crossing into mounts, and only if it is ramfs/tmpfs), move the new root
/// onto / and chroot into it. Kernels with a pivotable root take the first path.
#[optimize(size)]
pub fn switch_root(log: &mut Logger, init: &CPath, start: &Start) -> Result<(), Failed> {
    // The current folder is the new root: `check_init` went there.
    if rustix::process::pivot_root(c".", c".").is_ok() {
        // The old root is stacked under the new one; detach it.
        let _ = rustix::mount::unmount(c".", UnmountFlags::DETACH);
    } else {
        free_initramfs(log)?;
        rustix::mount::mount_move(c".", c"/")
            .map_err(|e| log.fail_bare(cannot!("move the new root onto /"), Some(e)))?;
    }
    // Into the new root, and to its top (chroot leaves the current folder where it is).
    rustix::process::chroot(c".")
        .and_then(|()| rustix::process::chdir(c"/"))
        .map_err(|e| log.fail_bare(cannot!("chroot"), Some(e)))?;
    exec_init(log, init, start)
}

/// Deletes the initramfs files to give their memory back, refusing anything but ramfs/tmpfs so a
/// mistake can never delete a real disk.
#[optimize(size)]
fn free_initramfs(log: &mut Logger) -> Result<(), Failed> {
    // Its filesystem type and device, with one message: stat calls on / do not fail on a working
    // kernel. `/` is our root, still the initramfs: the same folder for these checks and the delete.
    let (magic, device) = rustix::fs::statfs(c"/")
        .and_then(|fs| {
            initramfs_overlay::stat(CWD, c"/", AtFlags::empty())
                .map(|st| (fs.f_type as u32, st.st_dev as u32))
        })
        .map_err(|e| log.fail_bare(cannot!("stat /"), Some(e)))?;
    if magic != linux_raw_sys::general::RAMFS_MAGIC && magic != linux_raw_sys::general::TMPFS_MAGIC
    {
        return Err(log.fail_bare(msg!("/ is not the initramfs (not ramfs or tmpfs)"), None));
    }
    // Mount points (such as /mnt/root) stay behind and keep their folders: that is expected.
    let _ = files::empty_dir_at(CWD, c"/", device);
    Ok(())
}

/// Executes `init=` with argv[0] set to its path and the arguments and environment the kernel gave us.
#[optimize(size)]
fn exec_init(log: &mut Logger, init: &CPath, start: &Start) -> Result<(), Failed> {
    // `check_init`, which always runs first, refused a path with a NUL or too long: it is whole.
    let errno = start.exec(init.as_cstr());
    Err(log.fail_path(cannot!("execute "), init.as_cstr(), Some(errno)))
}
