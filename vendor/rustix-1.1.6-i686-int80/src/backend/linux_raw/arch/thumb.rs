//! arm Linux system calls, using thumb-mode.
//!
//! In thumb-mode, r7 is the frame pointer and is not permitted to be used in
//! an inline asm operand, so the inline asm pushes r7, sets the syscall
//! number in it and pops it back (patched: upstream copies r7 to a spare
//! register instead, and moves the number from a register operand; see
//! PATCHES.md items 3 and 7).

use crate::backend::reg::{ArgReg, FromAsm, RetReg, ToAsm as _, A0, A1, A2, A3, A4, A5, R0};
use core::arch::asm;

/// Sets r7 to the syscall number `{nr}`, a `const` operand (patched, see PATCHES.md item 7: upstream
/// moves it from a register operand, which LLVM first had to load the number into). Thumb-1 `movs`
/// takes 0..=255; larger numbers take one more instruction up to 510, two more up to 65535. A larger
/// one (ARM's private syscalls, `0xF0000 + n`) fails to assemble (`movs` takes no immediate above
/// 255), rather than setting a wrong number. (Not checked with an `.error` branch: LLVM sizes an asm
/// block by its lines, and the longer text alone cost 8 bytes of ARM branches.) These instructions
/// set the flags, so the asm blocks no longer say `preserves_flags`.
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

#[inline]
pub(in crate::backend) unsafe fn syscall0_readonly<const NR: u32>() -> RetReg<R0> {
    let r0;
    asm!(
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
        lateout("r0") r0,
        options(readonly)
    );
    FromAsm::from_asm(r0)
}

#[inline]
pub(in crate::backend) unsafe fn syscall1<const NR: u32>(a0: ArgReg<'_, A0>) -> RetReg<R0> {
    let r0;
    asm!(
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
        "push {{r7}}",
        load_nr!(),
        "svc 0",
        "pop {{r7}}",
        nr = const NR,
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
