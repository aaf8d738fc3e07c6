//! Any bytes as a load-order list.
#![no_main]
use initramfs_overlay::modlist;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|list: &[u8]| {
    for entry in modlist::entries(list) {
        match entry {
            Ok(path) => {
                assert!(!path.starts_with(b"/") && !path.contains(&b'\n') && !path.contains(&0));
                assert!(!path.split(|&b| b == b'/').any(|part| part == b".."));
                assert!(path.ends_with(b".ko") || modlist::is_compressed(path));
                let _ = modlist::is_compressed(path);
            }
            Err(rejected) => assert!(!rejected.line.is_empty()),
        }
    }
});
