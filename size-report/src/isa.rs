//! The i686 init must run on every i686 CPU, including those without SSE2 (Pentium II and III, AMD
//! Geode LX, Vortex86MX). It is built for `i586-unknown-linux-musl` with `-C target-cpu=i686` (see
//! .cargo/config.toml), since Rust's i686 target assumes a Pentium 4. The QEMU scenarios boot it on
//! a Pentium II, which catches only the paths a scenario runs; this check sees every path.

/// The instructions of an x86 disassembly that need more than an i686: any MMX or SSE register, the
/// SSE/SSE2 instructions that use none (fences, cache control, MXCSR), and the multi-byte NOPs
/// (`nopl`, `nopw`) that an i686 need not have (a Geode LX lacks them).
pub fn beyond_i686(disassembly: &str) -> Vec<String> {
    disassembly
        .lines()
        .filter_map(|line| {
            let instruction = line.split('\t').skip(1).collect::<Vec<_>>().join(" ");
            let mnemonic = instruction.split_whitespace().next()?;
            let needs_more = instruction.contains("%xmm")
                || instruction.contains("%mm")
                || matches!(
                    mnemonic,
                    "lfence" | "mfence" | "sfence" | "movnti" | "clflush" | "ldmxcsr" | "stmxcsr"
                )
                || (mnemonic.starts_with("nop") && mnemonic != "nop")
                || mnemonic.starts_with("prefetch");
            needs_more.then(|| instruction.trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_sse_and_mmx_but_not_i686_code() {
        let dis = "\n00401000 <init::boot>:\n  401000: f2 0f 10 00\tmovsd\t(%eax), %xmm0\n\
                   \x20 401004: 0f 44 c1\tcmovel\t%ecx, %eax\n  401007: 0f ae f0\tmfence\n\
                   \x20 40100a: 0f 6f 01\tmovq\t(%ecx), %mm0\n  40100d: cd 80\tint\t$0x80\n\
                   \x20 40100f: 90\tnop\n  401010: 0f 1f 40 00\tnopl\t(%eax)\n";
        assert_eq!(
            super::beyond_i686(dis),
            vec![
                "movsd (%eax), %xmm0",
                "mfence",
                "movq (%ecx), %mm0",
                "nopl (%eax)"
            ]
        );
        assert!(super::beyond_i686("00401000 <f>:\n  401000: 90\tnop\n").is_empty());
    }
}
