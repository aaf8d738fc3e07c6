//! Finds the partitions by what the command line names (labels by default). Block devices come from
//! /sys/class/block; each is probed once, by reading its superblock. The required partitions are
//! awaited with a bounded wait, polling every few milliseconds; the optional ones get a short grace.

use crate::files;
use crate::logger::{Failed, Logger, Msg, cannot, msg};
use crate::sys::{Fd, open, open_read};
use crate::sys::{logical_sector_size, now_ms, sleep_ms};
use core::ffi::CStr;
use initramfs_overlay::cmdline::{Config, role};
use initramfs_overlay::cpath::{CPath, CText};
use initramfs_overlay::devspec::{self, IdText, Identity, Spec};
use initramfs_overlay::log::{Level, Log};
use initramfs_overlay::numfmt;
use initramfs_overlay::{ext4, partitions, partname, vfat};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{CWD, Mode, OFlags, RawDir};
use rustix::io::Errno;

/// A found partition: its device node and the filesystem type to mount it with (one pointer: `mount`
/// passes it on as it is, no length needed).
// The node first (repr(C)), at the partition's own address: measured smaller on ARM.
#[repr(C)]
pub struct Partition {
    pub dev: CPath,
    pub fstype: CText<'static>,
}

/// The partitions of each role, in the order of `role::NAMES`. `find` fills it in place: a `Partition` is
/// about 270 bytes, and moving four out of the search into a returned struct copied them all.
pub struct Found {
    slots: [Option<Partition>; role::COUNT],
}

impl Found {
    pub const NONE: Found = Found {
        slots: [None, None, None, None],
    };

    /// Always there once `find` succeeded.
    pub fn img(&self) -> Option<&Partition> {
        self.slots[role::IMG].as_ref()
    }

    /// `None` only with `iovl.no-overlay`, which needs no overlay partition.
    pub fn overlay(&self) -> Option<&Partition> {
        self.slots[role::OVERLAY].as_ref()
    }

    pub fn boot(&self) -> Option<&Partition> {
        self.slots[role::BOOT].as_ref()
    }

    pub fn newimg(&self) -> Option<&Partition> {
        self.slots[role::NEWIMG].as_ref()
    }
}

/// What `probe` returns for a device that matches no role.
const NO_ROLE: usize = role::COUNT;
/// How often to look again while waiting: a late USB or MMC device is taken within milliseconds.
const POLL_MS: u64 = 5;
/// How long optional partitions may lag behind the required ones (separate disks probe a bit later).
const OPTIONAL_GRACE_MS: u32 = 100;
/// Device names remembered as probed; more devices are simply probed again on each pass.
const PROBED_MAX: usize = 64;

