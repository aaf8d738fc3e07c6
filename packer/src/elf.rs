//! Just enough ELF (32 and 64 bit, little endian) to check a binary's machine and strip it.

use crate::{Result, fail};

pub const EM_386: u16 = 3;
pub const EM_ARM: u16 = 40;
pub const EM_X86_64: u16 = 62;

/// Header fields we need, from either class.
struct Ehdr {
    is64: bool,
    phoff: usize,
    phentsize: usize,
    phnum: usize,
    ehsize: usize,
}

fn le(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n]
        .iter()
        .rev()
        .fold(0, |v, x| (v << 8) | *x as u64)
}

fn ehdr(elf: &[u8]) -> Result<Ehdr> {
    if elf.len() < 52 || &elf[..4] != b"\x7fELF" {
        fail!("not an ELF file");
    }
    if elf[5] != 1 {
        fail!("not a little-endian ELF file");
    }
    let is64 = match elf[4] {
        1 => false,
        2 if elf.len() >= 64 => true,
        _ => fail!("bad ELF class {}", elf[4]),
    };
    let (phoff, o) = if is64 {
        (le(elf, 0x20, 8), 0x34)
    } else {
        (le(elf, 0x1c, 4), 0x28)
    };
    let h = Ehdr {
        is64,
        phoff: phoff as usize,
        ehsize: le(elf, o, 2) as usize,
        phentsize: le(elf, o + 2, 2) as usize,
        phnum: le(elf, o + 4, 2) as usize,
    };
    let min_ph = if is64 { 56 } else { 32 };
    if h.phnum == 0
        || h.phentsize < min_ph
        || h.phoff.saturating_add(h.phnum * h.phentsize) > elf.len()
    {
        fail!("ELF program headers missing or out of bounds");
    }
    if h.ehsize < if is64 { 64 } else { 52 } || h.ehsize > elf.len() {
        fail!("bad ELF header size {}", h.ehsize);
    }
    Ok(h)
}

/// `e_machine` of an ELF file (e.g. [`EM_X86_64`]).
pub fn machine(elf: &[u8]) -> Result<u16> {
    ehdr(elf)?;
    Ok(le(elf, 18, 2) as u16)
}

/// The name of an `e_machine` value, for messages.
pub fn machine_name(m: u16) -> String {
    match m {
        EM_386 => "i386".into(),
        EM_ARM => "ARM".into(),
        EM_X86_64 => "x86-64".into(),
        m => format!("e_machine {m}"),
    }
}

