//! The memory functions the compiler calls (`memcpy`, `memset`, `bcmp` (`memcmp` on i686), `strlen`),
//! written out per arch. compiler_builtins' portable versions are word-at-a-time loops: 0.3 to
//! 0.6 KB, more than the rest of a syscall wrapper, for copies that here are a few hundred bytes at
//! most (paths, log lines, headers). Big data never passes through them: images are hashed in place
//! and copied by the kernel (sendfile). So each is the shortest correct loop, and unsafe only because
//! it is raw asm on raw pointers. The x86 string instructions count up: the ABIs guarantee the
//! direction flag is clear on entry.
//!
//! These four are what the link asks for without compiler_builtins' `mem` feature (x86 inlines its
//! memsets today, but another opt-level calls it); an unused one is dropped by `--gc-sections`.
//! ARM also gets its 64-bit multiply here (`__aeabi_lmul`, at the end), in place of
//! compiler_builtins' weak one.

// x86_64, System V: dst rdi, src rsi, n rdx; result rax.
#[cfg(target_arch = "x86_64")]
mod arch {
    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        core::arch::naked_asm!("mov rax, rdi", "mov rcx, rdx", "rep movsb", "ret")
    }

    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memset(dst: *mut u8, byte: i32, n: usize) -> *mut u8 {
        core::arch::naked_asm!(
            "mov r8, rdi",
            "mov eax, esi",
            "mov rcx, rdx",
            "rep stosb",
            "mov rax, r8",
            "ret"
        )
    }

    /// Nonzero when the two ranges differ; the sign carries no meaning (unlike memcmp).
    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // With n = 0 the compare does not run and ZF stays set from the xor: equal.
        core::arch::naked_asm!(
            "mov rcx, rdx",
            "xor eax, eax",
            "repe cmpsb",
            "setne al",
            "ret"
        )
    }

    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn strlen(s: *const u8) -> usize {
        // Scan for the NUL with rcx counting down from -1: it ends at -(len + 2).
        core::arch::naked_asm!(
            "xor eax, eax",
            "or rcx, -1",
            "repne scasb",
            "not rcx",
            "lea rax, [rcx - 1]",
            "ret"
        )
    }
}

// i686, cdecl: arguments on the stack above the return address; edi and esi must be preserved.
#[cfg(target_arch = "x86")]
mod arch {
    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        core::arch::naked_asm!(
            "push edi",
            "push esi",
            "mov edi, [esp + 12]",
            "mov esi, [esp + 16]",
            "mov ecx, [esp + 20]",
            "mov eax, edi",
            "rep movsb",
            "pop esi",
            "pop edi",
            "ret"
        )
    }

    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memset(dst: *mut u8, byte: i32, n: usize) -> *mut u8 {
        core::arch::naked_asm!(
            "push edi",
            "mov edi, [esp + 8]",
            "mov eax, [esp + 12]",
            "mov ecx, [esp + 16]",
            "rep stosb",
            "mov eax, [esp + 8]",
            "pop edi",
            "ret"
        )
    }

    /// memcmp, not bcmp: the i686 init's LLVM triple names no OS (see .cargo/config.toml), and LLVM
    /// calls bcmp only where it knows the C library has one. Negative, zero or positive as the first
    /// differing byte of `a` is below, equal to or above that of `b`.
    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // With n = 0 the compare does not run and the flags stay those of the xor: equal. Otherwise
        // they are those of the last bytes compared: `seta` makes 1 for above, and the borrow of
        // below subtracts 1 from 0.
        core::arch::naked_asm!(
            "push edi",
            "push esi",
            "mov esi, [esp + 12]",
            "mov edi, [esp + 16]",
            "mov ecx, [esp + 20]",
            "xor eax, eax",
            "repe cmpsb",
            "seta al",
            "sbb eax, 0",
            "pop esi",
            "pop edi",
            "ret"
        )
    }

    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn strlen(s: *const u8) -> usize {
        // Scan for the NUL with ecx counting down from -1: it ends at -(len + 2).
        core::arch::naked_asm!(
            "push edi",
            "mov edi, [esp + 8]",
            "xor eax, eax",
            "or ecx, -1",
            "repne scasb",
            "not ecx",
            "lea eax, [ecx - 1]",
            "pop edi",
            "ret"
        )
    }
}

// ARM, AAPCS: r0-r3 are arguments and scratch; the result is in r0. Thumb-1 instructions that also
// assemble as ARM, like `_start`. The loops run from the end down, so the count is also the index.
#[cfg(target_arch = "arm")]
mod arch {
    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        core::arch::naked_asm!(
            "1:",
            "subs r2, r2, #1",
            "bcc 2f",
            "ldrb r3, [r1, r2]",
            "strb r3, [r0, r2]",
            "b 1b",
            "2:",
            "bx lr"
        )
    }

    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memset(dst: *mut u8, byte: i32, n: usize) -> *mut u8 {
        core::arch::naked_asm!(
            "1:",
            "subs r2, r2, #1",
            "bcc 2f",
            "strb r1, [r0, r2]",
            "b 1b",
            "2:",
            "bx lr"
        )
    }

    /// Nonzero when the two ranges differ; the sign carries no meaning (unlike memcmp).
    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // The result is index + 1: 0 when the count ran out (index -1), else where they differ + 1.
        core::arch::naked_asm!(
            "push {{r4}}",
            "1:",
            "subs r2, r2, #1",
            "bcc 2f",
            "ldrb r3, [r0, r2]",
            "ldrb r4, [r1, r2]",
            "cmp r3, r4",
            "beq 1b",
            "2:",
            "adds r0, r2, #1",
            "pop {{r4}}",
            "bx lr"
        )
    }

    #[unsafe(naked)]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn strlen(s: *const u8) -> usize {
        core::arch::naked_asm!(
            "subs r1, r0, #1",
            "1:",
            "adds r1, r1, #1",
            "ldrb r2, [r1]",
            "cmp r2, #0",
            "bne 1b",
            "subs r0, r1, r0",
            "bx lr"
        )
    }

    // `__aeabi_lmul`, the 64-bit multiply LLVM calls for every u64 `*` (Thumb-1 multiplies only 32 by
    // 32 bits): compiler_builtins' weak one is 84 B of 16-bit partial products. The ARM1176 has
    // UMULL in ARM state, so this one is five ARM instructions, and lld turns each Thumb `bl` to it
    // into a `blx`, as it did for compiler_builtins' (ARM code too). a is r1:r0, b r3:r2, the low 64
    // bits of the product r1:r0, the same for signed and unsigned.
    core::arch::global_asm!(
        ".pushsection .text.__aeabi_lmul, \"ax\", %progbits",
        ".balign 4",
        ".arm",
        ".global __aeabi_lmul",
        ".type __aeabi_lmul, %function",
        "__aeabi_lmul:",
        // The high word's cross terms, a.lo * b.hi + a.hi * b.lo, each only in its low 32 bits.
        "mul r3, r0, r3",
        "mla r3, r2, r1, r3",
        // a.lo * b.lo in full, then the cross terms added to its high word.
        "umull r0, r1, r2, r0",
        "add r1, r1, r3",
        "bx lr",
        ".size __aeabi_lmul, . - __aeabi_lmul",
        ".popsection",
    );
}
