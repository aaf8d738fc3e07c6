//! SHA-256 (FIPS 180-4), streaming, kept small: whole blocks are compressed straight from the data and
//! the rest goes into the pending block a byte at a time (no slice copies, and the padding is just
//! more bytes), one loop per block and no unrolled tables beyond the 64 round constants. The digest stays in words: a sidecar is parsed into words too, so no byte
//! conversion on either side. Plus the parser of a `<image>.sha256` sidecar in `sha256sum` format.

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A running SHA-256: `new`, any number of `update`s, then `finish`.
// In this order (C layout, not Rust's): measured smallest, -8 / -12 / 0 B against Rust's own order.
#[derive(Clone)]
#[repr(C)]
pub struct Sha256 {
    state: [u32; 8],
    /// Total bytes hashed so far; `len % 64` bytes of `block` are pending.
    len: u64,
    block: [u8; 64],
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    #[optimize(size)]
    pub fn new() -> Self {
        Sha256 {
            state: H0,
            block: [0; 64],
            len: 0,
        }
    }

    /// Hashes more bytes. A byte loop alone is small but does ~15% more work than the compression;
    /// whole blocks taken in place make it ~2% less than copying slices into the block.
    pub fn update(&mut self, mut data: &[u8]) {
        // Where the pending bytes end; the length counts the new bytes at once, so the loop needs
        // no 64-bit arithmetic on 32-bit targets.
        let mut at = (self.len % 64) as usize;
        self.len += data.len() as u64;
        while let [byte, rest @ ..] = data {
            let block = match data.split_first_chunk::<64>() {
                // A whole block straight from the data when none is pending.
                Some((whole, after)) if at == 0 => {
                    data = after;
                    whole
                }
                // Else a byte into the pending block, compressed once it is full.
                _ => {
                    if let Some(slot) = self.block.get_mut(at) {
                        *slot = *byte;
                    }
                    data = rest;
                    at += 1;
                    if at != 64 {
                        continue;
                    }
                    at = 0;
                    &self.block
                }
            };
            compress(&mut self.state, block);
        }
    }

    /// Pads, and returns the digest as eight big-endian words (the form `parse_sidecar` gives); the
    /// hasher is spent after it. Taking `&mut self` spares a copy of the whole state.
    #[optimize(size)]
    pub fn finish(&mut self) -> [u32; 8] {
        let bits = self.len.wrapping_mul(8);
        // 0x80, zeros up to 56 mod 64, then the length in bits. One call for both kinds of byte.
        let mut byte = 0x80;
        loop {
            self.update(&[byte]);
            byte = 0;
            if self.len % 64 == 56 {
                break;
            }
        }
        self.update(&bits.to_be_bytes());
        self.state
    }
}

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    // The message schedule in one loop: the block's 16 words, then each word made from earlier ones.
    let (words, _) = block.as_chunks::<4>();
    let mut w = [0u32; 64];
    for i in 0..64 {
        w[i] = match words.get(i) {
            Some(&word) => u32::from_be_bytes(word),
            None => {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w[i - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[i - 7])
                    .wrapping_add(s1)
            }
        };
    }
    let mut v = *state;
    for i in 0..64 {
        let [a, b, c, d, e, f, g, h] = v;
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        // Ch and Maj in their equal forms with one operation fewer each (FIPS 180-4's own are longer).
        let ch = g ^ (e & (f ^ g));
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) | (c & (a | b));
        v = [
            t1.wrapping_add(s0).wrapping_add(maj),
            a,
            b,
            c,
            d.wrapping_add(t1),
            e,
            f,
            g,
        ];
    }
    for (s, x) in state.iter_mut().zip(v) {
        *s = s.wrapping_add(x);
    }
}

/// The digest of `data` in one call.
pub fn digest(data: &[u8]) -> [u32; 8] {
    let mut h = Sha256::new();
    h.update(data);
    h.finish()
}

/// Reads a sidecar in `sha256sum` format: 64 hex digits (either case), then the end, or white space and
/// a file name (which is not checked: the sidecar sits beside its image). A leading `\` (sha256sum's
/// mark for an escaped name) is allowed. The digest comes as eight big-endian words, as `finish` gives it.
#[optimize(size)]
pub fn parse_sidecar(text: &[u8]) -> Option<[u32; 8]> {
    let mut digest = [0; 8];
    parse_sidecar_into(text, &mut digest).map(|()| digest)
}

