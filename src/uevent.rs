//! `KEY=value` lines of sysfs `uevent` files, which name a block device's parent disk and its
//! partition number without readlink (which rustix only offers with an allocator).

/// The value after `key_eq` (a key with its `=`) in `text`, e.g.
/// `value(b"DEVNAME=vda\nPARTN=1\n", b"PARTN=") == Some(b"1")`.
pub fn value<'t>(text: &'t [u8], key_eq: &[u8]) -> Option<&'t [u8]> {
    // At the start of each line in turn: the key there, or on to the next line.
    let mut line = text;
    loop {
        if let Some(rest) = line.strip_prefix(key_eq) {
            return rest.split(|&b| b == b'\n').next();
        }
        let end = line.iter().position(|&b| b == b'\n')?;
        line = line.get(end + 1..)?;
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
