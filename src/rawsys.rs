//! The raw syscall, for the calls whose rustix form costs more than it does: `clock_gettime`
//! (rustix parses the vDSO for it on 32-bit targets), `fstatat64` (see `filestat`), `openat` (see
//! `fd`), `fork` (rustix's is a clone that also stores the child's pid), `openat2` and the loop and
//! block-device ioctls (see the init's sys.rs) and `nanosleep` (every target; see the init's
//! `sys::sleep_ms`). One asm macro per arch, for none or two to four arguments:
//! i686 and ARM both keep registers the kernel wants for arguments.
//! Also i686's shared openat routine (`global_asm!`) and its 64-by-32-bit division,
//! `div_rem_by_div`: the library's other inline asm.
#![allow(unsafe_code)]

// x86_64: arguments in rdi, rsi, rdx, r10; the syscall instruction overwrites rcx and r11.
#[cfg(target_arch = "x86_64")]
macro_rules! arch_syscall {
    ($nr:expr; $($a0:expr, $a1:expr $(, $a2:expr $(, $a3:expr)?)?)?) => {{
        let ret: isize;
        core::arch::asm!(
            "syscall",
            inlateout("rax") $nr as isize => ret,
            $(in("rdi") $a0, in("rsi") $a1, $(in("rdx") $a2, $(in("r10") $a3,)?)?)?
            lateout("rcx") _, lateout("r11") _, options(nostack),
        );
        ret
    }};
}

// i686: arguments in ebx, ecx, edx, esi, all as operands (no array in memory): esi cannot be named
// as one (LLVM may keep its base pointer there), so a fourth is swapped in and out of it. `inout`,
// as in the patched rustix (vendor/…/PATCHES.md, item 2): an `in` register may be shared with
// another input of equal value, which the xchg would then clobber. When LLVM gives the fourth esi
// itself, the assembler's `.ifnc` leaves out both xchg (as in the patched rustix, item 6): no 4-byte
// `xchg esi, esi` pair.
// openat, made at 18 places when measured (`fd::open` is inlined), calls one shared copy of its
// number and `int 0x80` (`rawsys_openat`): a 5-byte call where `mov eax, 295` and `int 0x80` took 7.
// Where the folder is a constant AT_FDCWD (12 of the 18) the call enters 3 bytes earlier, where that
// routine sets ebx itself, and the caller sets no ebx. Either way the result is the same.
#[cfg(target_arch = "x86")]
macro_rules! arch_syscall {
    ($nr:expr;) => {{
        let ret: isize;
        core::arch::asm!("int 0x80", inlateout("eax") $nr as isize => ret, options(nostack));
        ret
    }};
    ($nr:expr; $a0:expr, $($a:expr),+) => {
        if $nr == linux_raw_sys::general::__NR_openat {
            let a0: usize = $a0;
            if core::intrinsics::is_val_statically_known(a0) && a0 == AT_FDCWD_ARG {
                x86_syscall!(ret; "call rawsys_openat_cwd", [lateout("eax") ret, out("ebx") _]; $($a),+)
            } else {
                x86_syscall!(ret; "call rawsys_openat", [lateout("eax") ret, in("ebx") a0]; $($a),+)
            }
        } else {
            x86_syscall!(
                ret; "int 0x80",
                [inlateout("eax") $nr as isize => ret, in("ebx") $a0, options(nostack)]; $($a),+
            )
        }
    };
}

/// AT_FDCWD as the syscall argument `fd_arg` makes of `rustix::fs::CWD`.
#[cfg(target_arch = "x86")]
const AT_FDCWD_ARG: usize = linux_raw_sys::general::AT_FDCWD as u32 as usize;

// i686: `int 0x80` (or `$op`, a call to a shared routine that makes it) with the arguments after the
// first in ecx, edx and esi; the number in eax and the first argument in ebx are in `$regs`.
#[cfg(target_arch = "x86")]
macro_rules! x86_syscall {
    ($ret:ident; $op:literal, [$($regs:tt)*]; $a1:expr) => {{
        let $ret: isize;
        core::arch::asm!($op, in("ecx") $a1, $($regs)*);
        $ret
    }};
    ($ret:ident; $op:literal, [$($regs:tt)*]; $a1:expr, $a2:expr) => {{
        let $ret: isize;
        core::arch::asm!($op, in("ecx") $a1, in("edx") $a2, $($regs)*);
        $ret
    }};
    ($ret:ident; $op:literal, [$($regs:tt)*]; $a1:expr, $a2:expr, $a3:expr) => {{
        let $ret: isize;
        core::arch::asm!(
            ".ifnc {a3},esi", "xchg esi, {a3}", ".endif", $op,
            ".ifnc {a3},esi", "xchg esi, {a3}", ".endif",
            a3 = inout(reg) $a3 => _, in("ecx") $a1, in("edx") $a2, $($regs)*
        );
        $ret
    }};
}

