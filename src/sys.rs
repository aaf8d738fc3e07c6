//! The syscalls rustix does not wrap safely, or not compactly: fork, execve, openat2 and the loop
//! and block-device ioctls (loop-control, loop devices, sector size); and the descriptors kept for
//! the whole boot (the console, /dev/kmsg for the logger). Every unsafe block of the boot lives
//! here (plus the stack split in `entry`), each with its reason. Open files are the library's `Fd`
//! (see `initramfs_overlay::fd`), shared with `update`.

use core::ffi::c_void;
use core::sync::atomic::AtomicI32;
use core::sync::atomic::Ordering::Relaxed;
pub use initramfs_overlay::fd::{Fd, open, open_read};
use initramfs_overlay::rawsys::{fd_arg, syscall, syscall_int};
use linux_raw_sys::general::{__NR_clock_gettime, __NR_fork, __NR_ioctl, __NR_openat2};
use linux_raw_sys::loop_device::{
    LO_FLAGS_AUTOCLEAR, LO_FLAGS_READ_ONLY, LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_CTL_GET_FREE,
    LOOP_SET_FD, LOOP_SET_STATUS64, loop_config,
};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd};
use rustix::io::Errno;

/// Milliseconds on the monotonic clock (since boot), for the step timeline and wait bounds, cut to
/// 32 bits: every user takes differences, which wrap right for any span under 49 days, and a 32-bit
/// product is one multiply on 32-bit targets (a 64-bit one is a call on ARM, with no widening multiply
/// in Thumb-1). A raw clock_gettime syscall: rustix would go through the vDSO, whose ELF parser costs
/// ~1.5 KB.
#[inline(never)]
pub fn now_ms() -> u32 {
    // [seconds, nanoseconds] as the kernel's native `timespec` (two longs). Zeroed first, not left
    // uninitialised: on 32-bit targets this is the 32-bit-time syscall, which a kernel built without
    // CONFIG_COMPAT_32BIT_TIME lacks (ENOSYS, nothing written).
    #[cfg(not(target_arch = "x86"))]
    let mut ts = [0isize; 2];
    // i686: a third long, unused. Two zeroed longs are one 8-byte store, for which LLVM aligns the
    // slot to 8 bytes: a realigned frame, 8 B more than the third store.
    #[cfg(target_arch = "x86")]
    let mut ts = [0isize; 3];
    // SAFETY: clock_gettime(CLOCK_MONOTONIC, ts) writes at most one native timespec to `ts`, two
    // writable longs; it touches no other memory.
    unsafe {
        syscall::<__NR_clock_gettime, _>([1, ts.as_mut_ptr() as usize]);
    }
    let [sec, nsec, ..] = ts;
    // nsec is below 10^9, so a native long divides it. Not on ARM: Thumb-1 has no divide instruction,
    // and this was the last `/` that linked compiler_builtins' division routine (0.14 KB). There the
    // shared bitwise `div_rem` does it.
    #[cfg(not(target_arch = "arm"))]
    let ms = (nsec as usize / 1_000_000) as u32;
    #[cfg(target_arch = "arm")]
    let ms = initramfs_overlay::numfmt::div_rem(nsec as u64, 1_000_000).0 as u32;
    (sec as u32).wrapping_mul(1000).wrapping_add(ms)
}

/// Sleeps for `ms` milliseconds: a raw nanosleep with the kernel's native `timespec` on every target
/// (rustix's own call would, on 32-bit ones, try clock_nanosleep_time64 first and carry a fallback
/// for older kernels: more code for the same sleep).
#[inline(never)]
pub fn sleep_ms(ms: u64) {
    use linux_raw_sys::general::__NR_nanosleep;
    let (sec, rest) = initramfs_overlay::numfmt::div_rem(ms, 1000);
    // [seconds, nanoseconds]. Seconds beyond a native long (68 years on 32-bit targets) are cut to
    // its largest: as endless a wait as the one asked for.
    let ts = [
        isize::try_from(sec).unwrap_or(isize::MAX),
        rest as isize * 1_000_000,
    ];
    // SAFETY: nanosleep(ts, NULL) reads one native timespec from `ts`, two longs that outlive the
    // call, and writes nothing (no remainder is asked for).
    unsafe {
        syscall::<__NR_nanosleep, _>([ts.as_ptr() as usize, 0]);
    }
}

