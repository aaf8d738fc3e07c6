//! Any bytes as a device spec, matched against identities cut from the same bytes; and the hex formatter.
#![no_main]
use initramfs_overlay::devspec::{self, Identity};
use initramfs_overlay::partitions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (spec_text, rest) =
        data.split_at(data.iter().position(|&b| b == b'\n').unwrap_or(data.len()));
    let mut fields = rest.split(|&b| b == b'\n');
    let id: Identity = core::array::from_fn(|_| fields.next().unwrap_or(b""));
    if let Some(spec) = devspec::parse(spec_text) {
        let _ = spec.matches(&id);
        let (tag, value) = spec.describe();
        assert!(!value.is_empty() && tag.len() <= 10);
    }
    let upper = data.first().is_some_and(|b| b & 1 == 1);
    let form = devspec::HexForm {
        dashes: devspec::UUID_FORM.dashes,
        ten: if upper { b'A' } else { b'a' },
    };
    let text = devspec::hex_text(data, form);
    // Two digits per byte and at most the four dashes of a UUID, cut at the text's capacity.
    assert!(text.as_bytes().len() <= 2 * data.len() + 4);
    if let Some(guid) = data.first_chunk::<16>() {
        let mut text = devspec::IdText::new();
        partitions::push_guid(&mut text, guid);
        assert_eq!(text.as_bytes().len(), 36);
        assert_eq!(devspec::uuid_text(guid).as_bytes().len(), 36);
    }
});
