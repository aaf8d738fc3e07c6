//! Any bytes as the start of a squashfs image of any size.
#![no_main]
use initramfs_overlay::squashfs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u64, &[u8])| {
    let (file_size, header) = input;
    if let Ok(sb) = squashfs::check(header, file_size) {
        assert!(sb.bytes_used > 0 && sb.bytes_used <= file_size);
    }
});