/// `fork()`: the child's pid in the parent, 0 in the child, as the kernel returns it. The plain fork
/// syscall: rustix's `kernel_fork` makes a clone that also stores the child's pid for the child, and
/// converts it. The number as it is, not an `Option<Pid>`: that packed result was unpacked again at
/// the caller (x86_64: -8 B).
pub fn fork() -> Result<u32, Errno> {
    // SAFETY: fork touches none of our memory; the init is single-threaded and holds no locks, so the
    // child (a copy of this process) may run any code.
    unsafe { syscall_int::<__NR_fork, 0>([]) }
}

/// `openat2(dir, path, O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT)`: `path` looked up as if `dir` were the
/// root, so that absolute symlinks stay inside it. The raw syscall, as `fork`: rustix's `openat2`
/// hands its result back packed with the errno, and unpacking it cost 72 bytes more on x86_64 (on
/// i686 and ARM this is 4 and 8 bytes larger: smaller over the three).
pub fn open_path_in_root(dir: BorrowedFd<'_>, path: &core::ffi::CStr) -> Result<Fd, Errno> {
    use linux_raw_sys::general::{O_CLOEXEC, O_PATH, RESOLVE_IN_ROOT, open_how};
    // A constant in .rodata: no stores to build it on the stack.
    static HOW: open_how = open_how {
        flags: O_PATH as u64 | O_CLOEXEC as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT as u64,
    };
    // SAFETY: openat2 reads the NUL-terminated `path`, alive across the call, and the static `HOW` of
    // the size given, and writes no memory of ours.
    let fd = unsafe {
        syscall_int::<__NR_openat2, _>([
            fd_arg(dir),
            path.as_ptr() as usize,
            (&raw const HOW) as usize,
            core::mem::size_of::<open_how>(),
        ])
    }?;
    // SAFETY: openat2 returned a new descriptor: open, and ours alone.
    Ok(unsafe { Fd::from_new(fd) })
}

/// `execve(path, [path], [])`: the debug shell, with no arguments and an empty environment (the real
/// init goes through `Start::exec` with the kernel's own arrays). Returns only on failure.
#[cfg(feature = "debug-shell")]
pub fn exec(path: &core::ffi::CStr) -> Errno {
    let argv = [path.as_ptr().cast::<u8>(), core::ptr::null()];
    // SAFETY: `argv` holds a pointer to the NUL-terminated `path`, which outlives the call, and ends in
    // NULL; a NULL envp is an empty environment to Linux.
    unsafe { rustix::runtime_448b8ad740e2a26f::execve(path, argv.as_ptr(), core::ptr::null()) }
}

/// A loop or block-device ioctl whose argument is a pointer or a plain integer, returning the
/// syscall's value (LOOP_CTL_GET_FREE returns the device number). The raw syscall, as `fork`:
/// rustix's `ioctl` packs its result with the errno, and unpacking that at each of the loop device's
/// four calls cost more. Inlined: on 32-bit targets its 8-byte `Result` would come back through
/// memory (as `files::open_dir`), and on x86_64 the call and its result checks cost 32 B more than
/// the four syscalls.
#[inline(always)]
fn ioctl(fd: BorrowedFd<'_>, opcode: u32, arg: *mut c_void) -> Result<u32, Errno> {
    // SAFETY: each caller pairs the opcode with its documented argument: a plain integer, or a pointer
    // to a `repr(C)` kernel ABI struct that lives across the call; the ioctl touches no other memory.
    unsafe { syscall_int::<__NR_ioctl, _>([fd_arg(fd), opcode as usize, arg as usize]) }
}

