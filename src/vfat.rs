//! The label and serial of a FAT12/16/32 filesystem. The boot sector gives the serial, a label and where
//! the root directory is; like blkid, a volume-label entry in the root directory wins over the boot
//! sector's label (tools that relabel, e.g. Windows, may update only the root directory).

use crate::devspec::{HexForm, IdText, hex_text};

/// How many bytes of the boot sector `parse` needs: the whole first sector.
pub const BOOT_SECTOR_LEN: usize = 512;
/// The most of the root directory worth reading: the label entry is near the start.
pub const ROOT_DIR_MAX: u32 = 16 * 1024;

/// A byte range from the start of the filesystem (the partition, not the disk).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Region {
    pub offset: u64,
    pub len: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct BootSector<'a> {
    /// The boot-sector label, trailing spaces trimmed; empty if absent or `NO NAME` (as an empty
    /// identity text means none).
    pub label: &'a [u8],
    /// The volume serial, most significant byte first (as blkid prints it); `None` on the old boot
    /// sectors that have none.
    pub serial: Option<[u8; 4]>,
    /// The start of the root directory (at most `ROOT_DIR_MAX` bytes), for `volume_label`.
    pub root_dir: Region,
}

/// Parses a boot sector; `None` unless it is sanely a FAT one, so that other data (an MBR, ext4,
/// squashfs, random bytes) is not taken for vfat.
#[optimize(size)]
pub fn parse(sector: &[u8]) -> Option<BootSector<'_>> {
    // A whole sector, so that every field below is in bounds (the signature is at its end anyway).
    let sector: &[u8; BOOT_SECTOR_LEN] = sector.first_chunk()?;
    let byte = |at: usize| sector.get(at).copied();
    let le16 = |at: usize| crate::le16(sector, at);
    let le32 = |at: usize| crate::le32(sector, at);

    let bytes_per_sector = le16(11)?;
    let sectors_per_cluster = byte(13)?;
    let reserved_sectors = le16(14)?;
    let fats = byte(16)?;
    let media = byte(21)?;
    // A product of positive integers is a power of two only when each factor is one: one test for
    // both sizes (and neither is 0).
    let cluster_bytes = u32::from(sectors_per_cluster) * u32::from(bytes_per_sector);
    let sane = le16(510)? == 0xAA55
        && cluster_bytes.is_power_of_two()
        // 512 to 4096, for a power of two: one of bits 9 to 12.
        && bytes_per_sector & 0x1E00 != 0
        && reserved_sectors >= 1
        && (media == 0xF0 || media >= 0xF8);
    if !sane {
        return None;
    }

    // FAT32 has no 16-bit FAT size and keeps its root directory in a cluster chain; FAT12/16 have a fixed
    // root directory after the FATs. The extended BPB (serial, label, type) sits after either layout.
    let fat16_size = le16(22)?;
    let fat32 = fat16_size == 0;
    let (fat_size, ext) = if fat32 {
        (le32(36)?, 64)
    } else {
        (u32::from(fat16_size), 36)
    };
    // The extended BPB through the start of its type field, taken once: its fields below are read at
    // constant offsets without bounds checks.
    let ebpb: &[u8; 21] = sector.get(ext..)?.first_chunk()?;
    // The type field starts with `FAT`: its three bytes as the top of one word, one load.
    let fat_type = crate::le32(ebpb, 17)? >> 8;
    // In sectors first, then one multiplication into bytes; every product is u32 x u32, a single
    // widening multiply on 32-bit targets. No overflow: at most 2^16 + 2^8 * 2^32 + 2^32 * 2^7 < 2^42
    // sectors, times at most 2^12 bytes < 2^54.
    let fat_sectors = u64::from(fats) * u64::from(fat_size);
    // 0 unless there is at least one FAT and it has a size: one test for both.
    if fat_type != u32::from_le_bytes(*b"FAT\0") || fat_sectors == 0 {
        return None;
    }
    let fats_end = u64::from(reserved_sectors) + fat_sectors;
    let (root_sector, len) = if fat32 {
        let first_cluster = le32(44)?.checked_sub(2)?;
        (
            fats_end + u64::from(first_cluster) * u64::from(sectors_per_cluster),
            cluster_bytes,
        )
    } else {
        (fats_end, u32::from(le16(17)?) * 32)
    };
    let root_dir = Region {
        offset: root_sector * u64::from(bytes_per_sector),
        len: len.min(ROOT_DIR_MAX),
    };
    let signature = ebpb[2];
    Some(BootSector {
        // Only the 0x29 signature promises the label and type fields.
        label: if signature == 0x29 {
            trimmed_label(&ebpb[7..18])
        } else {
            &[]
        },
        // The serial follows the signature; read whole, as one word.
        serial: if matches!(signature, 0x28 | 0x29) {
            le32(ext + 3).map(u32::to_be_bytes)
        } else {
            None
        },
        root_dir,
    })
}

