//! PARTUUID and PARTLABEL of partition N (1-based, as Linux numbers them) from the partition table at the
//! start of the whole disk: MBR or GPT. A GPT counts in the disk's logical sectors: 512 bytes, or 4096
//! on a "4Kn" disk (many USB-SATA bridges, some NVMe drives). The GPT CRCs are not checked: the kernel
//! already accepted this table to create the partition device we ask about.

use crate::devspec::{HexForm, IdText, UUID_FORM};

/// The usual logical sector size, and the MBR's size.
pub const SECTOR: usize = 512;
/// How much of the disk `find` wants, from byte 0: a standard GPT (128 entries of 128 bytes at LBA 2)
/// ends at byte 17,408 with 512-byte sectors and at 24,576 with 4 KiB ones. Entries beyond what is
/// passed are reported as not found.
pub const HEAD_LEN: usize = 64 * SECTOR;

/// A GPT partition name in UTF-8: 36 UTF-16 units of at most 3 bytes each (a surrogate pair is 2 units
/// for 4 bytes): exactly what an `IdText` holds.
pub type PartLabel = IdText;

/// What `find` fills in.
#[derive(Clone, Copy)]
pub struct Partition {
    /// PARTUUID as Linux prints it: the GPT unique partition GUID, or `ssssssss-nn` on MBR.
    pub uuid: IdText,
    /// PARTLABEL: GPT only (an MBR has no partition labels; empty, it matches no spec).
    pub label: PartLabel,
}

impl Partition {
    /// Both texts empty: storage for `find` to fill (whatever it holds, `find` replaces).
    pub const EMPTY: Partition = Partition {
        uuid: IdText::new(),
        label: PartLabel::new(),
    };
}

const MBR_ENTRIES: core::ops::Range<usize> = 446..510;
const GPT_PROTECTIVE: u8 = 0xEE;

/// Partition `number` of the disk whose first bytes are `head` and whose logical sectors are
/// `sector_size` bytes, into `part` (whatever it held): `None` if there is no such partition or no
/// table we read, and then `part` means nothing. Filled in place: a returned `Partition` was built in
/// a local copy and copied out.
#[optimize(size)]
#[inline(never)]
pub fn find(head: &[u8], sector_size: usize, number: u32, part: &mut Partition) -> Option<()> {
    // Both texts are appended to below; an MBR has no partition labels.
    part.uuid.clear();
    part.label.clear();
    let mbr = head.get(..SECTOR)?;
    if mbr.get(510..)? != [0x55, 0xAA] {
        return None;
    }
    // The entries as arrays: the constant offsets below are checked at compile time.
    let entries = mbr.get(MBR_ENTRIES)?.as_chunks::<16>().0;
    // One pass: a protective entry anywhere makes it a GPT; the boot indicators are gathered for
    // the MBR test below.
    let mut boot_indicators = 0;
    for entry in entries {
        if entry[4] == GPT_PROTECTIVE {
            return gpt(head, sector_size, number, part);
        }
        boot_indicators |= entry[0];
    }
    // As Linux: a boot indicator other than 0 or 0x80 means this is no MBR (e.g. a FAT boot sector).
    if boot_indicators & 0x7F != 0 {
        return None;
    }
    // Only the four primary slots: logical partitions (5+) live in a chain of extended boot records
    // elsewhere on the disk, which this does not follow.
    // Partition 0 wraps to a slot far past the four.
    let entry = entries.get(number.wrapping_sub(1) as usize)?;
    if entry[4] == 0 {
        return None; // an empty slot
    }
    // The disk signature most significant byte first, then the number: built in one word, stored
    // whole rather than byte by byte.
    let signature = crate::le32(mbr, 440)?;
    let id = (u64::from(signature.swap_bytes()) | u64::from(number) << 32).to_le_bytes();
    part.uuid.push_hex(
        id.get(..5)?,
        HexForm {
            dashes: 1 << 3,
            ten: b'a',
        },
    );
    Some(())
}

