//! The squashfs 4.0 superblock: enough to recognise an image and to refuse a truncated or foreign one
//! before the kernel is asked to mount it (a bad image would only fill the kernel log with noise).

/// Bytes of the superblock at offset 0 of the image.
pub const SUPERBLOCK_LEN: usize = 96;

/// "hsqs" read as a little-endian u32.
const MAGIC: u32 = 0x7371_7368;

/// The fields the init uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Superblock {
    /// Bytes of the image that hold data; the file may be longer (mksquashfs pads to 4 KiB).
    pub bytes_used: u64,
    pub block_size: u32,
    /// 1 gzip, 2 lzma, 3 lzo, 4 xz, 5 lz4, 6 zstd.
    pub compression: u16,
    pub inode_count: u32,
}

/// Why a header is not a usable squashfs 4.0 image. A number rather than a text, so that a caller can
/// carry it in a byte; `text` says it in words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Bad {
    TooShort,
    Magic,
    Version,
    BlockSize,
    NoData,
    Truncated,
}

/// The texts of `Bad`, in its order, each ended by a newline (see `crate::nth`). A macro as well, so
/// that the update's table of messages can start with them (`concat!` takes only literals).
macro_rules! reasons {
    () => {
        "image too short for a squashfs superblock
not a squashfs image (bad magic)
unsupported squashfs version (not 4.x)
corrupt squashfs superblock (bad block size)
corrupt squashfs superblock (bytes_used is 0)
truncated squashfs image (bytes_used > file size)
"
    };
}
pub(crate) use reasons;
pub const REASONS: &str = reasons!();

impl Bad {
    pub fn text(self) -> &'static [u8] {
        crate::nth(REASONS, self as usize)
    }
}

/// Parses the superblock at the start of `header`; says what is wrong when it is not squashfs 4.0.
// Forced inline on x86_64 only: -8 B there, measured.
#[cfg_attr(target_arch = "x86_64", inline(always))]
pub fn parse(header: &[u8]) -> Result<Superblock, Bad> {
    let sb: &[u8; SUPERBLOCK_LEN] = header
        .get(..SUPERBLOCK_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(Bad::TooShort)?;
    // Constant offsets into a fixed-size array: the bounds checks fold away (the 0 is never taken),
    // and each field is one load, also on ARM.
    let u16_at = |at: usize| crate::le16(sb, at).unwrap_or(0);
    let u32_at = |at: usize| crate::le32(sb, at).unwrap_or(0);
    if u32_at(0) != MAGIC {
        return Err(Bad::Magic);
    }
    if u16_at(28) != 4 {
        return Err(Bad::Version);
    }
    let block_size = u32_at(12);
    // The kernel takes 4 KiB to 1 MiB, a power of two that block_log must name.
    let block_log = u16_at(22);
    if !matches!(block_log, 12..=20) || block_size != 1 << block_log {
        return Err(Bad::BlockSize);
    }
    let bytes_used = u64::from(u32_at(40)) | u64::from(u32_at(44)) << 32;
    if bytes_used == 0 {
        return Err(Bad::NoData);
    }
    Ok(Superblock {
        bytes_used,
        block_size,
        compression: u16_at(20),
        inode_count: u32_at(4),
    })
}

/// Parses `header` and checks that a file of `file_size` bytes holds the whole image.
pub fn check(header: &[u8], file_size: u64) -> Result<Superblock, Bad> {
    let sb = parse(header)?;
    if sb.bytes_used > file_size {
        return Err(Bad::Truncated);
    }
    Ok(sb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::vec::Vec;

    /// A reason as text, to compare with literals.
    fn text(bad: Bad) -> &'static str {
        core::str::from_utf8(bad.text()).unwrap()
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(std::format!("iovl-sqfs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A real image made by mksquashfs; the test fails (never skips) when the tool is missing.
    fn make_image(dir: &Path, extra: &[&str]) -> Vec<u8> {
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("etc")).unwrap();
        std::fs::write(src.join("etc/hostname"), b"pi\n").unwrap();
        std::fs::write(src.join("big"), std::vec![7u8; 200_000]).unwrap();
        let img = dir.join("img");
        let status = std::process::Command::new("mksquashfs")
            .arg(&src)
            .arg(&img)
            .args(["-noappend", "-all-root", "-quiet", "-no-progress"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("mksquashfs must be installed (squashfs-tools)");
        assert!(status.success());
        std::fs::read(img).unwrap()
    }

    #[test]
    fn accepts_real_images() {
        let dir = temp_dir("real");
        for (extra, block, comp) in [
            (&[][..], 131072, 1),
            (&["-b", "4096", "-comp", "xz"][..], 4096, 4),
        ] {
            let img = make_image(&dir, extra);
            let sb = check(&img, img.len() as u64).unwrap();
            assert_eq!(sb.block_size, block);
            assert_eq!(sb.compression, comp);
            assert_eq!(sb.inode_count, 4);
            assert!(sb.bytes_used <= img.len() as u64 && sb.bytes_used + 4096 > img.len() as u64);
            // Exactly bytes_used is enough: the padding is optional.
            assert!(check(&img, sb.bytes_used).is_ok());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_truncated_and_corrupt_images() {
        let dir = temp_dir("bad");
        let img = make_image(&dir, &[]);
        let sb = parse(&img).unwrap();
        assert_eq!(
            check(&img, sb.bytes_used - 1).map_err(text),
            Err("truncated squashfs image (bytes_used > file size)")
        );
        for len in [0, 1, 40, 47, 95] {
            assert_eq!(
                parse(&img[..len]).map_err(text),
                Err("image too short for a squashfs superblock")
            );
        }
        let corrupt = |at: usize, val: &[u8]| {
            let mut b = img[..SUPERBLOCK_LEN].to_vec();
            b[at..at + val.len()].copy_from_slice(val);
            check(&b, img.len() as u64).map_err(text)
        };
        assert_eq!(corrupt(0, b"hsqt"), Err("not a squashfs image (bad magic)"));
        assert_eq!(corrupt(0, b"sqsh"), Err("not a squashfs image (bad magic)")); // big-endian squashfs 3
        assert_eq!(
            corrupt(28, &3u16.to_le_bytes()),
            Err("unsupported squashfs version (not 4.x)")
        );
        assert_eq!(
            corrupt(40, &0u64.to_le_bytes()),
            Err("corrupt squashfs superblock (bytes_used is 0)")
        );
        assert_eq!(
            corrupt(12, &8192u32.to_le_bytes()),
            Err("corrupt squashfs superblock (bad block size)")
        );
        assert_eq!(
            corrupt(22, &40u16.to_le_bytes()),
            Err("corrupt squashfs superblock (bad block size)")
        );
        assert_eq!(
            corrupt(40, &u64::MAX.to_le_bytes()),
            Err("truncated squashfs image (bytes_used > file size)")
        );
        // Zeros and noise of every length never panic.
        let mut x = 1u32;
        let mut noise = [0u8; 128];
        for b in noise.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        for len in 0..noise.len() {
            assert!(check(&noise[..len], u64::MAX).is_err());
            assert!(check(&[0u8; 128][..len], u64::MAX).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
