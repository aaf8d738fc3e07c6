//! Any bytes as a `<image>.sha256` sidecar file, and as sysfs uevent text.
#![no_main]
use initramfs_overlay::{sha256, uevent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    if let Some(digest) = sha256::parse_sidecar(text) {
        // A digest can only come from 64 hex digits at the start of the file.
        assert!(text.len() >= 64);
        let _ = digest;
    }
    // The key as the init passes it, with its `=`: the value is the rest of a line that starts
    // with exactly `PARTN=` (so never a `PARTNAME=` line's).
    if let Some(value) = uevent::value(text, b"PARTN=") {
        assert!(!value.contains(&b'\n'));
        let start = value.as_ptr() as usize - text.as_ptr() as usize;
        assert_eq!(&text[start - 6..start], b"PARTN=");
        assert!(start == 6 || text[start - 7] == b'\n');
    }
});
