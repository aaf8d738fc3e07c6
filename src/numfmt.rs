//! Number printing without `core::fmt` (which costs 1.2 to 2.0 KB per target).

/// Room for any u64 in decimal.
pub const DEC_LEN: usize = 20;

/// Writes `n` in decimal into the end of `buf` and returns the digits.
pub fn dec(n: u64, buf: &mut [u8; DEC_LEN]) -> &[u8] {
    let mut i = DEC_LEN;
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or_default()
}

/// Parses an unsigned decimal with no sign, spaces or overflow.
pub fn parse_dec(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        let digit = c.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_decimal() {
        let mut b = [0; DEC_LEN];
        assert_eq!(dec(0, &mut b), b"0");
        assert_eq!(dec(1234, &mut b), b"1234");
        assert_eq!(dec(u64::MAX, &mut b), b"18446744073709551615");
    }

    #[test]
    fn parses_decimal() {
        assert_eq!(parse_dec(b"0"), Some(0));
        assert_eq!(parse_dec(b"10"), Some(10));
        assert_eq!(parse_dec(b""), None);
        assert_eq!(parse_dec(b"1x"), None);
        assert_eq!(parse_dec(b"-1"), None);
        assert_eq!(parse_dec(b"18446744073709551616"), None);
    }
}
