//! Any bytes as a `<image>.sha256` sidecar file, and as a block device's name.
#![no_main]
use initramfs_overlay::{partname, sha256};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    if let Some(digest) = sha256::parse_sidecar(text) {
        // A digest can only come from 64 hex digits at the start of the file.
        assert!(text.len() >= 64);
        let _ = digest;
    }
    // A partition's disk is the start of its name, and the number its digits at the end.
    if let Some((disk, number)) = partname::split(text) {
        assert!(text.starts_with(disk));
        let digits = &text[disk.len()..];
        let digits = digits.strip_prefix(b"p").unwrap_or(digits);
        assert!(!digits.is_empty() && digits.iter().all(u8::is_ascii_digit));
        assert_eq!(std::str::from_utf8(digits).unwrap().parse::<u32>(), Ok(number));
    }
});
