//! Number printing without `core::fmt` (which costs 1.2 to 2.0 KB per target).

use core::mem::MaybeUninit;

/// Room for any u64 in decimal.
pub const DEC_LEN: usize = 20;

/// The buffer `dec` and `errnames::text` write their text into, uninitialised until then.
pub type Digits = [MaybeUninit<u8>; DEC_LEN];

/// Room for `dec`'s digits, uninitialised: `dec` writes the bytes it returns, so no place that makes
/// one spends stores on zeroing it first (about ten places; on x86_64 two stores each).
#[inline(always)]
pub fn digits() -> Digits {
    [MaybeUninit::uninit(); DEC_LEN]
}

/// Fills `buf` (zeros, then `n` in decimal at its end) and returns the digits.
pub fn dec(n: u64, buf: &mut Digits) -> &[u8] {
    // Made here, where one zeroing serves every caller, then copied out as the bytes returned.
    let mut text = [0; DEC_LEN];
    let mut i = DEC_LEN;
    let mut n = n;
    loop {
        i -= 1;
        let (quotient, digit) = div_rem(n, 10);
        text[i] = b'0' + digit as u8;
        n = quotient;
        if n == 0 {
            break;
        }
    }
    // All of it, a fixed length: on x86_64 a few moves (ARM calls memcpy, i686 uses `rep movsb`).
    let text: &[u8] = buf.write_copy_of_slice(&text);
    text.get(i..).unwrap_or_default()
}

/// `n / d` and `n % d` for a nonzero `d`. 64-bit targets divide in one instruction.
#[cfg(target_pointer_width = "64")]
pub fn div_rem(n: u64, d: u32) -> (u64, u32) {
    (n / u64::from(d), (n % u64::from(d)) as u32)
}

/// `n / d` and `n % d` for a nonzero `d`. On ARM a 64-bit `/` links compiler_builtins' general
/// division (0.7 KB: ARM has no divide instruction at all); the few divisions here are for log lines
/// and sleeps, so one bit per step is fast enough.
#[cfg(all(target_pointer_width = "32", not(target_arch = "x86")))]
#[inline(always)]
pub fn div_rem(n: u64, d: u32) -> (u64, u32) {
    let mut rem = 0;
    let quotient = divide(n, d, &mut rem);
    (quotient, rem)
}

/// `div_rem` out of line: the quotient comes back in registers and the remainder through `rem`. A
/// returned pair is written to the caller's stack, and a 64-bit value there made each caller
/// realign its stack to 8 bytes on i686 (this way -32 B there, -24 B on ARM, before i686 got its own
/// `div_rem`).
#[cfg(all(target_pointer_width = "32", not(target_arch = "x86")))]
#[inline(never)]
fn divide(n: u64, d: u32, rem: &mut u32) -> u64 {
    let quotient;
    (quotient, *rem) = div_rem_by_bits(n, d);
    quotient
}

/// `n / d` and `n % d` for a nonzero `d`. On i686 two of the CPU's 64-by-32-bit divisions (see
/// `rawsys::div_rem_by_div`), where a 64-bit `/` would link compiler_builtins' general one (0.3 KB).
/// Inlined: the pair comes back in registers, not through a stack slot that LLVM aligns to 8 bytes
/// (a realigned frame in each caller).
#[cfg(target_arch = "x86")]
#[inline(always)]
pub fn div_rem(n: u64, d: u32) -> (u64, u32) {
    crate::rawsys::div_rem_by_div(n, d)
}

/// Long division in base 2: shift `n` out at the top one bit at a time into the remainder, and the
/// quotient bits in at the bottom.
#[cfg_attr(
    any(target_pointer_width = "64", target_arch = "x86"),
    allow(dead_code)
)]
fn div_rem_by_bits(mut n: u64, d: u32) -> (u64, u32) {
    let mut rem = 0u32;
    for _ in 0..64 {
        // `rem` is below `d`, so doubled it needs 33 bits: `carry` is the 33rd. With it set, the
        // remainder is 2^32 + `rem` > `d`, and the difference fits 32 bits again.
        let carry = rem >> 31;
        rem = (rem << 1) | (n >> 63) as u32;
        n <<= 1;
        if carry != 0 || rem >= d {
            rem = rem.wrapping_sub(d);
            n |= 1;
        }
    }
    (n, rem)
}

