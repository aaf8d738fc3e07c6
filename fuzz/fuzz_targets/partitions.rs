//! Any bytes as the start of a disk; look up a few partition numbers, with the sector sizes the
//! kernel reports (512, 4096) and some it never does.
#![no_main]
use initramfs_overlay::partitions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|head: &[u8]| {
    for (number, sector_size) in [0, 1, 2, 3, 4, 5, 128, 129, u32::MAX]
        .into_iter()
        .flat_map(|n| [0, 1, 512, 4096, 1 << 20, usize::MAX].map(|size| (n, size)))
    {
        if let Some(part) = partitions::find(head, sector_size, number) {
            let uuid = part.uuid.as_bytes().len();
            assert!(uuid == 11 || uuid == 36);
            if let Some(label) = part.label {
                assert!(core::str::from_utf8(label.as_bytes()).is_ok());
            }
        }
    }
});