// i686: the shared openat (see `arch_syscall`). It writes only eax, and ebx when entered at
// `rawsys_openat_cwd`. No `nostack` at its calls: the call pushes the return address.
#[cfg(target_arch = "x86")]
core::arch::global_asm!(
    ".pushsection .text.rawsys_openat,\"ax\",@progbits",
    ".globl rawsys_openat_cwd",
    ".hidden rawsys_openat_cwd",
    ".type rawsys_openat_cwd, @function",
    ".globl rawsys_openat",
    ".hidden rawsys_openat",
    ".type rawsys_openat, @function",
    "rawsys_openat_cwd:",
    "push {cwd}",
    "pop ebx",
    "rawsys_openat:",
    "mov eax, {nr}",
    "int 0x80",
    "ret",
    ".size rawsys_openat_cwd, . - rawsys_openat_cwd",
    ".size rawsys_openat, . - rawsys_openat",
    ".popsection",
    nr = const linux_raw_sys::general::__NR_openat,
    cwd = const linux_raw_sys::general::AT_FDCWD,
);

// ARM: arguments in r0-r3, the number in r7, which Thumb code keeps as its frame pointer: through
// the patched rustix's one shared syscall routine, which saves r7, sets it to the number stored as
// the halfword after the call, and returns past it (PATCHES.md, item 8). The call overwrites lr.
// `openat`, made at 18 places when measured (`fd::open` is inlined), calls a routine of its own, with
// the number in its code: 4 bytes at each call, not 6, for one routine of 12 bytes (-24 B).
#[cfg(target_arch = "arm")]
macro_rules! arch_syscall {
    // No arguments: the routine and the kernel keep r1-r3 (only r0 and lr change).
    ($nr:expr;) => {{
        let ret: isize;
        core::arch::asm!(
            "bl rustix_svc_inline_nr", ".short {nr}",
            nr = const $nr,
            lateout("r0") ret, lateout("lr") _,
        );
        ret
    }};
    ($nr:expr; $a0:expr, $a1:expr $(, $a2:expr $(, $a3:expr)?)?) => {{
        let ret: isize;
        if $nr == linux_raw_sys::general::__NR_openat {
            core::arch::asm!(
                "bl init_svc_openat",
                inlateout("r0") $a0 as isize => ret, in("r1") $a1,
                $(in("r2") $a2, $(in("r3") $a3,)?)? lateout("lr") _,
            );
        } else {
            core::arch::asm!(
                "bl rustix_svc_inline_nr", ".short {nr}",
                nr = const $nr,
                inlateout("r0") $a0 as isize => ret, in("r1") $a1,
                $(in("r2") $a2, $(in("r3") $a3,)?)? lateout("lr") _,
            );
        }
        ret
    }};
}

// The `openat` routine: as the shared one, it keeps r7 and writes only r0 (the kernel's result)
// and the flags. Thumb-1 `movs` takes 0..=255, so the number is made in two steps.
#[cfg(target_arch = "arm")]
core::arch::global_asm!(
    ".pushsection .text.init_svc_openat,\"ax\",%progbits",
    ".arch armv6",
    ".thumb",
    ".p2align 1",
    ".type init_svc_openat, %function",
    ".thumb_func",
    "init_svc_openat:",
    "push {{r7}}",
    "movs r7, #255",
    "adds r7, #({nr} - 255)",
    "svc 0",
    "pop {{r7}}",
    "bx lr",
    ".size init_svc_openat, . - init_svc_openat",
    ".popsection",
    nr = const linux_raw_sys::general::__NR_openat,
);

