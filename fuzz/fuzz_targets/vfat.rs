//! The first 512 bytes as a boot sector, the rest as the start of its root directory.
#![no_main]
use initramfs_overlay::vfat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (boot, root_dir) = data.split_at(data.len().min(vfat::BOOT_SECTOR_LEN));
    let root_label = vfat::volume_label(root_dir);
    // No label is told as an empty one, never as `NO NAME`.
    assert!(root_label.len() <= 11 && root_label != b"NO NAME");
    if let Some(fs) = vfat::parse(boot) {
        assert!(fs.root_dir.len <= vfat::ROOT_DIR_MAX);
        assert!(fs.label.len() <= 11 && fs.label != b"NO NAME");
        let _ = vfat::label(&fs, root_label);
        if let Some(serial) = fs.serial {
            assert_eq!(vfat::serial_text(serial).as_bytes().len(), 9);
        }
    }
});
