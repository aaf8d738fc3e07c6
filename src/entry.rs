//! The process entry: the only place that touches the raw initial stack. Unsafe by nature, so it is
//! kept to the few lines that split the stack into argc, argv and envp, and that pass them on.

use core::ffi::CStr;
use rustix::io::Errno;

/// What the kernel handed to /init: its arguments and environment, to pass on to the real init.
pub struct Start {
    argv: *const *const u8,
    envp: *const *const u8,
}

impl Start {
    /// `execve(path, argv, envp)` with the arguments and environment the kernel gave us and `path`
    /// as argv[0]: the kernel's own argv array, its first slot pointed at `path`, so nothing is
    /// copied. Returns only on failure.
    pub fn exec(&self, path: &CStr) -> Errno {
        let argv = self.argv.cast_mut();
        // SAFETY: `argv` is the kernel's NULL-terminated argv array on our own, writable initial
        // stack, and argv[0] is a slot of it: the kernel names init there (were argc 0, it would be
        // the NULL, and the NULL-terminated envp right behind it would still end the array). `path`
        // is NUL-terminated and outlives the call; execve copies all it reads.
        unsafe {
            *argv = path.as_ptr().cast();
            rustix::runtime_448b8ad740e2a26f::execve(path, argv, self.envp)
        }
    }
}

// The kernel starts us with the stack pointer at argc. Re-align it (16 bytes on x86_64, 8 on ARM, as
// the ABIs require for calls; i686 keeps the 4 it has, all its target asks, see .cargo/config.toml)
// and pass the original pointer to `start`.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!("xor ebp, ebp", "mov rdi, rsp", "and rsp, -16", "call {start}", "ud2", start = sym start)
}

#[cfg(target_arch = "x86")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
unsafe extern "C" fn _start() -> ! {
    // `push esp` pushes the value esp had before it: the pointer to argc, as `start`'s argument.
    core::arch::naked_asm!("xor ebp, ebp", "push esp", "call {start}", "ud2", start = sym start)
}

// Thumb-1 instructions, which also assemble as ARM: the init is Thumb code, so `_start` is odd and the
// kernel enters it in Thumb state.
#[cfg(target_arch = "arm")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "mov r0, sp", "lsrs r1, r0, #3", "lsls r1, r1, #3", "mov sp, r1", "bl {start}", "udf #0",
        start = sym start
    )
}

/// Splits the initial stack (`argc`, `argv[argc]`, NULL, `envp[]`, NULL, auxv) and runs the boot.
unsafe extern "C" fn start(stack: *const usize) -> ! {
    // SAFETY: `stack` points at argc, followed by the argv pointers, a NULL and the envp pointers, as
    // the ELF ABI for a new process guarantees.
    let start = unsafe {
        let argc = *stack;
        let argv = stack.add(1).cast::<*const u8>();
        Start {
            argv,
            envp: argv.add(argc + 1),
        }
    };
    crate::boot(start)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Unreachable with panic=immediate-abort (panics trap), but no_std still needs a handler.
    rustix::runtime_448b8ad740e2a26f::exit_group(127)
}