/// The label of the volume-label entry in (the start of) a root directory, trailing spaces trimmed;
/// empty when there is none.
#[optimize(size)]
pub fn volume_label(root_dir: &[u8]) -> &[u8] {
    const DELETED: u8 = 0xE5;
    const LONG_NAME: u8 = 0x0F;
    const VOLUME_ID: u8 = 0x08;
    const DIRECTORY: u8 = 0x10;
    // Whole 32-byte entries as arrays: the constant offsets below are checked at compile time.
    for entry in root_dir.as_chunks::<32>().0 {
        let (first, attr) = (entry[0], entry[11]);
        if first == 0 {
            break; // the end of the directory
        }
        if first != DELETED && attr != LONG_NAME && attr & (VOLUME_ID | DIRECTORY) == VOLUME_ID {
            return trimmed_label(&entry[..11]);
        }
    }
    &[]
}

/// The label blkid reports: the root directory's, else the boot sector's (empty when neither has
/// one).
#[optimize(size)]
pub fn label<'a>(boot: &BootSector<'a>, root_dir_label: &'a [u8]) -> &'a [u8] {
    if root_dir_label.is_empty() {
        boot.label
    } else {
        root_dir_label
    }
}

/// How blkid prints a vfat UUID, from `BootSector::serial`: `ABCD-EF01`.
pub const SERIAL_FORM: HexForm = HexForm {
    dashes: 1 << 1,
    ten: b'A',
};

/// The serial as blkid prints a vfat UUID.
#[optimize(size)]
pub fn serial_text(serial: [u8; 4]) -> IdText {
    hex_text(&serial, SERIAL_FORM)
}