/// BLKSSZGET: the logical sector size of the block device `disk` in bytes (4096 on a "4Kn" disk),
/// 512 if the kernel does not say.
pub fn logical_sector_size(disk: BorrowedFd<'_>) -> usize {
    let mut size: u32 = 512;
    // The kernel writes an int through the pointer, or leaves `size` as it is on failure.
    let _ = ioctl(
        disk,
        linux_raw_sys::ioctl::BLKSSZGET,
        (&raw mut size).cast(),
    );
    size as usize
}

/// LOOP_CTL_GET_FREE: the number of a free loop device, creating one when needed.
pub fn loop_get_free(control: BorrowedFd<'_>) -> Result<u32, Errno> {
    ioctl(control, LOOP_CTL_GET_FREE, core::ptr::null_mut())
}

const READ_ONLY_AUTOCLEAR: u32 = LO_FLAGS_READ_ONLY as u32 | LO_FLAGS_AUTOCLEAR as u32;

/// Binds `file` to the loop device read-only, cleared automatically when its last user goes away.
/// LOOP_CONFIGURE (5.8+) does it in one call. Older kernels reject it, with EINVAL (or ENOTTY for a
/// 32-bit init on a 64-bit kernel, through the compat ioctl path), and get the LOOP_SET_FD +
/// LOOP_SET_STATUS64 pair. There the device is read-only because `device` and `file` were opened
/// read-only (SET_STATUS64 cannot set that flag); SET_STATUS64 adds autoclear.
pub fn loop_attach(device: BorrowedFd<'_>, file: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: all-zero is a valid value of these plain-integer kernel structs.
    let mut config: loop_config = unsafe { core::mem::zeroed() };
    config.fd = file.as_raw_fd() as u32;
    config.info.lo_flags = READ_ONLY_AUTOCLEAR;
    match ioctl(device, LOOP_CONFIGURE, (&raw mut config).cast()) {
        Err(Errno::INVAL | Errno::NOTTY) => {}
        other => return other.map(drop),
    }
    ioctl(device, LOOP_SET_FD, fd_arg(file) as *mut c_void)?;
    // The same status as for LOOP_CONFIGURE, read in place (the kernel does not write it back).
    ioctl(device, LOOP_SET_STATUS64, (&raw mut config.info).cast())
        .map(drop)
        .inspect_err(|_| {
            // Without autoclear nothing would ever release the device: unbind it now. Its result
            // is not read: nothing more could be done if it failed.
            let _ = ioctl(device, LOOP_CLR_FD, core::ptr::null_mut());
        })
}

/// fd 2, which is /dev/console for init (see `mounts::kernel_filesystems`).
pub fn console() -> BorrowedFd<'static> {
    // SAFETY: the init never closes fds 0-2, so fd 2 stays valid (open or not) for the whole process;
    // writes to a closed fd just fail with EBADF.
    unsafe { rustix::stdio::stderr() }
}

/// /dev/kmsg once `open_kmsg` opened it, -1 before (or when it cannot be opened).
static KMSG: AtomicI32 = AtomicI32::new(-1);

/// Opens /dev/kmsg for the logger, for the rest of the boot (it closes when the real init is
/// executed: O_CLOEXEC).
pub fn open_kmsg() {
    if let Ok(fd) = open(
        rustix::fs::CWD,
        c"/dev/kmsg",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        KMSG.store(fd.as_fd().as_raw_fd(), Relaxed);
        // Never closed: `kmsg` lends it from now on.
        core::mem::forget(fd);
    }
}

/// /dev/kmsg, once `open_kmsg` opened it.
pub fn kmsg() -> Option<BorrowedFd<'static>> {
    let fd = KMSG.load(Relaxed);
    // SAFETY: a descriptor in KMSG is the one `open_kmsg` opened and forgot without closing: it stays
    // open for the whole process.
    (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
}
