//! gzip (RFC 1952) around miniz_oxide's raw deflate at its highest level, in blocks that end where
//! a search found the stream smallest.

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};

/// miniz_oxide's highest compression level.
pub const LEVEL: u8 = 10;

/// Inputs up to this size get the block search (below): every standard image (about 22 KB). A debug
/// image (2 MB with busybox) would take minutes, and its size is not a goal, so it is one block
/// sequence as miniz makes it.
pub const SPLIT_SEARCH_MAX: usize = 64 * 1024;

/// The search tries a block end every this many bytes, or at most 512 places.
const SPLIT_STEP: usize = 64;

/// A gzip member: fixed header (mtime 0, so output depends on the input only), deflate, CRC-32, size.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=2 (max compression) OS=3 (Unix)
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3];
    out.extend_from_slice(&deflate(data));
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Raw deflate of `data` at [`LEVEL`], never larger than miniz's own block sequence.
///
/// Each deflate block has its own Huffman codes. miniz ends a block only when its buffer fills, so a
/// small image is one block, coded for a mix of machine code, tables and message text at once. Ending
/// a block where the content changes lets each part have codes of its own: measured on the standard
/// images, 297 / 304 / 347 B smaller (x86_64 / i686 / armv6l, three or four block ends each). A block
/// end is miniz's partial flush, an empty fixed block of 10 bits; the window carries over, so matches
/// still reach back across it. The search is greedy, as zopfli's block splitting: add the one block
/// end that makes the whole stream smallest, and again, until none helps; then move each end to where
/// the stream is smallest near it. It is deterministic, so the images stay reproducible.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut ends: Vec<usize> = Vec::new();
    let mut best = deflate_blocks(data, &ends);
    if data.len() > SPLIT_SEARCH_MAX {
        return best;
    }
    // Coarse: add the best block end on a grid, while one helps.
    let step = SPLIT_STEP.max(data.len() / 512);
    let grid: Vec<usize> = (step..data.len()).step_by(step).collect();
    while let Some(trial) = smallest(
        data,
        &mut best,
        grid.iter().map(|&end| with(&ends, None, end)),
    ) {
        ends = trial;
    }
    // Fine: move each end within a grid step, 4 bytes at a time (-35 / -16 / -14 B more).
    let mut moved = true;
    while moved {
        moved = false;
        // `ends` can shrink on the way: an end moved onto its neighbour is one end fewer.
        let mut i = 0;
        while let Some(&end) = ends.get(i) {
            let near = (end.saturating_sub(step)..=end + step).step_by(4);
            let trials = near
                .filter(|&end| end > 0 && end < data.len())
                .map(|end| with(&ends, Some(i), end));
            if let Some(trial) = smallest(data, &mut best, trials) {
                ends = trial;
                moved = true;
            }
            i += 1;
        }
    }
    best
}

/// `ends` with `end` added (or put in the place of `ends[replace]`), sorted, without repeats.
fn with(ends: &[usize], replace: Option<usize>, end: usize) -> Vec<usize> {
    let mut trial = ends.to_vec();
    match replace {
        Some(i) => trial[i] = end,
        None => trial.push(end),
    }
    trial.sort_unstable();
    trial.dedup();
    trial
}

/// The trial whose stream is smaller than `best` and than every other trial's (the first of equals),
/// with `best` set to its stream; `None` when no trial beats `best`.
fn smallest(
    data: &[u8],
    best: &mut Vec<u8>,
    trials: impl Iterator<Item = Vec<usize>>,
) -> Option<Vec<usize>> {
    let mut winner = None;
    for trial in trials {
        let out = deflate_blocks(data, &trial);
        if out.len() < best.len() {
            *best = out;
            winner = Some(trial);
        }
    }
    winner
}

