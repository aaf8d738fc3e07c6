//! `KEY=value` lines of sysfs `uevent` files, which name a block device's parent disk and its
//! partition number without readlink (which rustix only offers with an allocator).

/// The value after `key_eq` (a key with its `=`) in `text`, e.g.
/// `value(b"DEVNAME=vda\nPARTN=1\n", b"PARTN=") == Some(b"1")`.
pub fn value<'t>(text: &'t [u8], key_eq: &[u8]) -> Option<&'t [u8]> {
    // Each line in turn, found once: its key, or on to the next line.
    let mut rest = text;
    loop {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let (line, next) = rest.split_at_checked(end)?;
        if let Some(value) = line.strip_prefix(key_eq) {
            return Some(value);
        }
        rest = next.get(1..)?;
    }
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
        // Only at the start of a line; the last line needs no newline.
        assert_eq!(
            super::value(b"XPARTN=9\nPARTN=2", b"PARTN="),
            Some(&b"2"[..])
        );
    }
}