/// Parses an unsigned decimal with no sign or spaces, below `PARSE_LIMIT`.
#[inline(always)]
pub fn parse_dec(s: &[u8]) -> Option<u64> {
    let n = dec_value(s);
    (n != NOT_DECIMAL).then_some(n)
}

/// `parse_dec`'s result, or `NOT_DECIMAL` (above `PARSE_LIMIT`, so no number's value): a plain
/// `u64` comes back in registers, an `Option<u64>` through the stack on 32-bit targets.
const NOT_DECIMAL: u64 = u64::MAX;

#[inline(never)]
fn dec_value(s: &[u8]) -> u64 {
    if s.is_empty() {
        return NOT_DECIMAL;
    }
    let mut n = 0u64;
    for &c in s {
        let digit = c.wrapping_sub(b'0');
        // Below 2^59 before a digit is added, the number cannot overflow: no overflow-checked 64-bit
        // multiply or add (on 32-bit targets the test is of one bit range of the upper word).
        if digit >= 10 || n >> 59 != 0 {
            return NOT_DECIMAL;
        }
        n = n * 10 + u64::from(digit);
    }
    n
}

/// `parse_dec` refuses this and larger: the first number with a prefix of 2^59 (above every value
/// the init reads: seconds in milliseconds and partition numbers stop far below it).
pub const PARSE_LIMIT: u64 = (1 << 59) * 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_decimal() {
        let mut b = digits();
        assert_eq!(dec(0, &mut b), b"0");
        assert_eq!(dec(1234, &mut b), b"1234");
        assert_eq!(dec(u64::MAX, &mut b), b"18446744073709551615");
        for (n, text) in [
            (9, "9"),
            (10, "10"),
            (10u64.pow(19), "10000000000000000000"),
        ] {
            assert_eq!(dec(n, &mut b), text.as_bytes());
        }
    }

    #[test]
    fn divides_by_bits_as_the_cpu_does() {
        let numbers = [
            0,
            1,
            9,
            10,
            11,
            999,
            1000,
            65_535,
            1 << 32,
            (1 << 32) + 7,
            u64::MAX - 1,
            u64::MAX,
        ];
        for n in numbers
            .into_iter()
            .chain((0..2000).map(|i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        {
            for d in [
                1,
                2,
                3,
                10,
                1000,
                1_000_000,
                0x7FFF_FFFF,
                0x8000_0001,
                u32::MAX,
            ] {
                let expected = (n / u64::from(d), (n % u64::from(d)) as u32);
                assert_eq!(div_rem_by_bits(n, d), expected, "{n} / {d}");
                assert_eq!(div_rem(n, d), expected, "{n} / {d}");
                #[cfg(target_arch = "x86_64")]
                assert_eq!(crate::rawsys::div_rem_by_div(n, d), expected, "{n} / {d}");
            }
        }
    }

    #[test]
    fn parses_decimal() {
        assert_eq!(parse_dec(b"0"), Some(0));
        assert_eq!(parse_dec(b"10"), Some(10));
        assert_eq!(parse_dec(b""), None);
        assert_eq!(parse_dec(b"1x"), None);
        assert_eq!(parse_dec(b"-1"), None);
        assert_eq!(parse_dec(b"18446744073709551616"), None);
        let limit = std::format!("{PARSE_LIMIT}");
        let below = std::format!("{}", PARSE_LIMIT - 1);
        assert_eq!(parse_dec(limit.as_bytes()), None);
        assert_eq!(parse_dec(below.as_bytes()), Some(PARSE_LIMIT - 1));
        // `NOT_DECIMAL` is no number's value.
        assert_eq!(parse_dec(b"18446744073709551615"), None);
    }
}
