//! The parent disk and number of a partition, from the partition's name alone: the kernel names
//! partitions after their disk (block/partitions/core.c, `add_partition`), so neither sysfs nor
//! readlink (which rustix only offers with an allocator) is needed.

use crate::numfmt::parse_dec;

/// The disk's name and the partition's number in the name `name` gets from the kernel: the disk's
/// name and the number, with a `p` between when the disk's name ends in a digit (`vda1`: `vda` and
/// 1, `mmcblk0p2`: `mmcblk0` and 2). `None` for a name that does not end in a number, which no
/// partition's does. A whole disk whose name does (`md0`, `nvme0n1`) gets a name that no block device
/// with a partition table has (`md`, `nvme0n`; `pktcdvd0` gives a folder of /dev): what opens under
/// it, if anything, reads as no partition table, so no entry is found.
#[optimize(size)]
pub fn split(name: &[u8]) -> Option<(&[u8], u32)> {
    // The number: the digits at the end.
    let start = name
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let (disk, number) = name.split_at_checked(start)?;
    let number = u32::try_from(parse_dec(number)?).ok()?;
    let disk = match disk {
        [.., b'0'..=b'9', b'p'] => disk.split_last().map_or(disk, |(_, rest)| rest),
        _ => disk,
    };
    Some((disk, number))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn names_the_disk_and_number() {
        assert_eq!(split(b"vda1"), Some((&b"vda"[..], 1)));
        assert_eq!(split(b"sdab12"), Some((&b"sdab"[..], 12)));
        assert_eq!(split(b"mmcblk0p2"), Some((&b"mmcblk0"[..], 2)));
        assert_eq!(split(b"nvme0n1p3"), Some((&b"nvme0n1"[..], 3)));
        assert_eq!(split(b"loop0p1"), Some((&b"loop0"[..], 1)));
        // A `p` after a letter is part of the disk's name.
        assert_eq!(split(b"xvdp4"), Some((&b"xvdp"[..], 4)));
        // Whole disks: no number, or a name whose disk does not exist (`md`, `nvme0n`).
        assert_eq!(split(b"vda"), None);
        assert_eq!(split(b""), None);
        assert_eq!(split(b"md0"), Some((&b"md"[..], 0)));
        assert_eq!(split(b"nvme0n1"), Some((&b"nvme0n"[..], 1)));
        assert_eq!(split(b"1"), Some((&b""[..], 1)));
        assert_eq!(split(b"sda99999999999"), None);
    }
}