/// `syscall(NR, args...)` with none, two, three or four arguments: the kernel's return value,
/// `-errno` on failure (`syscall_int` checks it). Each arm sets only the registers of the arguments
/// passed, so a syscall gets no register set for an argument it does not read: `fork` none (three
/// zeroed registers measured 16 / 4 / 8 B more), `clock_gettime` and `nanosleep` two (a zero third:
/// 0 / 4 / 8 B more), and on i686 a call of three no swap of esi. The number is a constant: ARM
/// stores it in the code after a call.
///
/// # Safety
/// `NR` with these arguments must be a syscall that touches only the memory its pointer arguments
/// allow, as the caller's own SAFETY note says.
pub unsafe fn syscall<const NR: u32, const N: usize>(args: [usize; N]) -> isize {
    const {
        assert!(
            N == 0 || N == 2 || N == 3 || N == 4,
            "a raw syscall takes none, two, three or four arguments"
        );
        // The shared openat routines (i686, ARM) read the flags from the third argument's register.
        assert!(
            NR != linux_raw_sys::general::__NR_openat || N >= 3,
            "openat takes three or four arguments"
        );
    };
    // The array's length is a constant: one arm is left.
    match *args.as_slice() {
        // SAFETY: as below.
        [] => unsafe { arch_syscall!(NR;) },
        // SAFETY: as below.
        [a0, a1] => unsafe { arch_syscall!(NR; a0, a1) },
        // SAFETY: the caller vouches for the syscall; the asm keeps every register the ABI asks it
        // to keep.
        [a0, a1, a2] => unsafe { arch_syscall!(NR; a0, a1, a2) },
        // SAFETY: as above.
        [a0, a1, a2, a3] => unsafe { arch_syscall!(NR; a0, a1, a2, a3) },
        _ => unreachable!(),
    }
}

/// `syscall` for a call that returns a C `int` (every one the init makes): its value, or the errno
/// of the `-errno` it returned on failure. One sign test of the int, not the -4095..-1 range (on ARM
/// a literal-pool word for -4095 and two compares), and the value it gives back is known to fit an
/// `i32`, so a descriptor made of it skips `OwnedFd`'s check for -1 on x86_64.
///
/// # Safety
/// As for `syscall`, for a syscall whose result is a C `int`.
#[inline(always)]
pub unsafe fn syscall_int<const NR: u32, const N: usize>(
    args: [usize; N],
) -> Result<u32, rustix::io::Errno> {
    // SAFETY: the caller vouches for the syscall.
    let ret = unsafe { syscall::<NR, N>(args) } as i32;
    if ret < 0 {
        // SAFETY: a syscall that returns an int and fails returns -errno, which Linux keeps in
        // -4095..-1. Told to the optimizer, this folds `Errno`'s own check of that range (a
        // compare and a trap; without this: +24 / +100 / +96 B).
        unsafe { core::hint::assert_unchecked(ret >= -4095) };
        return Err(rustix::io::Errno::from_raw_os_error(-ret));
    }
    Ok(ret as u32)
}

/// A descriptor as a syscall argument. Linux reads only its `int`, so it is zero-extended as rustix
/// passes one: on x86_64 a shorter instruction than the sign extension of `as usize`.
#[inline(always)]
pub fn fd_arg(fd: rustix::fd::BorrowedFd<'_>) -> usize {
    use rustix::fd::AsRawFd;
    fd.as_raw_fd() as u32 as usize
}

/// `n / d` and `n % d` for a nonzero `d` (i686's `numfmt::div_rem`; on x86_64 only for its unit
/// test): the high half by `d`, then the remainder and the low half by `d`. Each `div` divides
/// edx:eax by a 32-bit register; the remainder (edx) is below `d`, so neither quotient overflows
/// 32 bits, and only `d` = 0 would fault (#DE), which no caller passes. `d` is an `inout`: an `in`
/// register may be shared with another input of equal value, eax here, which the first `div`
/// overwrites (as in the patched rustix, vendor/…/PATCHES.md, item 2).
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[inline(always)]
pub fn div_rem_by_div(n: u64, d: u32) -> (u64, u32) {
    let (high, low, rem): (u32, u32, u32);
    // SAFETY: two divisions of registers: the asm touches no memory and no register but its operands
    // and the flags.
    unsafe {
        core::arch::asm!(
            "div {d:e}", "xchg eax, {t:e}", "div {d:e}",
            d = inout(reg) d => _, t = inout(reg) n as u32 => high,
            inout("eax") (n >> 32) as u32 => low, inout("edx") 0u32 => rem,
            options(pure, nomem, nostack),
        );
    }
    ((u64::from(high) << 32) | u64::from(low), rem)
}