/// A stripped copy: only the ELF header, the program header table and the bytes that program
/// headers cover survive (other bytes before the end become zeros); the file ends where the last
/// of them ends, and `e_shoff`, `e_shnum` and `e_shstrndx` become 0. Section headers, `.symtab`,
/// `.strtab`, `.comment` and the like are gone. The kernel loads the result the same way.
pub fn strip_elf(elf: &[u8]) -> Result<Vec<u8>> {
    let h = ehdr(elf)?;
    let mut ranges = vec![(0, h.ehsize), (h.phoff, h.phoff + h.phnum * h.phentsize)];
    for i in 0..h.phnum {
        let p = h.phoff + i * h.phentsize;
        let (offset, filesz) = if h.is64 {
            (le(elf, p + 8, 8), le(elf, p + 32, 8))
        } else {
            (le(elf, p + 4, 4), le(elf, p + 16, 4))
        };
        let end = offset
            .checked_add(filesz)
            .filter(|e| *e <= elf.len() as u64);
        match end {
            _ if filesz == 0 => {}
            Some(end) => ranges.push((offset as usize, end as usize)),
            None => fail!("ELF program header {i} points past the end of the file"),
        }
    }
    let len = ranges.iter().map(|r| r.1).max().unwrap_or(0);
    let mut out = vec![0u8; len];
    for (a, b) in ranges {
        out[a..b].copy_from_slice(&elf[a..b]);
    }
    let (shoff, shoff_len, o) = if h.is64 {
        (0x28, 8, 0x3c)
    } else {
        (0x20, 4, 0x30)
    };
    out[shoff..shoff + shoff_len].fill(0);
    out[o..o + 4].fill(0); // e_shnum, e_shstrndx
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::process::Command;

    /// A toy static binary that exits with 42, built by the system C compiler.
    fn toy(dir: &std::path::Path, flags: &[&str]) -> Option<Vec<u8>> {
        let src = dir.join("toy.c");
        std::fs::write(
            &src,
            "static const char msg[] = \"hi\\n\";\n\
             void _start(void) { __asm__ volatile(\"mov $1,%%edi\\n lea %0,%%rsi\\n mov $3,%%edx\\n mov $1,%%eax\\n syscall\\n\
             mov $42,%%edi\\n mov $60,%%eax\\n syscall\" :: \"m\"(msg)); }\n",
        )
        .unwrap();
        let out = dir.join("toy");
        let ok = Command::new("cc")
            .args(["-static", "-nostdlib", "-O2", "-g"])
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .status()
            .ok()?
            .success();
        ok.then(|| std::fs::read(&out).unwrap())
    }

    #[test]
    fn strip_runs_and_drops_sections() {
        let t = TempDir::new("strip");
        let elf = toy(t.path(), &[]).expect("cc builds a static toy");
        let stripped = strip_elf(&elf).unwrap();
        assert!(
            stripped.len() < elf.len(),
            "{} !< {}",
            stripped.len(),
            elf.len()
        );
        assert_eq!(machine(&stripped).unwrap(), EM_X86_64);
        assert_eq!(le(&stripped, 0x28, 8), 0, "e_shoff");
        assert_eq!(le(&stripped, 0x3c, 2), 0, "e_shnum");
        assert_eq!(le(&stripped, 0x3e, 2), 0, "e_shstrndx");
        assert_eq!(strip_elf(&stripped).unwrap(), stripped, "idempotent");
        let path = t.path().join("stripped");
        std::fs::write(&path, &stripped).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(42));
        assert_eq!(out.stdout, b"hi\n");
        // readelf agrees there are no sections left.
        let re = Command::new("readelf").arg("-S").arg(&path).output();
        if let Ok(re) = re {
            assert!(
                String::from_utf8_lossy(&re.stdout).contains("no sections"),
                "{}",
                String::from_utf8_lossy(&re.stdout)
            );
        }
    }

    #[test]
    fn strip_elf32() {
        // A hand-made ELF32 ARM file: header, one PT_LOAD of 8 bytes at 0x54, then "section" junk.
        let mut e = vec![0u8; 0x54 + 8 + 16];
        e[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
        e[18] = EM_ARM as u8;
        e[0x1c] = 52; // e_phoff
        e[0x20] = 0x5c; // e_shoff
        e[0x28] = 52; // e_ehsize
        e[0x2a] = 32; // e_phentsize
        e[0x2c] = 1; // e_phnum
        e[0x30] = 1; // e_shnum
        e[0x32] = 1; // e_shstrndx
        e[52] = 1; // PT_LOAD
        e[52 + 4] = 0x54; // p_offset
        e[52 + 16] = 8; // p_filesz
        e[0x54..0x5c].copy_from_slice(b"codecode");
        e[0x5c..].fill(0xee);
        let s = strip_elf(&e).unwrap();
        assert_eq!(s.len(), 0x5c);
        assert_eq!(&s[0x54..], b"codecode");
        assert_eq!((s[0x20], s[0x30], s[0x32]), (0, 0, 0));
        assert_eq!(machine(&s).unwrap(), EM_ARM);
    }

    #[test]
    fn rejects_garbage() {
        assert!(
            strip_elf(b"#!/bin/sh\necho hi\n")
                .unwrap_err()
                .0
                .contains("not an ELF")
        );
        let mut e = vec![0u8; 64];
        e[..6].copy_from_slice(b"\x7fELF\x02\x02");
        assert!(strip_elf(&e).unwrap_err().0.contains("little-endian"));
        e[5] = 1;
        assert!(strip_elf(&e).unwrap_err().0.contains("program headers"));
    }
}
