//! Kernel modules, loaded with finit_module(2) from three places: the bundle in the initramfs
//! (`/lib/modules/<kver>/load-order`), the boot partition (`/modules/<kver>/`) and the image itself
//! (overlay.ko). Compressed modules are handed to the kernel to decompress.

use crate::devices::Partition;
use crate::files;
use crate::logger::{Failed, Logger, cannot, msg};
use crate::mounts;
use crate::paths;
use initramfs_overlay::cmdline::Config;
use initramfs_overlay::cpath::{CPath, CText};
use initramfs_overlay::log::Level;
use initramfs_overlay::modlist;
use initramfs_overlay::numfmt;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::CWD;
use rustix::io::Errno;
use rustix::mount::MountFlags;

/// The modules folder under a root (`/` or the image), before the kernel release.
pub const LIB_MODULES: CText = CText::new(c"/lib/modules/");

/// The list `load_from` takes for a bundle: none, so the folder's own `load-order` names the modules.
const OWN_LOAD_ORDER: CText = CText::new(c"");

/// MODULE_INIT_COMPRESSED_FILE (missing from linux-raw-sys): the kernel decompresses the file itself.
const COMPRESSED_FILE: i32 = 4;

/// Loads the module `base` from `dir`, the one way a module file is opened: a bundled one (from the
/// load-order list) is the file `base` itself and must be there; any other is the first of `base`
/// and its compressed variants (`modlist::SUFFIXES`) that opens, skipped when there is none, and
/// logged when loaded (the bundle logs its count instead). A module that is already loaded (or built
/// in) counts as loaded.
#[optimize(size)]
// Out of line on x86_64 and ARM, where that measured smaller (ARM: -16 B now; an earlier round
// measured inlined 8 B smaller there); inlined into `load_from` on i686 (-28 B, .gz -83 B).
#[cfg_attr(target_arch = "x86", inline(always))]
#[cfg_attr(not(target_arch = "x86"), inline(never))]
fn load(log: &mut Logger, dir: BorrowedFd<'_>, base: &[u8], bundled: bool) -> Result<(), Failed> {
    // The plain module file first (the table's empty first entry), then the compressed ones; a bundled
    // module never gets past the first, which it loads or fails on.
    for index in 0..modlist::SUFFIX_COUNT {
        let path = CPath::new(&[base, initramfs_overlay::nth(modlist::SUFFIXES, index)]);
        // `modlist` refuses a NUL, so a path that does not go in whole is one too long to open: told
        // as the kernel tells a name too long, by the one failure message of the open.
        let opened = match path.whole() {
            Some(path) => crate::sys::open_read(dir, path.as_cstr()),
            None => Err(Errno::NAMETOOLONG),
        };
        match opened {
            Ok(file) => {
                let name = path.as_bytes();
                load_open(log, file.as_fd(), name)?;
                if !bundled {
                    log.info(msg!("loaded "), name);
                }
                return Ok(());
            }
            // A bundled module must be there.
            Err(e) if bundled => return Err(log.fail(cannot!("open "), base, Some(e))),
            // A variant that cannot be opened is one that is not there: try the next.
            Err(_) => {}
        }
    }
    Ok(())
}

/// Hands an open module file to the kernel; `path` names it in messages and says whether it is compressed.
#[optimize(size)]
fn load_open(log: &mut Logger, file: BorrowedFd<'_>, path: &[u8]) -> Result<(), Failed> {
    let compressed = modlist::is_compressed(path);
    let flags = if compressed { COMPRESSED_FILE } else { 0 };
    let Err(e) = rustix::system::finit_module(file, c"", flags) else {
        return Ok(());
    };
    // Matched as the kernel's positive numbers: short immediates. Matching the `Errno` constants
    // directly measured +8 / +44 / -8 B (x86_64 / i686 / ARM; ARM's `Errno` holds the whole result
    // since rustix PATCHES.md item 12, so it no longer loads each from memory).
    const EXIST: i32 = Errno::EXIST.raw_os_error();
    const NOEXEC: i32 = Errno::NOEXEC.raw_os_error();
    const INVAL: i32 = Errno::INVAL.raw_os_error();
    const OPNOTSUPP: i32 = Errno::OPNOTSUPP.raw_os_error();
    let what = match e.raw_os_error() {
        // Already loaded, or built in.
        EXIST => return Ok(()),
        NOEXEC | INVAL | OPNOTSUPP if compressed => {
            msg!("the kernel cannot decompress this module format: ")
        }
        _ => cannot!("load "),
    };
    Err(log.fail(what, path, Some(e)))
}

