//! Any bytes as an ext4 superblock (from offset 1024).
#![no_main]
use initramfs_overlay::ext4;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|sb: &[u8]| {
    if let Some(fs) = ext4::parse(sb) {
        assert!(fs.label.len() <= 16 && !fs.label.contains(&0));
        assert_eq!(ext4::uuid_text(&fs).as_bytes().len(), 36);
    }
});
