//! The raw syscall of 32-bit targets, for the calls whose rustix form costs more than it does:
//! `clock_gettime` (rustix parses the vDSO for it), `fstatat64` (see `filestat`), `fork` and
//! `nanosleep` (rustix tries the time64 call first, with a fallback). One asm block per arch, written
//! once: i686 and ARM both keep registers the kernel wants for arguments.
#![allow(unsafe_code)]

/// `syscall(nr, args[0], args[1], args[2], args[3])`: the kernel's return value, `-errno` on failure.
///
/// # Safety
/// `nr` with these arguments must be a syscall that touches only the memory its pointer arguments
/// allow, as the caller's own SAFETY note says.
pub unsafe fn syscall4(nr: u32, args: [usize; 4]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the syscall; the asm keeps every register the ABI asks it to keep.
    unsafe {
        // i686: arguments in ebx, ecx, edx, esi. LLVM reserves ebx and esi on i686 (they cannot be asm
        // operands), so they are saved and loaded from `args` inside.
        #[cfg(target_arch = "x86")]
        core::arch::asm!(
            "push ebx", "push esi", "mov ebx, [edi]", "mov ecx, [edi + 4]", "mov edx, [edi + 8]",
            "mov esi, [edi + 12]", "int 0x80", "pop esi", "pop ebx",
            in("edi") args.as_ptr(), inlateout("eax") nr as isize => ret, out("ecx") _, out("edx") _,
        );
        // ARM: arguments in r0-r3, the number in r7, which Thumb code keeps as its frame pointer:
        // swapped in and out.
        #[cfg(target_arch = "arm")]
        core::arch::asm!(
            "mov {saved}, r7", "mov r7, {nr}", "svc 0", "mov r7, {saved}",
            nr = in(reg) nr, saved = out(reg) _,
            inlateout("r0") args[0] as isize => ret, in("r1") args[1], in("r2") args[2], in("r3") args[3],
            options(nostack),
        );
    }
    ret
}