/// Raw deflate of `data` with a block ending at each offset in `ends` (ascending, inside `data`).
fn deflate_blocks(data: &[u8], ends: &[usize]) -> Vec<u8> {
    // Raw deflate (negative window bits: no zlib wrapper), default strategy: as `compress_to_vec`.
    let mut compressor =
        CompressorOxide::new(create_comp_flags_from_zip_params(LEVEL.into(), -15, 0));
    let mut out = vec![0; data.len() / 2 + 64];
    let mut used = 0;
    let mut start = 0;
    for (i, &end) in ends.iter().chain([&data.len()]).enumerate() {
        let last = i == ends.len();
        let flush = if last {
            TDEFLFlush::Finish
        } else {
            TDEFLFlush::Partial
        };
        let mut input = &data[start..end];
        loop {
            // Room for the flush's bytes too: miniz stops when the output is full and goes on at the
            // next call.
            if out.len() - used < input.len() + 64 {
                out.resize(used + input.len() + 64 + out.len(), 0);
            }
            let (status, taken, written) =
                compress(&mut compressor, input, &mut out[used..], flush);
            used += written;
            input = &input[taken..];
            match status {
                TDEFLStatus::Done => break,
                TDEFLStatus::Okay if input.is_empty() && !last => {
                    // The room made above outlasts any block: miniz never stopped for a full
                    // output, so the flush is complete.
                    assert!(used < out.len(), "deflate output buffer filled");
                    break;
                }
                TDEFLStatus::Okay => {}
                other => panic!("miniz_oxide failed to compress: {other:?}"),
            }
        }
        start = end;
    }
    out.truncate(used);
    out
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32 (IEEE, reflected), as gzip stores it.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, b| {
        CRC_TABLE[((c ^ *b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// `gzip -dc` of `gz`: the system's gzip, not miniz, judges the stream.
    fn system_gunzip(gz: &[u8]) -> Vec<u8> {
        let mut child = Command::new("gzip")
            .arg("-dc")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(gz).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        out.stdout
    }

    #[test]
    fn system_gzip_decompresses() {
        // Above SPLIT_SEARCH_MAX: one block sequence, as miniz makes it.
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        assert!(data.len() > SPLIT_SEARCH_MAX);
        let gz = gzip(&data);
        assert!(gz.len() < data.len() / 10);
        assert_eq!(system_gunzip(&gz), data);
        assert_eq!(gzip(&data), gz, "deterministic");
    }

    /// Text, then bytes of a different distribution: as an init's message text beside its code.
    fn mixed(len: usize) -> Vec<u8> {
        let text = b"cannot mount the image partition; no free loop device; promoted ";
        let mut data: Vec<u8> = text.iter().cycle().take(len / 2).copied().collect();
        // A fixed xorshift, so the test is the same on every run.
        let mut x = 0x2545_f491_u32;
        data.extend((0..len / 2).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Mostly small values, some large: skewed, so Huffman codes matter.
            (x % 7 * (x >> 29)) as u8
        }));
        data
    }

    #[test]
    fn block_ends_make_mixed_content_smaller() {
        let data = mixed(16 * 1024);
        let one_sequence = miniz_oxide::deflate::compress_to_vec(&data, LEVEL);
        let split = deflate(&data);
        assert!(
            split.len() < one_sequence.len(),
            "{} >= {}",
            split.len(),
            one_sequence.len()
        );
        assert_eq!(
            miniz_oxide::inflate::decompress_to_vec(&split).unwrap(),
            data
        );
        let gz = gzip(&data);
        assert_eq!(system_gunzip(&gz), data);
        assert_eq!(gzip(&data), gz, "deterministic");
    }

    #[test]
    fn above_the_limit_is_miniz_own_sequence() {
        let data = mixed(SPLIT_SEARCH_MAX + 2);
        assert_eq!(
            deflate(&data),
            miniz_oxide::deflate::compress_to_vec(&data, LEVEL)
        );
    }

    /// `len` bytes of 700-byte regions, each text, noise, skewed bytes or a counter, in an order
    /// drawn from `seed`: content that changes often, so the search places many block ends, some
    /// of which its fine phase moves onto a neighbour.
    fn patchwork(seed: u32, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9) | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut data = Vec::with_capacity(len);
        while data.len() < len {
            let kind = next() % 4;
            for i in 0..700u32 {
                data.push(match kind {
                    0 => b"no free loop device; cannot mount "[(i % 34) as usize],
                    1 => next() as u8,
                    2 => (next() % 7 * (next() >> 29)) as u8,
                    _ => i as u8,
                });
            }
        }
        data.truncate(len);
        data
    }

    #[test]
    fn search_round_trips_and_never_grows() {
        let mut inputs = vec![Vec::new(), vec![7], (0..=255u8).collect(), mixed(3000)];
        // Incompressible, below the limit.
        inputs.push(
            patchwork(3, 20_000)
                .iter()
                .map(|b| b.wrapping_mul(167) ^ 0x5a)
                .collect(),
        );
        inputs.extend((1..=24).map(|seed| patchwork(seed, 6000)));
        inputs.push(patchwork(99, 20_000));
        for data in inputs {
            let split = deflate(&data);
            assert!(split.len() <= miniz_oxide::deflate::compress_to_vec(&data, LEVEL).len());
            assert_eq!(
                miniz_oxide::inflate::decompress_to_vec(&split).unwrap(),
                data
            );
        }
    }
}