/// Looks for all four roles until the required ones are there, or fails naming what is missing.
/// `found` starts empty.
#[optimize(size)]
// Forced inline on x86_64 only (inlined as a hint before): -24 B there, measured.
#[cfg_attr(target_arch = "x86_64", inline(always))]
pub fn find(log: &mut Logger, config: &Config, found: &mut Found) -> Result<(), Failed> {
    // `rootdelay=`; without it a sleep of 0 ms returns at once.
    sleep_ms(config.rootdelay_ms);
    let specs = &config.specs;
    let slots = &mut found.slots;
    // Every buffer of `probe`, here once for the whole search: x86_64's stack probes run once, and
    // probe's own frame stays small enough for Thumb's short sp-relative forms. Zeroed bytes, not
    // uninitialised: `read_at` reads into plain byte slices, and all of `state` starts as zeros, so
    // one fill sets it up.
    let mut state = SearchState {
        probed: Probed {
            inodes: [0; PROBED_MAX],
            count: 0,
        },
        bufs: Buffers {
            uuid: const { IdText::new() },
            part: partitions::Partition::EMPTY,
            head: [0; 4096],
            root_dir: [0; vfat::ROOT_DIR_MAX as usize],
            disk_head: [0; partitions::HEAD_LEN],
        },
        // Zeroed with the rest (one fill), though `dec` needs no initialised bytes.
        digits: [core::mem::MaybeUninit::new(0); numfmt::DEC_LEN],
    };
    // Milliseconds in 32 bits (see `now_ms`): their wrapping differences are right for any wait
    // shorter than 49 days.
    let start = now_ms();
    // When the required ones were all found; 0 until then (as `logger`'s step clock: the cut clock
    // reads 0 again only every 49 days, and then the grace merely starts a pass later).
    let mut required_since = 0;
    loop {
        scan(log, specs, slots, &mut state.probed, &mut state.bufs)?;
        let now = now_ms();
        let waited = now.wrapping_sub(start);
        // img is always required, overlay unless the boot does without one.
        let missing = if slots[role::IMG].is_none() {
            Some(role::IMG)
        } else if slots[role::OVERLAY].is_none() && !config.no_overlay {
            Some(role::OVERLAY)
        } else {
            None
        };
        match missing {
            None => {
                if required_since == 0 {
                    required_since = now;
                }
                if slots.iter().all(Option::is_some)
                    || now.wrapping_sub(required_since) >= OPTIONAL_GRACE_MS
                {
                    break;
                }
            }
            Some(role) => {
                // Never with `Wait::FOREVER`: `waited` has 32 bits.
                if u64::from(waited) >= config.wait.ms {
                    let waited = numfmt::dec(waited.into(), &mut state.digits);
                    return Err(fail_spec(log, role, &specs[role], waited, b""));
                }
            }
        }
        sleep_ms(POLL_MS);
    }
    for (role, slot) in role::NAMES.iter().zip(slots.iter()) {
        let (what, dev): (Msg, &[u8]) = match slot {
            Some(part) => (msg!("% is "), part.dev.as_bytes()),
            None => (msg!("no % partition"), b""),
        };
        log.say(Level::Info, what, role, dev);
    }
    Ok(())
}

/// Fails with `<role> partition <spec as written>` and what is wrong with it: ` matches both <first>
/// and <second>` for a duplicate (`second` is a device path, never empty), else ` not found after
/// <first> ms`. Written straight from its parts
/// as `Logger::fail` writes a failure with no errno in this step (`find: `, like the info lines).
#[optimize(size)]
#[inline(never)]
fn fail_spec(log: &mut Logger, role: usize, spec: &Spec, first: &[u8], second: &[u8]) -> Failed {
    let (tag, value) = spec.describe();
    let role = role::NAMES.get(role).copied().unwrap_or_default();
    let (what, and): (&[u8], &[u8]) = if !second.is_empty() {
        (b" matches both ", b" and ")
    } else {
        (b" not found after ", b" ms")
    };
    log.line(
        Level::Error,
        &[
            b"find: ",
            role,
            b" partition ",
            tag,
            value,
            what,
            first,
            and,
            second,
        ],
    );
    Failed
}

/// What the search works in, all starting as zeros: one struct, so that a single fill sets it up.
/// The small fields first (repr(C)), at short offsets from its start.
#[repr(C)]
struct SearchState {
    probed: Probed,
    /// The waited milliseconds in the failure message.
    digits: numfmt::Digits,
    bufs: Buffers,
}

/// The sysfs inode numbers of the devices already probed: a number is one compare, and a device that
/// goes away and comes back gets a new one. More devices than fit are simply probed again on each pass.
/// Their low 32 bits, on every target: kernfs's node id, allocated cyclically from 1 (a 64-bit number
/// adds a generation above it, which changes only when the ids wrap). 32 bits, not usize: on x86_64
/// the compares and stores need no REX.W (-8 B there; the same code on 32-bit targets).
/// The count first (repr(C)): at offset 0, not past the array.
#[repr(C)]
struct Probed {
    count: usize,
    inodes: [u32; PROBED_MAX],
}

impl Probed {
    #[optimize(size)]
    #[allow(clippy::manual_contains)]
    fn contains(&self, ino: u32) -> bool {
        // Over the whole array, with no compare against `count`: the unused tail holds 0, which no
        // sysfs inode number is (kernfs numbers its nodes from 1, in the low 32 bits kept here).
        // `any`, not `contains`: smaller here.
        self.inodes.iter().any(|&n| n == ino)
    }