// Inlined into its one caller `find` on ARM only: measured 40 B smaller there (the two functions
// 152 + 400 B, `find` with it 512 B), and 8 B less again without `optimize(size)` there.
#[cfg_attr(not(target_arch = "arm"), optimize(size))]
#[cfg_attr(target_arch = "arm", inline(always))]
#[cfg_attr(not(target_arch = "arm"), inline(never))]
fn gpt(head: &[u8], sector_size: usize, number: u32, part: &mut Partition) -> Option<()> {
    // The header (at LBA 1) through the entry size: every field below is in bounds.
    let header: &[u8; 88] = head.get(sector_size..)?.first_chunk()?;
    if !header.starts_with(b"EFI PART") {
        return None;
    }
    // Constant offsets into the fixed-size header: the bounds checks fold away (the 0 is never
    // taken), and each field is one word load, also on ARM.
    let le32 = |at: usize| crate::le32(header, at).unwrap_or(0);
    // The entries' LBA is 64-bit; one with a high half is far beyond `head` anyway.
    let entries_lba = le32(72) as usize;
    let (count, entry_size) = (le32(80), le32(84));
    // The entry's index; partition 0 wraps to one past any count.
    let index = number.wrapping_sub(1);
    // The spec wants 128 * 2^n bytes per entry; the name ends at byte 128.
    if le32(76) != 0 || index >= count || entry_size < 128 || entry_size % 8 != 0 {
        return None;
    }
    let offset = (index as usize)
        .checked_mul(entry_size as usize)?
        .checked_add(entries_lba.checked_mul(sector_size)?)?;
    let entry: &[u8; 128] = head.get(offset..)?.first_chunk()?;
    if u128::from_ne_bytes(*entry.first_chunk()?) == 0 {
        return None; // an unused entry: no partition type
    }
    let label = &mut part.label;
    // UTF-16LE up to the first 0 unit, to UTF-8; an unpaired surrogate becomes U+FFFD (as
    // `char::decode_utf16` does, written out because that iterator and `encode_utf8` are larger).
    let unit = |at: u32| crate::le16(entry, at as usize).map_or(0, u32::from);
    let mut at: u32 = 56;
    while at < 128 {
        let mut c = unit(at);
        at += 2;
        if c == 0 {
            break;
        }
        // A high surrogate and a low one after it, both tested in one word; any other surrogate is
        // unpaired.
        let low = unit(at);
        if (c << 16 | low) & 0xFC00_FC00 == 0xD800_DC00 {
            c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
            at += 2;
        } else if c & 0xF800 == 0xD800 {
            c = 0xFFFD;
        }
        // The character's bytes queued in one word, first byte lowest (none of them is 0: `c` is not
        // 0 and the others are 10xxxxxx): one append site, as in `IdText::push_hex`. The 10xxxxxx
        // bytes from the last, until the rest fits the lead byte's `room`: 7 bits alone, 5 before
        // one 10xxxxxx byte, 4 before two, 3 before three.
        let mut queued = 0;
        let mut room = 0x7F;
        while c > room {
            queued = queued << 8 | 0x80 | c & 0x3F;
            c >>= 6;
            room = room >> 1 & 0x1F;
        }
        // The lead byte: 0xxxxxxx, 110xxxxx, 1110xxxx or 11110xxx (ones above a 0 above `room`).
        queued = queued << 8 | !room << 1 & 0xFF | c;
        while queued != 0 {
            label.push_byte(queued as u8);
            queued >>= 8;
        }
    }
    push_guid(&mut part.uuid, entry.get(16..)?.first_chunk()?);
    Some(())
}

