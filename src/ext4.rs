//! The label and UUID of an ext2/3/4 filesystem, from its superblock.

/// Where the superblock starts on the device.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
/// How many superblock bytes `parse` looks at (through the volume name).
pub const SUPERBLOCK_NEEDED: usize = 136;

const MAGIC: u16 = 0xEF53;
/// An external journal carries an ext4 superblock but is no filesystem (blkid calls it "jbd").
const INCOMPAT_JOURNAL_DEV: u32 = 0x0008;

#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Ext4<'a> {
    /// Up to 16 bytes, cut at the first NUL; empty when there is no label.
    pub label: &'a [u8],
    pub uuid: &'a [u8; 16],
}

/// Parses the superblock; `sb` starts at `SUPERBLOCK_OFFSET`. `None` if it is not an ext2/3/4 filesystem.
pub fn parse(sb: &[u8]) -> Option<Ext4<'_>> {
    // The needed bytes as one fixed-size array: the fields below are read at constant offsets, their
    // bounds checks fold away, and each is one load (also on ARM).
    let sb: &[u8; SUPERBLOCK_NEEDED] = sb.first_chunk()?;
    let le16 = |at: usize| crate::le16(sb, at);
    let le32 = |at: usize| crate::le32(sb, at);
    // Magic, block size 1 KiB..64 KiB (log 0..6), and not a journal device.
    if le16(56)? != MAGIC || le32(24)? > 6 || le32(96)? & INCOMPAT_JOURNAL_DEV != 0 {
        return None;
    }
    let (uuid, name) = (&sb[104..120], &sb[120..]);
    let label = name.split(|&b| b == 0).next().unwrap_or(name);
    Some(Ext4 {
        label,
        uuid: uuid.try_into().ok()?,
    })
}

/// The filesystem UUID as blkid prints it.
#[inline(always)]
pub fn uuid_text(fs: &Ext4) -> crate::devspec::IdText {
    crate::devspec::hex_text(fs.uuid, UUID_FORM)
}

/// How blkid prints an ext4 UUID (`uuid`'s bytes in order): the standard lowercase form. `probe`
/// pairs the bytes with this, as `uuid_text` does.
pub const UUID_FORM: crate::devspec::HexForm = crate::devspec::UUID_FORM;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devspec::test_images::{Scratch, blkid, mangled, read_at, run, sparse};
    use std::vec::Vec;

    /// A real `mke2fs` image; returns the superblock bytes and what blkid says.
    fn make(
        kind: &str,
        label: &str,
        uuid: &str,
    ) -> (Vec<u8>, std::string::String, std::string::String) {
        let dir = Scratch::new("ext4");
        let img = dir.file("fs.img");
        sparse(&img, 8 << 20);
        let path = img.to_str().unwrap();
        let mut args = std::vec!["-q", "-F", "-t", kind, "-U", uuid, path];
        if !label.is_empty() {
            args.splice(0..0, ["-L", label]);
        }
        run("mke2fs", &args, "");
        let sb = read_at(&img, SUPERBLOCK_OFFSET, 1024);
        (sb, blkid(&img, "LABEL"), blkid(&img, "UUID"))
    }

    #[test]
    fn reads_real_ext2_ext3_ext4() {
        let uuid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        for (kind, label) in [
            ("ext2", "boot"),
            ("ext3", "overlay"),
            ("ext4", "img"),
            ("ext4", ""),
        ] {
            let (sb, blkid_label, blkid_uuid) = make(kind, label, uuid);
            let fs = parse(&sb).expect(kind);
            assert_eq!(fs.label, label.as_bytes(), "{kind}");
            assert_eq!(fs.label, blkid_label.as_bytes());
            assert_eq!(uuid_text(&fs).as_bytes(), uuid.as_bytes());
            assert_eq!(uuid_text(&fs).as_bytes(), blkid_uuid.as_bytes());
            // Only the first SUPERBLOCK_NEEDED bytes matter.
            assert_eq!(parse(&sb[..SUPERBLOCK_NEEDED]), Some(fs));
            assert_eq!(parse(&sb[..SUPERBLOCK_NEEDED - 1]), None);
        }
    }

    #[test]
    fn full_16_byte_label_has_no_nul() {
        let (sb, blkid_label, _) = make(
            "ext4",
            "0123456789abcdef",
            "00000000-0000-4000-8000-000000000001",
        );
        assert_eq!(parse(&sb).unwrap().label, b"0123456789abcdef");
        assert_eq!(blkid_label, "0123456789abcdef");
    }

    #[test]
    fn rejects_other_data() {
        let (sb, _, _) = make("ext4", "img", "00000000-0000-4000-8000-000000000001");
        assert!(parse(&[0; 1024]).is_none());
        let mut bad_magic = sb.clone();
        bad_magic[56] ^= 1;
        assert!(parse(&bad_magic).is_none());
        let mut huge_blocks = sb.clone();
        huge_blocks[24] = 7;
        assert!(parse(&huge_blocks).is_none());
        let mut journal = sb.clone();
        journal[96] |= 0x08;
        assert!(parse(&journal).is_none());
    }

    #[test]
    fn rejects_a_real_journal_device() {
        let dir = Scratch::new("jbd");
        let img = dir.file("journal.img");
        sparse(&img, 4 << 20);
        run(
            "mke2fs",
            &[
                "-q",
                "-F",
                "-O",
                "journal_dev",
                "-b",
                "1024",
                img.to_str().unwrap(),
            ],
            "",
        );
        assert!(parse(&read_at(&img, SUPERBLOCK_OFFSET, 1024)).is_none());
    }

    #[test]
    fn survives_truncated_and_corrupted() {
        let (sb, _, _) = make("ext4", "img", "00000000-0000-4000-8000-000000000001");
        for bytes in mangled(&sb[..256]) {
            if let Some(fs) = parse(&bytes) {
                assert!(fs.label.len() <= 16);
            }
        }
    }
}