/// An 11-byte label without its padding; empty for `NO NAME`, what formatters write for "no label".
#[optimize(size)]
// Forced inline on x86_64 only: -24 B there, measured.
#[cfg_attr(target_arch = "x86_64", inline(always))]
fn trimmed_label(raw: &[u8]) -> &[u8] {
    let mut label = raw;
    while let [rest @ .., b' ' | 0] = label {
        label = rest;
    }
    // `NO NAME` as two overlapping words, bytes 0..4 and 3..7: two compares, not one per byte.
    let word = |at: usize| crate::le32(label, at);
    let no_name = label.len() == 7
        && word(0) == Some(u32::from_le_bytes(*b"NO N"))
        && word(3) == Some(u32::from_le_bytes(*b"NAME"));
    // Cut to nothing for `NO NAME` (a length, not a second slice: smaller).
    let len = if no_name { 0 } else { label.len() };
    label.get(..len).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devspec::test_images::{Scratch, blkid, mangled, read_at, run};
    use std::string::String;
    use std::vec::Vec;

    struct Image {
        boot: Vec<u8>,
        root_dir: Vec<u8>,
        blkid_label: String,
        blkid_uuid: String,
    }

    /// A real `mkfs.vfat` image of `kb` KiB; `extra` are more mkfs.vfat options.
    fn make(kb: u32, extra: &[&str]) -> Image {
        let dir = Scratch::new("vfat");
        let img = dir.file("fs.img");
        let path = img.to_str().unwrap();
        let kb = kb.to_string();
        run(
            "mkfs.vfat",
            &[&["-C"][..], extra, &[path, &kb]].concat(),
            "",
        );
        read(&img)
    }

    fn read(img: &std::path::Path) -> Image {
        let boot = read_at(img, 0, BOOT_SECTOR_LEN);
        let fs = parse(&boot).expect("a vfat boot sector");
        let root_dir = read_at(img, fs.root_dir.offset, fs.root_dir.len as usize);
        Image {
            boot,
            root_dir,
            blkid_label: blkid(img, "LABEL"),
            blkid_uuid: blkid(img, "UUID"),
        }
    }

    fn probe(image: &Image) -> (&[u8], IdText) {
        let fs = parse(&image.boot).unwrap();
        (
            label(&fs, volume_label(&image.root_dir)),
            serial_text(fs.serial.unwrap()),
        )
    }

    use std::string::ToString;

    #[test]
    fn reads_real_fat12_fat16_fat32() {
        for (bits, kb, label_arg) in [
            ("12", 1440, "boot"),
            ("16", 20_000, "BOOT PART"),
            ("32", 40_000, "RPI-BOOT"),
        ] {
            let image = make(kb, &["-F", bits, "-n", label_arg, "-i", "1a2b3c4d"]);
            let (found, serial) = probe(&image);
            assert_eq!(found, label_arg.as_bytes(), "FAT{bits}");
            assert_eq!(found, image.blkid_label.as_bytes());
            assert_eq!(serial.as_bytes(), b"1A2B-3C4D");
            assert_eq!(serial.as_bytes(), image.blkid_uuid.as_bytes());
            let fs = parse(&image.boot).unwrap();
            assert_eq!(fs.label, label_arg.as_bytes());
            assert!(fs.root_dir.len > 0 && fs.root_dir.len <= ROOT_DIR_MAX);
        }
    }

    #[test]
    fn fat32_with_files_added_by_mtools() {
        let dir = Scratch::new("vfat32");
        let img = dir.file("fs.img");
        let path = img.to_str().unwrap();
        run(
            "mkfs.vfat",
            &["-C", "-F", "32", "-s", "1", "-n", "boot", path, "40000"],
            "",
        );
        let file = dir.file("squashfs.ko");
        std::fs::write(&file, b"module").unwrap();
        run("mmd", &["-i", path, "::/modules"], "");
        run(
            "mcopy",
            &["-i", path, file.to_str().unwrap(), "::/modules/squashfs.ko"],
            "",
        );
        let image = read(&img);
        assert_eq!(probe(&image).0, b"boot");
        assert_eq!(image.blkid_label, "boot");
    }

    #[test]
    fn large_logical_sectors() {
        for sector in ["1024", "4096"] {
            let image = make(
                40_000,
                &["-F", "32", "-S", sector, "-n", "big", "-i", "cafe0001"],
            );
            assert_eq!(probe(&image).0, b"big");
            assert_eq!(image.blkid_label, "big");
            assert_eq!(probe(&image).1.as_bytes(), image.blkid_uuid.as_bytes());
        }
    }

    #[test]
    fn no_label_gives_none() {
        let image = make(1440, &["-i", "00000001"]);
        assert_eq!(probe(&image).0, b"");
        assert_eq!(image.blkid_label, "");
        assert_eq!(probe(&image).1.as_bytes(), image.blkid_uuid.as_bytes());
    }

    #[test]
    fn root_dir_label_wins_and_boot_label_is_the_fallback() {
        let mut image = make(1440, &["-n", "ROOTDIR"]);
        image.boot[43..54].copy_from_slice(b"BOOTSECTOR ");
        assert_eq!(probe(&image).0, b"ROOTDIR");
        // With the root-directory entry deleted, the boot sector's label is used.
        image.root_dir[0] = 0xE5;
        assert_eq!(probe(&image).0, b"BOOTSECTOR");
        // An end-of-directory entry stops the scan.
        image.root_dir[0] = 0;
        assert_eq!(volume_label(&image.root_dir), b"");
        // A boot sector without a label (`NO NAME`) leaves none.
        image.boot[43..54].copy_from_slice(b"NO NAME    ");
        assert_eq!(probe(&image).0, b"");
    }

    #[test]
    fn volume_label_skips_long_names_and_directories() {
        let mut dir = [0u8; 32 * 4];
        dir[..11].copy_from_slice(b"LONGNAME   ");
        dir[11] = 0x0F;
        dir[32..43].copy_from_slice(b"SUBDIR     ");
        dir[43] = 0x18; // a directory with the volume bit: not a label
        dir[64..75].copy_from_slice(b"MY LABEL   ");
        dir[75] = 0x08;
        assert_eq!(volume_label(&dir), b"MY LABEL");
        assert_eq!(volume_label(&dir[..64]), b"");
        assert_eq!(volume_label(&dir[..95]), b"", "a cut-off entry is ignored");
        dir[64..75].copy_from_slice(b"NO NAME    ");
        assert_eq!(volume_label(&dir), b"");
        dir[64..75].copy_from_slice(b"           ");
        assert_eq!(volume_label(&dir), b"", "a blank label is none");
    }

    #[test]
    fn formats_serial() {
        assert_eq!(serial_text([0, 0, 0, 0xAB]).as_bytes(), b"0000-00AB");
        assert_eq!(
            serial_text([0xDE, 0xAD, 0xBE, 0xEF]).as_bytes(),
            b"DEAD-BEEF"
        );
    }

    #[test]
    fn rejects_ext4_squashfs_mbr_and_zeros() {
        let dir = Scratch::new("notvfat");
        let ext4 = dir.file("ext4.img");
        crate::devspec::test_images::sparse(&ext4, 4 << 20);
        run(
            "mke2fs",
            &["-q", "-F", "-t", "ext4", ext4.to_str().unwrap()],
            "",
        );
        assert_eq!(parse(&read_at(&ext4, 0, 512)), None);

        let content = dir.file("content");
        std::fs::create_dir(&content).unwrap();
        std::fs::write(content.join("f"), b"data").unwrap();
        let squash = dir.file("root.img");
        let (c, s) = (content.to_str().unwrap(), squash.to_str().unwrap());
        run(
            "mksquashfs",
            &[c, s, "-noappend", "-all-root", "-quiet"],
            "",
        );
        assert_eq!(parse(&read_at(&squash, 0, 512)), None);

        let disk = dir.file("disk.img");
        crate::devspec::test_images::sparse(&disk, 8 << 20);
        run(
            "sfdisk",
            &["-q", disk.to_str().unwrap()],
            "label: dos\n,,c\n",
        );
        assert_eq!(parse(&read_at(&disk, 0, 512)), None);

        assert_eq!(parse(&[0; 512]), None);
    }

    #[test]
    fn rejects_insane_fields() {
        let image = make(1440, &["-n", "boot"]);
        let patch = |at: usize, bytes: &[u8]| {
            let mut copy = image.boot.clone();
            copy[at..at + bytes.len()].copy_from_slice(bytes);
            parse(&copy).map(|fs| (fs.label.to_vec(), fs.serial))
        };
        assert!(patch(0, &[]).is_some());
        assert!(patch(510, &[0x55, 0xAB]).is_none());
        assert!(patch(11, &256u16.to_le_bytes()).is_none());
        assert!(patch(11, &8192u16.to_le_bytes()).is_none());
        assert!(patch(11, &1536u16.to_le_bytes()).is_none());
        assert!(patch(11, &[0, 0]).is_none());
        for shift in 0..16 {
            let size = 1u16 << shift;
            let sane = (512..=4096).contains(&size);
            assert_eq!(patch(11, &size.to_le_bytes()).is_some(), sane, "{size}");
        }
        assert!(patch(13, &[3]).is_none());
        assert!(patch(13, &[0]).is_none());
        assert!(
            patch(13, &[6]).is_none(),
            "an even size that is no power of two"
        );
        assert!(patch(13, &[128]).is_some());
        assert!(patch(11, &768u16.to_le_bytes()).is_none());
        assert!(patch(14, &[0, 0]).is_none());
        assert!(patch(16, &[0]).is_none());
        assert!(patch(21, &[0x12]).is_none());
        assert!(patch(54, b"NTFS").is_none());
        // No extended signature: no serial, no label.
        assert_eq!(patch(38, &[0]), Some((Vec::new(), None)));
        assert!(parse(&image.boot[..511]).is_none());
    }

    #[test]
    fn fat32_with_bad_root_cluster_is_rejected() {
        let image = make(40_000, &["-F", "32"]);
        let mut boot = image.boot.clone();
        boot[44..48].copy_from_slice(&1u32.to_le_bytes());
        assert!(parse(&boot).is_none());
        boot[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&boot).is_some(), "a far cluster is only a far offset");
    }

    #[test]
    fn survives_truncated_and_corrupted() {
        for image in [
            make(1440, &["-n", "boot"]),
            make(40_000, &["-F", "32", "-n", "boot"]),
        ] {
            for bytes in mangled(&image.boot) {
                if let Some(fs) = parse(&bytes) {
                    assert!(fs.root_dir.len <= ROOT_DIR_MAX);
                    assert!(fs.label.len() <= 11);
                }
            }
            for bytes in mangled(&image.root_dir[..256]) {
                assert!(volume_label(&bytes).len() <= 11);
            }
        }
    }
}