/// Appends a GUID as stored on disk (the first three fields little-endian) in its usual lowercase
/// text.
#[optimize(size)]
pub fn push_guid(text: &mut IdText, guid: &[u8; 16]) {
    let mut rfc = *guid;
    // Byte swaps in place (one instruction each): the 32-bit field whole, the two 16-bit ones as a
    // 32-bit swap turned by 16 bits.
    if let Some((low, rest)) = rfc.split_first_chunk_mut::<4>() {
        *low = u32::from_le_bytes(*low).to_be_bytes();
        if let Some((mid_high, _)) = rest.split_first_chunk_mut::<4>() {
            *mid_high = u32::from_le_bytes(*mid_high).rotate_left(16).to_be_bytes();
        }
    }
    text.push_hex(&rfc, UUID_FORM);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devspec::test_images::{Scratch, mangled, read_at, run, sparse};
    use std::vec::Vec;

    /// `find` into a partition whose texts hold a previous device's: what it returns is all new.
    fn found(head: &[u8], sector_size: usize, number: u32) -> Option<Partition> {
        let mut part = Partition::EMPTY;
        part.uuid.push_hex(b"stale", crate::devspec::UUID_FORM);
        part.label.push_byte(b'x');
        find(head, sector_size, number, &mut part).map(|()| part)
    }

    /// A sparse 64 MiB disk partitioned by `sfdisk` with `script`; returns its first HEAD_LEN bytes.
    fn disk(script: &str) -> (Scratch, std::path::PathBuf, Vec<u8>) {
        partitioned("sfdisk", &["-q", "--no-reread"], script)
    }

    /// A sparse 64 MiB disk partitioned by `tool` run with `options` and fed `input`; returns its
    /// first HEAD_LEN bytes.
    fn partitioned(
        tool: &str,
        options: &[&str],
        input: &str,
    ) -> (Scratch, std::path::PathBuf, Vec<u8>) {
        let dir = Scratch::new("disk");
        let disk = dir.file("disk.img");
        sparse(&disk, 64 << 20);
        let mut args = options.to_vec();
        args.push(disk.to_str().unwrap());
        run(tool, &args, input);
        let head = read_at(&disk, 0, HEAD_LEN);
        (dir, disk, head)
    }

    fn sfdisk_says(disk: &std::path::Path, what: &str, number: u32) -> std::string::String {
        let n = std::format!("{number}");
        run("sfdisk", &[what, disk.to_str().unwrap(), &n], "")
            .trim_end()
            .into()
    }

    const GPT_SCRIPT: &str = "label: gpt\n\
        label-id: 11111111-2222-4333-8444-555555555555\n\
        size=1MiB, uuid=0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D, name=img\n\
        size=1MiB, uuid=01234567-89AB-4DEF-8123-456789ABCDEF, name=\"the overlay\"\n\
        size=1MiB, name=\"012345678901234567890123456789abcdef\"\n\
        size=1MiB\n";

    #[test]
    fn reads_real_gpt() {
        let (_dir, path, head) = disk(GPT_SCRIPT);
        let part = |n| found(&head, SECTOR, n).expect("a partition");
        let texts = |n| {
            let p = part(n);
            (
                std::string::String::from_utf8(p.uuid.as_bytes().to_vec()).unwrap(),
                p.label.as_bytes().to_vec(),
            )
        };
        assert_eq!(
            texts(1),
            (
                "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
                b"img".to_vec()
            )
        );
        assert_eq!(texts(2).1, b"the overlay");
        assert_eq!(texts(3).1, b"012345678901234567890123456789abcdef");
        assert_eq!(texts(4).1, b"");
        for n in 1..=4 {
            let (uuid, label) = texts(n);
            assert_eq!(
                uuid.to_uppercase(),
                sfdisk_says(&path, "--part-uuid", n),
                "partition {n}"
            );
            assert_eq!(
                std::str::from_utf8(&label).unwrap(),
                sfdisk_says(&path, "--part-label", n)
            );
        }
        assert!(found(&head, SECTOR, 0).is_none());
        assert!(found(&head, SECTOR, 5).is_none(), "an unused entry");
        assert!(
            found(&head, SECTOR, 129).is_none(),
            "beyond the entry count"
        );
        assert!(found(&head, SECTOR, u32::MAX).is_none());
        // The standard layout fits in 34 sectors; one byte less loses the last entry, not the first.
        let last = with_entry_128(&head, SECTOR);
        assert!(found(&last[..34 * SECTOR], SECTOR, 128).is_some());
        assert!(found(&last[..34 * SECTOR - 1], SECTOR, 128).is_none());
        assert!(found(&head[..34 * SECTOR - 1], SECTOR, 1).is_some());
        assert!(found(&head[..2 * SECTOR + 127], SECTOR, 1).is_none());
    }

    /// `head` with GPT entry 2 copied into the last of the standard 128 slots (entries at LBA 2).
    fn with_entry_128(head: &[u8], sector_size: usize) -> Vec<u8> {
        let entry = |n: usize| 2 * sector_size + (n - 1) * 128;
        let mut copy = head.to_vec();
        copy.copy_within(entry(2)..entry(3), entry(128));
        copy
    }

    /// A GPT written by `fdisk -b 4096`, as on a 4Kn disk: header at byte 4096, entries at 8192.
    #[test]
    fn reads_real_gpt_with_4k_sectors() {
        let (_dir, _path, head) = partitioned(
            "fdisk",
            &["-b", "4096"],
            "g\nn\n1\n256\n511\nn\n2\n512\n767\n\
             x\nn\n2\nthe overlay\nu\n2\n01234567-89AB-4DEF-8123-456789ABCDEF\nr\nw\n",
        );
        assert_eq!(&head[4096..4104], b"EFI PART");
        let part = found(&head, 4096, 2).expect("partition 2");
        assert_eq!(
            part.uuid.as_bytes(),
            b"01234567-89ab-4def-8123-456789abcdef"
        );
        assert_eq!(part.label.as_bytes(), b"the overlay");
        assert_eq!(found(&head, 4096, 1).unwrap().label.as_bytes(), b"");
        assert!(found(&head, 4096, 3).is_none(), "an unused entry");
        // Read in 512-byte sectors, the table is not there.
        assert!(found(&head, SECTOR, 2).is_none());
        // The standard 128 entries end at byte 24,576, which HEAD_LEN holds.
        const { assert!(2 * 4096 + 128 * 128 <= HEAD_LEN) };
        let last = with_entry_128(&head, 4096);
        assert!(found(&last[..24_576], 4096, 128).is_some());
        assert!(found(&last[..24_575], 4096, 128).is_none());
        assert!(found(&head[..8192 + 255], 4096, 2).is_none());
    }

    #[test]
    fn reads_real_mbr() {
        let (_dir, _path, head) =
            disk("label: dos\nlabel-id: 0x1234abcd\n,1MiB,83\n,1MiB,c\n,,5\n");
        for (n, text) in [
            (1, &b"1234abcd-01"[..]),
            (2, b"1234abcd-02"),
            (3, b"1234abcd-03"),
        ] {
            let part = found(&head, SECTOR, n).unwrap();
            assert_eq!(part.uuid.as_bytes(), text);
            assert!(part.label.as_bytes().is_empty(), "an MBR has no labels");
        }
        assert!(found(&head, SECTOR, 4).is_none(), "an empty slot");
        assert!(
            found(&head, SECTOR, 5).is_none(),
            "logical partitions are not followed"
        );
        assert!(found(&head, SECTOR, 0).is_none());
        assert!(found(&head[..511], SECTOR, 1).is_none());
        // A boot indicator other than 0 or 0x80 in any slot, even an empty one: no MBR.
        for slot in [0, 3] {
            let mut bad = head.clone();
            bad[446 + 16 * slot] = 0x01;
            assert!(found(&bad, SECTOR, 1).is_none());
        }
        let mut active = head.clone();
        active[446 + 16 * 3] = 0x80;
        assert_eq!(
            found(&active, SECTOR, 1).unwrap().uuid.as_bytes(),
            b"1234abcd-01"
        );
    }

    #[test]
    fn rejects_non_tables() {
        assert!(found(&[0; HEAD_LEN], SECTOR, 1).is_none());
        // A FAT boot sector has 0x55AA but code where the boot indicators are.
        let dir = Scratch::new("fat");
        let img = dir.file("fat.img");
        run("mkfs.vfat", &["-C", img.to_str().unwrap(), "1440"], "");
        assert!(found(&read_at(&img, 0, HEAD_LEN), SECTOR, 1).is_none());
        // A protective entry makes it a GPT whatever the boot indicators (checked only on an MBR),
        // in any slot.
        let (_d, _p, mut head) = disk(GPT_SCRIPT);
        let gpt_uuid = found(&head, SECTOR, 1).unwrap().uuid;
        let mut moved = head.clone();
        moved[446] = 0x01;
        moved.copy_within(446 + 4..446 + 5, 446 + 16 * 3 + 4);
        moved[446 + 4] = 0;
        assert_eq!(
            found(&moved, SECTOR, 1).unwrap().uuid.as_bytes(),
            gpt_uuid.as_bytes()
        );
        // A protective MBR without a GPT header.
        head[SECTOR] = b'X';
        assert!(found(&head, SECTOR, 1).is_none());
    }

    #[test]
    fn bogus_gpt_geometry_is_not_found() {
        let (_d, _p, head) = disk(GPT_SCRIPT);
        let patched = |at: usize, bytes: &[u8], n| {
            let mut copy = head.clone();
            copy[SECTOR + at..SECTOR + at + bytes.len()].copy_from_slice(bytes);
            found(&copy, SECTOR, n).map(|p| p.uuid.as_bytes().to_vec())
        };
        assert!(
            patched(84, &64u32.to_le_bytes(), 1).is_none(),
            "entries too small"
        );
        assert!(
            patched(84, &129u32.to_le_bytes(), 1).is_none(),
            "entry size not a multiple of 8"
        );
        assert!(patched(84, &u32::MAX.to_le_bytes(), 2).is_none());
        assert!(
            patched(72, &u64::MAX.to_le_bytes(), 1).is_none(),
            "entries LBA overflows"
        );
        assert!(
            patched(72, &1000u64.to_le_bytes(), 1).is_none(),
            "entries outside the buffer"
        );
        assert!(
            patched(80, &1u32.to_le_bytes(), 2).is_none(),
            "count limits the number"
        );
        // Entries of 256 bytes: partition 2's bytes are now where entries 3 and 4 were (unused = 4th).
        assert!(patched(84, &256u32.to_le_bytes(), 1).is_some());
        assert!(patched(84, &256u32.to_le_bytes(), 2).is_some());
        assert!(patched(84, &256u32.to_le_bytes(), 3).is_none());
    }

    #[test]
    fn guid_byte_order() {
        let on_disk = [
            0x3d, 0x2c, 0x1b, 0x0a, 0x5f, 0x4e, 0x6b, 0x4a, 0x8c, 0x7d, 0x9e, 0x0f, 0x1a, 0x2b,
            0x3c, 0x4d,
        ];
        assert_eq!(
            {
                let mut text = IdText::new();
                push_guid(&mut text, &on_disk);
                text
            }
            .as_bytes(),
            b"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        );
    }

    #[test]
    fn non_ascii_names_become_utf8() {
        // sfdisk 2.38 refuses non-ASCII names, so write the UTF-16 in place.
        let (_d, _p, mut head) = disk(GPT_SCRIPT);
        let name = 2 * SECTOR + 128 + 56;
        let units: Vec<u8> = "über 🎉 overlay"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        head[name..name + 72].fill(0);
        head[name..name + units.len()].copy_from_slice(&units);
        assert_eq!(
            found(&head, SECTOR, 2).unwrap().label.as_bytes(),
            "über 🎉 overlay".as_bytes()
        );
        // The first and last characters of each UTF-8 length.
        let edges = "\u{1}\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}";
        let units: Vec<u8> = edges.encode_utf16().flat_map(u16::to_le_bytes).collect();
        head[name..name + 72].fill(0);
        head[name..name + units.len()].copy_from_slice(&units);
        assert_eq!(
            found(&head, SECTOR, 2).unwrap().label.as_bytes(),
            edges.as_bytes()
        );
        // Every character, alone, as Rust's own UTF-8.
        for c in (0..=0x10FFFF).filter_map(char::from_u32).skip(1) {
            let mut units = [0; 2];
            head[name..name + 6].fill(0);
            for (at, unit) in c.encode_utf16(&mut units).iter().enumerate() {
                head[name + 2 * at..][..2].copy_from_slice(&unit.to_le_bytes());
            }
            let mut utf8 = [0; 4];
            assert_eq!(
                found(&head, SECTOR, 2).unwrap().label.as_bytes(),
                c.encode_utf8(&mut utf8).as_bytes()
            );
        }
        // 18 surrogate pairs: 72 bytes of UTF-8.
        let units: Vec<u8> = "🎉"
            .repeat(18)
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        head[name..name + 72].copy_from_slice(&units);
        assert_eq!(
            found(&head, SECTOR, 2).unwrap().label.as_bytes(),
            "🎉".repeat(18).as_bytes()
        );
    }

    #[test]
    fn invalid_utf16_names_become_replacement_characters() {
        let (_d, _p, mut head) = disk(GPT_SCRIPT);
        let name = 2 * SECTOR + 56;
        head[name..name + 2].copy_from_slice(&0xD800u16.to_le_bytes()); // a lone high surrogate
        let label = found(&head, SECTOR, 1).unwrap().label;
        assert_eq!(label.as_bytes(), "\u{FFFD}mg".as_bytes());
        // 36 lone surrogates: the longest UTF-8 there can be, still whole.
        for unit in head[name..name + 72].chunks_exact_mut(2) {
            unit.copy_from_slice(&0xDC00u16.to_le_bytes());
        }
        assert_eq!(
            found(&head, SECTOR, 1).unwrap().label.as_bytes(),
            "\u{FFFD}".repeat(36).as_bytes()
        );
        // Random units, biased to surrogates and zeros, decode exactly as `char::decode_utf16` does.
        let mut x = 0x2545_F491u32;
        for _ in 0..500 {
            let mut units = [0u16; 36];
            for u in units.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *u = match x % 8 {
                    0 => 0xD800 + (x >> 8) as u16 % 0x400,
                    1 => 0xDC00 + (x >> 8) as u16 % 0x400,
                    2 => (x >> 8) as u16 % 0x80,
                    3 if x % 64 == 3 => 0,
                    _ => (x >> 8) as u16,
                };
            }
            for (at, u) in units.iter().enumerate() {
                head[name + 2 * at..name + 2 * at + 2].copy_from_slice(&u.to_le_bytes());
            }
            let expected: std::string::String =
                char::decode_utf16(units.iter().copied().take_while(|&u| u != 0))
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect();
            assert_eq!(
                found(&head, SECTOR, 1).unwrap().label.as_bytes(),
                expected.as_bytes(),
                "{units:x?}"
            );
        }
    }

    #[test]
    fn survives_truncated_and_corrupted() {
        let (_d, _p, gpt) = disk(GPT_SCRIPT);
        let (_d2, _p2, mbr) = disk("label: dos\n,1MiB,83\n,1MiB,c\n");
        for head in [&gpt[..3 * SECTOR], &mbr[..SECTOR]] {
            for bytes in mangled(head) {
                for n in [0, 1, 2, 4, 128, u32::MAX] {
                    let _ = found(&bytes, SECTOR, n);
                }
            }
        }
    }
}
