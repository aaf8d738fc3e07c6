//! Any bytes as the start of a disk; look up a few partition numbers.
#![no_main]
use initramfs_overlay::partitions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|head: &[u8]| {
    for number in [0, 1, 2, 3, 4, 5, 128, 129, u32::MAX] {
        if let Some(part) = partitions::find(head, number) {
            let uuid = part.uuid.as_bytes().len();
            assert!(uuid == 11 || uuid == 36);
            if let Some(label) = part.label {
                assert!(core::str::from_utf8(label.as_bytes()).is_ok());
            }
        }
    }
});