/// `parse_sidecar` into the caller's `digest`, whose every bit the 64 digits shift in (so it may hold
/// anything before): the digest is not copied out of an `Option` (-24 B on x86_64). None when the text
/// is not a sidecar.
#[optimize(size)]
pub fn parse_sidecar_into(text: &[u8], digest: &mut [u32; 8]) -> Option<()> {
    let text = match text {
        [b'\\', rest @ ..] => rest,
        _ => text,
    };
    for (i, &c) in text.get(..64)?.iter().enumerate() {
        let digit = char::from(c).to_digit(16)?;
        if let Some(word) = digest.get_mut(i / 8) {
            *word = *word << 4 | digit;
        }
    }
    matches!(text.get(64), None | Some(b' ' | b'\t' | b'\n' | b'\r')).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn hex(d: &[u32; 8]) -> String {
        d.iter().map(|w| std::format!("{w:08x}")).collect()
    }

    #[test]
    fn nist_vectors() {
        assert_eq!(
            hex(&digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&digest(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        // One million 'a', fed in uneven pieces to exercise the streaming path.
        let mut h = Sha256::new();
        let chunk = [b'a'; 997];
        let mut left = 1_000_000;
        while left > 0 {
            let n = left.min(chunk.len());
            h.update(&chunk[..n]);
            left -= n;
        }
        assert_eq!(
            hex(&h.finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn block_boundaries_match_one_shot() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in [55, 56, 63, 64, 65, 119, 120, 128, 300] {
            let whole = digest(&data[..len]);
            for split in [0, 1, 31, 63, 64, len] {
                let split = split.min(len);
                let mut h = Sha256::new();
                h.update(&data[..split]);
                h.update(&data[split..len]);
                assert_eq!(h.finish(), whole, "len {len} split {split}");
            }
        }
    }

    #[test]
    fn matches_sha256sum_at_every_padding_length() {
        let dir = std::env::temp_dir().join(std::format!("iovl-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("random.bin");
        let mut data = std::vec![0u8; 1_234_567];
        let mut x = 0x1234_5678_9abc_def1u64;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        // Every padding case (the length field in the same block or the next), then a large file.
        let lengths = (0..=130).chain([1_234_567]);
        for len in lengths {
            std::fs::write(&path, &data[..len]).unwrap();
            let out = std::process::Command::new("sha256sum")
                .arg(&path)
                .output()
                .expect("sha256sum must be installed");
            assert!(out.status.success());
            let mut h = Sha256::new();
            for part in data[..len].chunks(4096 + 17) {
                h.update(part);
            }
            let ours = h.finish();
            assert_eq!(parse_sidecar(&out.stdout), Some(ours), "length {len}");
            assert_eq!(String::from_utf8(out.stdout).unwrap()[..64], hex(&ours));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sidecar_formats() {
        let abc = digest(b"abc");
        let lower = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let upper = lower.to_uppercase();
        assert_eq!(parse_sidecar(lower.as_bytes()), Some(abc));
        assert_eq!(parse_sidecar(upper.as_bytes()), Some(abc));
        assert_eq!(
            parse_sidecar(std::format!("{lower}\n").as_bytes()),
            Some(abc)
        );
        assert_eq!(
            parse_sidecar(std::format!("{lower}  root-squashfs.img\n").as_bytes()),
            Some(abc)
        );
        assert_eq!(
            parse_sidecar(std::format!("{lower} *root-squashfs.img\n").as_bytes()),
            Some(abc)
        );
        assert_eq!(
            parse_sidecar(std::format!("\\{lower}  a\\\\b\n").as_bytes()),
            Some(abc)
        );
        // Into a digest holding anything before: every bit is shifted in (update::verify relies on it).
        let mut any = [0x9e37_79b9; 8];
        assert_eq!(parse_sidecar_into(lower.as_bytes(), &mut any), Some(()));
        assert_eq!(any, abc);
        assert!(parse_sidecar(b"").is_none());
        assert!(parse_sidecar(&lower.as_bytes()[..63]).is_none());
        assert!(parse_sidecar(std::format!("{lower}0").as_bytes()).is_none());
        assert!(parse_sidecar(std::format!("g{}", &lower[1..]).as_bytes()).is_none());
        assert!(parse_sidecar(std::format!(" {lower}").as_bytes()).is_none());
        // Every neighbour of a hex digit range is refused, at either end and in the middle.
        for bad in ['/', ':', '@', 'G', '`', 'g', ' ', '\0'] {
            for at in [0, 31, 63] {
                let mut text = lower.to_string().into_bytes();
                text[at] = bad as u8;
                assert!(parse_sidecar(&text).is_none(), "{bad:?} at {at}");
            }
        }
    }
}
