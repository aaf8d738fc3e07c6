//! What is in an unstripped init: its biggest sections and symbols, and whether panic or
//! formatting machinery got linked in.

use object::{Architecture, Object, ObjectSection, ObjectSymbol, SectionFlags, SymbolKind};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElfInfo {
    /// Allocated sections (name, bytes), biggest first.
    pub sections: Vec<(String, u64)>,
    /// Function and data symbols (demangled name, bytes), biggest first.
    pub symbols: Vec<(String, u64)>,
    /// False when the file has no symbol table (then nothing can be said about panics).
    pub has_symtab: bool,
    /// Symbols that belong to panic or `core::fmt` machinery (demangled).
    pub panic_symbols: Vec<String>,
    /// Per hot pattern found (see [`HOT`]): the pattern, and the first byte and the end of the
    /// functions whose names hold it.
    pub hot: Vec<(String, u64, u64)>,
}

/// Code whose speed the tests measure, as parts of function names: SHA-256 (its block function
/// is inlined into `Sha256::update`) hashes every byte of an update. QEMU's TCG runs a loop that
/// crosses a 4 KiB page at about half speed (the update's verification went from 1.7 s to 3.3 s
/// when a size change moved it across one), so linker/init.ld places these functions right after
/// `_start` and `just size` checks that together they stay within one page.
pub const HOT: &[&str] = &["initramfs_overlay::sha256::"];

/// Whether `[start, end)` spans more than one 4 KiB page.
pub fn crosses_page(start: u64, end: u64) -> bool {
    end > start && start / 4096 != (end - 1) / 4096
}

/// A symbol that shows panic or formatting machinery was linked.
pub fn is_panic_symbol(demangled: &str) -> bool {
    demangled.contains("panic") || demangled.contains("core::fmt")
}

pub fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

pub fn inspect(data: &[u8], hot: &[String]) -> Result<ElfInfo, String> {
    let file = object::File::parse(data).map_err(|e| format!("not a readable ELF file: {e}"))?;
    let mut info = ElfInfo::default();
    for s in file.sections() {
        let alloc = matches!(s.flags(), SectionFlags::Elf { sh_flags, .. } if sh_flags.contains(object::elf::SHF_ALLOC));
        if alloc && s.size() > 0 {
            info.sections
                .push((s.name().unwrap_or("?").to_string(), s.size()));
        }
    }
    for sym in file.symbols() {
        info.has_symtab = true;
        let Ok(raw) = sym.name() else { continue };
        if raw.is_empty() {
            continue;
        }
        let name = demangle(raw);
        if is_panic_symbol(&name) {
            info.panic_symbols.push(name.clone());
        }
        if let Some(pattern) = hot.iter().find(|h| name.contains(h.as_str()))
            && sym.kind() == SymbolKind::Text
        {
            // ARM marks a Thumb function by bit 0 of its address.
            let start = sym.address() & !u64::from(file.architecture() == Architecture::Arm);
            let end = start + sym.size();
            match info.hot.iter_mut().find(|(p, ..)| p == pattern) {
                Some((_, first, last)) => (*first, *last) = ((*first).min(start), (*last).max(end)),
                None => info.hot.push((pattern.clone(), start, end)),
            }
        }
        if matches!(sym.kind(), SymbolKind::Text | SymbolKind::Data) && sym.size() > 0 {
            info.symbols.push((name, sym.size()));
        }
    }
    info.sections
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    info.symbols
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    info.panic_symbols.sort();
    info.panic_symbols.dedup();
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_names() {
        assert!(is_panic_symbol(&demangle(
            "_ZN4core9panicking9panic_fmt17h0123456789abcdefE"
        )));
        assert!(is_panic_symbol(&demangle(
            "_ZN4core3fmt5write17h0123456789abcdefE"
        )));
        assert_eq!(
            demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        assert!(!is_panic_symbol("initramfs_overlay::mount_all"));
        assert!(!is_panic_symbol("memcpy"));
    }

    #[test]
    fn page_crossing() {
        assert!(!crosses_page(0x4000c0, 0x40029a));
        assert!(
            !crosses_page(0x400000, 0x401000),
            "ends exactly at the page end"
        );
        assert!(
            crosses_page(0x402ec9, 0x4030a3),
            "the layout that was twice as slow"
        );
        assert!(crosses_page(0x400fff, 0x401001));
        assert!(!crosses_page(0x401000, 0x401000), "empty");
    }

    /// This test binary itself: a host ELF with symbols, std's panic machinery included.
    #[test]
    fn inspects_a_real_elf() {
        let exe = std::env::current_exe().unwrap();
        let info = inspect(&std::fs::read(exe).unwrap(), &[]).unwrap();
        assert!(info.has_symtab);
        assert!(info.sections.iter().any(|(n, _)| n == ".text"));
        assert!(info.sections.windows(2).all(|w| w[0].1 >= w[1].1), "sorted");
        assert!(info.symbols.windows(2).all(|w| w[0].1 >= w[1].1), "sorted");
        assert!(!info.panic_symbols.is_empty());
        // The stripped copy has neither sections nor symbols left.
        let stripped =
            packer::strip_elf(&std::fs::read(std::env::current_exe().unwrap()).unwrap()).unwrap();
        let s = inspect(&stripped, &[]).unwrap();
        assert!(!s.has_symtab && s.sections.is_empty());
        assert!(inspect(b"not elf", &[]).is_err());
    }
}