    #[optimize(size)]
    // Left to LLVM (inlined): with 32-bit slots -2 B of .text on x86_64 against out of line, measured.
    fn insert(&mut self, ino: u32) {
        if let Some(slot) = self.inodes.get_mut(self.count) {
            *slot = ino;
            self.count += 1;
        }
    }
}

/// Where the kernel lists every block device.
const BLOCK_CLASS: &CStr = c"/sys/class/block";

/// One pass over /sys/class/block, probing the devices not seen before. Two devices answering the
/// same spec is an error naming both: picking one would boot at random.
#[optimize(size)]
#[inline(always)]
fn scan(
    log: &mut Logger,
    specs: &[Spec; role::COUNT],
    slots: &mut [Option<Partition>; role::COUNT],
    probed: &mut Probed,
    bufs: &mut Buffers,
) -> Result<(), Failed> {
    let class = files::open_dir(CWD, BLOCK_CLASS)
        .map_err(|e| log.fail_path(cannot!("open "), BLOCK_CLASS, Some(e)))?;
    // Room for the longest entry (a 255-byte name) and a dozen short ones per getdents call.
    let mut buf = files::DirBuf::<512>::uninit();
    let mut entries = RawDir::new(&class, &mut buf.bytes);
    while let Some(Ok(entry)) = entries.next() {
        let name = entry.file_name();
        // The kernel's own numbers: their low 32 bits are all that matters (the node id).
        let ino = entry.ino() as u32;
        if name.to_bytes().first() == Some(&b'.') || probed.contains(ino) {
            continue;
        }
        let made = dev_node(name.to_bytes());
        let Some(dev) = made.whole() else { continue };
        let node = match open_read(CWD, dev.as_cstr()) {
            // The /dev node may lag behind sysfs for a moment: look again on the next pass.
            Err(Errno::NOENT) => continue,
            node => node,
        };
        probed.insert(ino);
        let Ok(node) = node else { continue };
        let (role, fstype) = probe(&node, name, specs, bufs);
        let Some(slot) = slots.get_mut(role) else {
            continue;
        };
        if let Some(first) = slot {
            // Past PROBED_MAX devices, one is probed again on each pass: itself is no duplicate.
            if first.dev.same_text(dev) {
                continue;
            }
            return Err(fail_spec(
                log,
                role,
                &specs[role],
                first.dev.as_bytes(),
                dev.as_bytes(),
            ));
        }
        *slot = Some(Partition { dev: made, fstype });
    }
    Ok(())
}

/// What `probe` reads into: the device's first sectors, the start of a FAT root directory and the
/// start of the parent disk (its partition table); and what it writes the UUIDs and the partition
/// label as. The texts first (repr(C)): at short offsets from its start, not past the 52 KiB of the
/// buffers.
#[repr(C)]
struct Buffers {
    uuid: IdText,
    part: partitions::Partition,
    head: [u8; 4096],
    root_dir: [u8; vfat::ROOT_DIR_MAX as usize],
    disk_head: [u8; partitions::HEAD_LEN],
}

