//! Any bytes as /proc/cmdline.
#![no_main]
use initramfs_overlay::cmdline;
use initramfs_overlay::log::{Level, Log};
use libfuzzer_sys::fuzz_target;

struct Discard;

impl Log for Discard {
    fn line(&mut self, _: Level, parts: &[&[u8]]) {
        assert!(!parts.is_empty());
    }
}

fuzz_target!(|line: &[u8]| {
    for (name, value) in cmdline::params(line) {
        assert!(name.len() + value.map_or(0, <[u8]>::len) <= line.len());
    }
    if let Ok(config) = cmdline::parse(line, &mut Discard) {
        assert!(config.init.starts_with(b"/"));
        assert!(!config.image.is_empty() && !config.image.contains(&b'/'));
        for spec in config.specs {
            let _ = spec.describe();
        }
    }
});