/// Opens the module folder `<root><modules><kver>`. `None` when it does not exist: that source simply
/// has no modules to offer, which is not an error. `root` and `modules` are C strings, one pointer
/// each at the callers, so the boot partition's root is `paths::SCRATCH` itself and `/modules/` is the
/// end of `/lib/modules/` (the linker stores one of them).
#[optimize(size)]
fn open_module_dir(
    log: &mut Logger,
    root: CText,
    modules: CText,
    kver: &[u8],
) -> Result<Option<crate::sys::Fd>, Failed> {
    // Our constants and the kernel release (at most 64 bytes, no NUL): at most 126 bytes, so the
    // lossy join is exact.
    let path = &CPath::lossy(&[root.to_bytes(), modules.to_bytes(), kver]);
    match files::open_dir(CWD, path.as_cstr()) {
        Ok(dir) => Ok(Some(dir)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(log.fail_path(cannot!("open "), path.as_cstr(), Some(e))),
    }
}

/// Loads the initramfs bundle for the running kernel, in the order the packer wrote. No bundle is
/// fine: the kernel may have everything built in.
#[optimize(size)]
pub fn load_bundled(log: &mut Logger, kver: &[u8]) -> Result<(), Failed> {
    // The initramfs is the root: no prefix. The folder's own load-order names the modules.
    load_from(log, CText::new(c""), LIB_MODULES, OWN_LOAD_ORDER, kver)
}

/// The boot partition (vfat) may carry squashfs.ko and loop.ko for kernels that lack them: mount it
/// read-only, load what is there, unmount.
#[optimize(size)]
pub fn load_from_boot_partition(
    log: &mut Logger,
    boot: &Partition,
    kver: &[u8],
) -> Result<(), Failed> {
    mounts::mount_partition(log, boot, paths::SCRATCH, MountFlags::RDONLY)?;
    let result = load_from(
        log,
        CText::new(paths::SCRATCH),
        CText::new(c"/modules/"),
        CText::new(modlist::BOOT_PARTITION_MODULES),
        kver,
    );
    mounts::unmount_scratch(log, cannot!("unmount the boot partition"));
    result
}

/// Loads the modules of the folder `<root><modules><kver>` (see `open_module_dir`), in order: the
/// bundle's, named by the folder's own `load-order` when `names` is empty (`OWN_LOAD_ORDER`), each
/// of which must load (see `load`), and their count is logged; or `names`, a list in the same format,
/// of which a missing one is skipped. A missing folder or load-order is no modules to load. `names`
/// is one pointer, before the release's two words: on 32-bit targets only the release's length is
/// passed on the stack, which ARM reaches past the 8 KiB frame with a literal-pool offset (measured
/// +4 / -12 / -8 B against an `Option<&str>` after `kver`).
#[optimize(size)]
fn load_from(
    log: &mut Logger,
    root: CText,
    modules: CText,
    names: CText<'static>,
    kver: &[u8],
) -> Result<(), Failed> {
    let Some(dir) = open_module_dir(log, root, modules, kver)? else {
        return Ok(());
    };
    // Every way out of the list closes the folder here, once.
    load_list(log, dir.as_fd(), kver, names)
}

/// The part of `load_from` after the folder is open: its list, each module of it, their count.
#[optimize(size)]
// Inlined: a function of its own only so that `load_from` has one way out while the folder is open.
#[inline(always)]
fn load_list(
    log: &mut Logger,
    dir: BorrowedFd<'_>,
    kver: &[u8],
    names: CText<'static>,
) -> Result<(), Failed> {
    let names = names.to_bytes();
    let bundled = names.is_empty();
    let mut buf = [core::mem::MaybeUninit::uninit(); 8192];
    let list = if !bundled {
        names
    } else {
        match files::read_small(dir, c"load-order", &mut buf) {
            Ok(list) => list,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(log.fail(cannot!("read the load-order of "), kver, Some(e))),
        }
    };
    let mut count = 0u32;
    for entry in modlist::entries(list) {
        let path = entry.map_err(|bad| {
            log.fail_two(msg!("load-order: %"), bad.reason.text(), bad.line, None)
        })?;
        load(log, dir, path, bundled)?;
        count += 1;
    }
    if bundled {
        log.say(
            Level::Info,
            msg!("% loaded for "),
            numfmt::dec(count.into(), &mut numfmt::digits()),
            kver,
        );
    }
    Ok(())
}

/// overlay.ko ships with the image's own kernel modules; load it from there when present.
#[optimize(size)]
pub fn load_overlay_from_image(
    log: &mut Logger,
    kver: &[u8],
    config: &Config,
) -> Result<(), Failed> {
    if config.no_overlay {
        return Ok(());
    }
    // Named from the image's modules folder: its log line says where it was found.
    load_from(
        log,
        CText::new(paths::LOWER),
        LIB_MODULES,
        CText::new(modlist::IMAGE_MODULES),
        kver,
    )
}