/// Reads the identity of device `name` (open as `dev`) and returns the first role whose spec it
/// matches, with its filesystem type as `mount` takes it; `NO_ROLE` when there is none (the type is
/// then empty).
#[optimize(size)]
// Inlined into `scan` (and so `boot`) on x86: no call, no frame of its own. On ARM out of line: in
// boot's large frame its locals would be out of Thumb's short sp-relative reach (measured +72 B).
#[cfg_attr(target_arch = "arm", inline(never))]
#[cfg_attr(not(target_arch = "arm"), inline(always))]
fn probe(
    dev: &Fd,
    name: &CStr,
    specs: &[Spec; role::COUNT],
    bufs: &mut Buffers,
) -> (usize, CText<'static>) {
    let head = read_at(dev.as_fd(), &mut bufs.head, 0);
    let mut id: Identity = [&[]; devspec::KINDS];
    id[devspec::DEV_NAME] = name.to_bytes();
    // A vfat serial, for the UUID to borrow.
    let serial: [u8; 4];
    let superblock = ext4::SUPERBLOCK_OFFSET as usize;
    // The filesystem and its UUID's bytes with the form blkid prints them in: one `push_hex` for both.
    let (filesystem, raw_uuid, form): (_, &[u8], _) = if let Some(fs) = head
        .get(superblock..superblock + ext4::SUPERBLOCK_NEEDED)
        .and_then(ext4::parse)
    {
        id[devspec::LABEL] = fs.label;
        (CText::new(c"ext4"), fs.uuid, ext4::UUID_FORM)
    } else if let Some(boot) = vfat::parse(head) {
        let region = boot.root_dir;
        let dir = bufs
            .root_dir
            .get_mut(..region.len as usize)
            .unwrap_or(&mut []);
        let dir = read_at(dev.as_fd(), dir, region.offset);
        id[devspec::LABEL] = vfat::label(&boot, vfat::volume_label(dir));
        // Old boot sectors have no serial: then no UUID either (an empty text).
        let raw: &[u8] = match boot.serial {
            Some(bytes) => {
                serial = bytes;
                &serial
            }
            None => &[],
        };
        (CText::new(c"vfat"), raw, vfat::SERIAL_FORM)
    } else {
        return (NO_ROLE, CText::new(c""));
    };
    // The text is reused from the previous device.
    bufs.uuid.clear();
    bufs.uuid.push_hex(raw_uuid, form);
    id[devspec::UUID] = bufs.uuid.as_bytes();
    // PARTUUID and PARTLABEL come from the parent disk's table: read it only when a spec asks.
    if specs
        .iter()
        .any(|s| matches!(s, Spec::PartUuid(_) | Spec::PartLabel(_)))
        && partition_entry(name, &mut bufs.disk_head, &mut bufs.part).is_some()
    {
        id[devspec::PARTUUID] = bufs.part.uuid.as_bytes();
        id[devspec::PARTLABEL] = bufs.part.label.as_bytes();
    }
    (
        specs
            .iter()
            .position(|spec| spec.matches(&id))
            .unwrap_or(NO_ROLE),
        filesystem,
    )
}

/// The partition-table entry of partition `name`, from its parent disk, into `part` (see
/// `partitions::find`).
#[optimize(size)]
fn partition_entry(
    name: &CStr,
    head: &mut [u8; partitions::HEAD_LEN],
    part: &mut partitions::Partition,
) -> Option<()> {
    let (disk, number) = partname::split(name.to_bytes())?;
    let disk = dev_node(disk);
    // Non-blocking: a name derived for a whole disk (see `partname::split`) could name some other
    // node, which must not stall the search (a disk is read the same way with it).
    let disk = open(
        CWD,
        disk.whole()?.as_cstr(),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let head = read_at(disk.as_fd(), head, 0);
    // A GPT's LBAs count the disk's logical sectors, which the kernel knows: 4 KiB on a 4Kn disk.
    partitions::find(head, logical_sector_size(disk.as_fd()), number, part)
}

/// What one pread at `offset` gets into `buf`: empty when it fails. One copy of the syscall for the
/// three reads of the probe.
#[optimize(size)]
#[inline(never)]
fn read_at<'b>(fd: BorrowedFd<'_>, buf: &'b mut [u8], offset: u64) -> &'b [u8] {
    let read = rustix::io::pread(fd, &mut *buf, offset).unwrap_or(0);
    // Never more than asked for: the start of the buffer, with no case of its own for a failure.
    let len = read.min(buf.len());
    buf.get(..len).unwrap_or_default()
}

/// The device node `/dev/<name>` (its parts checked with `CPath::whole`): one copy of the join for the
/// probed device and for its parent disk.
#[optimize(size)]
#[inline(never)]
fn dev_node(name: &[u8]) -> CPath {
    CPath::new(&[b"/dev/", name])
}
