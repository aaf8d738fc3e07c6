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
        // Texts left by a previous lookup: `find` must replace them.
        let mut part = partitions::Partition::EMPTY;
        part.uuid.push_byte(b'x');
        part.label.push_byte(0xff);
        if partitions::find(head, sector_size, number, &mut part).is_some() {
            let uuid = part.uuid.as_bytes().len();
            assert!(uuid == 11 || uuid == 36);
            let label = part.label.as_bytes();
            assert!(uuid == 36 || label.is_empty(), "an MBR has no labels");
            assert!(core::str::from_utf8(label).is_ok());
        }
    }
});
