//! arm Linux system calls, using thumb-mode.
//!
//! In thumb-mode, r7 is the frame pointer and is not permitted to be used in
//! an inline asm operand, so something must save r7, set the syscall number in
//! it and restore it around each `svc`. Patched (see PATCHES.md items 3, 7 and
//! 8): upstream copies r7 to a spare register and moves the number from a
//! register operand at every syscall; here every syscall but the noreturn one
//! is a call to one shared routine, `rustix_svc_inline_nr`, with the number
//! stored right after the call.

use crate::backend::reg::{ArgReg, FromAsm, RetReg, ToAsm as _, A0, A1, A2, A3, A4, A5, R0};
use core::arch::asm;

/// Sets r7 to the syscall number `{nr}`, a `const` operand, for the noreturn syscall, which needs
/// not keep r7 (patched, see PATCHES.md item 7). Thumb-1 `movs` takes 0..=255; larger numbers take
/// one more instruction up to 510, two more up to 65535. A larger one (ARM's private syscalls,
/// `0xF0000 + n`) fails to assemble (`movs` takes no immediate above 255), rather than setting a
/// wrong number. These instructions set the flags, so the asm block does not say `preserves_flags`.
macro_rules! load_nr {
    () => {
        concat!(
            ".if {nr} < 256\n",
            "movs r7, #{nr}\n",
            ".elseif {nr} < 511\n",
            "movs r7, #255\n",
            "adds r7, #({nr} - 255)\n",
            ".else\n",
            "movs r7, #({nr} >> 8)\n",
            "lsls r7, r7, #8\n",
            "adds r7, #({nr} & 255)\n",
            ".endif",
        )
    };
}

/// The syscall `{nr}` (a `const` operand): a call to `rustix_svc_inline_nr` with the number as the
/// halfword after it (patched, see PATCHES.md item 8). 6 bytes at each syscall, where the inline
/// `push {r7}`, number and `svc` and `pop {r7}` took 8, or 10 for the numbers above 255 (openat,
/// fstatat64 and most other file calls). The asm block must also declare lr as overwritten
/// (`lateout("lr") _`), and must not say `preserves_flags`. A number above 65535 fails to assemble.
macro_rules! svc {
    () => {
        "bl rustix_svc_inline_nr\n.short {nr}"
    };
}

// The one copy of the syscall sequence that `svc!` calls: saves r7, loads the number from the
// halfword the call returns to (lr holds its address plus 1, the Thumb bit), makes the syscall,
// restores r7 and returns past the halfword. It writes only r0 (the kernel's result), lr and the
// flags, and reads r0-r6 only through the kernel. Module-level asm is assembled for the target's
// base architecture, so the block names the one it needs: ARMv6 (Thumb), as the ARM1176 runs.
// (A naked function instead fails to assemble in this crate: "target does not support Thumb mode".)
core::arch::global_asm!(
    ".pushsection .text.rustix_svc_inline_nr,\"ax\",%progbits",
    ".arch armv6",
    ".thumb",
    ".p2align 1",
    ".globl rustix_svc_inline_nr",
    ".hidden rustix_svc_inline_nr",
    ".type rustix_svc_inline_nr, %function",
    ".thumb_func",
    "rustix_svc_inline_nr:",
    "push {{r7}}",
    "mov r7, lr",
    "subs r7, #1",
    "ldrh r7, [r7]",
    "svc 0",
    "mov r7, lr",
    "adds r7, #2",
    "mov lr, r7",
    "pop {{r7}}",
    "bx lr",
    ".size rustix_svc_inline_nr, . - rustix_svc_inline_nr",
    ".popsection",
);

#[inline]
pub(in crate::backend) unsafe fn syscall0_readonly<const NR: u32>() -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        lateout("r0") r0,
        options(readonly)
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall1<const NR: u32>(a0: ArgReg<'_, A0>) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall1_readonly<const NR: u32>(
    a0: ArgReg<'_, A0>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        options(readonly)
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall1_noreturn<const NR: u32>(a0: ArgReg<'_, A0>) -> ! {
    asm!(
        load_nr!(),
        "svc 0",
        "udf #16",
        nr = const NR,
        in("r0") a0.to_asm(),
        options(nostack, noreturn)
    )
}

#[inline]
pub(in crate::backend) unsafe fn syscall2<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall2_readonly<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
        options(readonly)
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall3<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
        in("r2") a2.to_asm(),
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall3_readonly<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
        in("r2") a2.to_asm(),
        options(readonly)
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall4<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
        in("r2") a2.to_asm(),
        in("r3") a3.to_asm(),
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall4_readonly<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
        in("r2") a2.to_asm(),
        in("r3") a3.to_asm(),
        options(readonly)
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall5<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
    a4: ArgReg<'_, A4>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
        in("r2") a2.to_asm(),
        in("r3") a3.to_asm(),
        in("r4") a4.to_asm(),
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall5_readonly<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
    a4: ArgReg<'_, A4>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
        in("r2") a2.to_asm(),
        in("r3") a3.to_asm(),
        in("r4") a4.to_asm(),
        options(readonly)
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall6<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
    a4: ArgReg<'_, A4>,
    a5: ArgReg<'_, A5>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
        in("r2") a2.to_asm(),
        in("r3") a3.to_asm(),
        in("r4") a4.to_asm(),
        in("r5") a5.to_asm(),
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall6_readonly<const NR: u32>(
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
    a4: ArgReg<'_, A4>,
    a5: ArgReg<'_, A5>,
) -> RetReg<R0> {
    let r0;
    asm!(
        svc!(),
        nr = const NR,
        lateout("lr") _,
        inlateout("r0") a0.to_asm() => r0,
        in("r1") a1.to_asm(),
        in("r2") a2.to_asm(),
        in("r3") a3.to_asm(),
        in("r4") a4.to_asm(),
        in("r5") a5.to_asm(),
        options(readonly)
    );
    FromAsm::from_asm(r0)
}
