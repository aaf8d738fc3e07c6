//! Panic paths left in the init. With `panic = "immediate-abort"` every reachable panic (a failed
//! bounds check, an `unwrap`, an overflow) compiles to a trap instruction (`ud2` on x86, `udf` on
//! ARM) and no panic symbol, so counting traps per function is how the report lists them. A few traps
//! are not panics: `_start`'s own and those the compiler puts after a call that never returns
//! (exit_group, execve in the child); a growing count is what to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

/// llvm-objdump from the toolchain's `llvm-tools` component (see rust-toolchain.toml): it
/// disassembles all three arches, which the host's binutils objdump does not.
fn objdump() -> Result<PathBuf, String> {
    let out = Command::new("rustc")
        .args(["--print", "target-libdir"])
        .output()
        .map_err(|e| format!("rustc: {e}"))?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let tool = libdir
        .parent()
        .map(|p| p.join("bin/llvm-objdump"))
        .unwrap_or_default();
    if tool.is_file() {
        Ok(tool)
    } else {
        Err(format!(
            "{} missing: rustup component add llvm-tools",
            tool.display()
        ))
    }
}

/// llvm-objdump's `-d --demangle` listing of `elf`: for `count` and `isa::beyond_i686`.
pub fn disassemble(elf: &Path) -> Result<String, String> {
    let out = Command::new(objdump()?)
        .arg("-d")
        .arg("--demangle")
        .arg(elf)
        .output()
        .map_err(|e| format!("llvm-objdump: {e}"))?;
    if !out.status.success() {
        return Err(format!("llvm-objdump failed on {}", elf.display()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Counts trap instructions per function in llvm-objdump's `-d` output.
pub fn count(disassembly: &str) -> Vec<(String, usize)> {
    let mut sites: Vec<(String, usize)> = Vec::new();
    let mut function = String::from("?");
    for line in disassembly.lines() {
        // A function starts with `<address> <name>:`.
        if let Some(name) = line
            .strip_suffix(">:")
            .and_then(|l| l.split_once(" <"))
            .map(|(_, n)| n)
        {
            function = name.to_string();
            continue;
        }
        let is_trap = line.split('\t').any(|field| {
            matches!(
                field.split_whitespace().next(),
                Some("ud2" | "udf" | "trap")
            )
        });
        if is_trap {
            match sites.iter_mut().find(|(f, _)| *f == function) {
                Some((_, n)) => *n += 1,
                None => sites.push((function.clone(), 1)),
            }
        }
    }
    sites.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sites
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_traps_per_function() {
        let dis = "\n0000000000401000 <init::boot>:\n  401000: 0f 0b\tud2\n  401002: c3\tretq\n\
                   \n0000000000401010 <init::probe>:\n  401010: 0f 0b\tud2\n  401012: 0f 0b\tud2\n\
                   \n00010000 <_start>:\n   10000: f0 00 f0 e7\tudf\t#0\n   10004: 00 00 a0 e1\tnop\n";
        let sites = super::count(dis);
        assert_eq!(
            sites,
            vec![
                ("init::probe".to_string(), 2),
                ("_start".to_string(), 1),
                ("init::boot".to_string(), 1)
            ]
        );
        assert!(super::count("0000 <f>:\n 0: 90\tnop\n").is_empty());
    }
}
