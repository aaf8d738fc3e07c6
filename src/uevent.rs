//! `KEY=value` lines of sysfs `uevent` files, which name a block device's parent disk and its
//! partition number without readlink (which rustix only offers with an allocator).

/// The value after `key_eq` (a key with its `=`) in `text`, e.g.
/// `value(b"DEVNAME=vda\nPARTN=1\n", b"PARTN=") == Some(b"1")`.
pub fn value<'t>(text: &'t [u8], key_eq: &[u8]) -> Option<&'t [u8]> {
    text.split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(key_eq))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_values_by_whole_key() {
        let text = b"MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\nPARTNAME=img\n";
        assert_eq!(super::value(text, b"DEVNAME="), Some(&b"vda1"[..]));
        assert_eq!(super::value(text, b"PARTN="), Some(&b"1"[..]));
        assert_eq!(super::value(text, b"PART="), None);
        assert_eq!(super::value(text, b"MISSING="), None);
        assert_eq!(super::value(b"", b"X="), None);
    }
}
