//! `size-report`: per arch, the stripped init's size, whether panic machinery is linked, the
//! standard and debug image sizes, each against `size-report/budgets.toml`; then the biggest
//! sections and symbols of each unstripped init. Exits 1 when anything is over its budget, a
//! file is missing, the i686 init needs more than an i686, or a hot function (elfinfo::HOT)
//! crosses a page; 2 on bad usage or a bad budgets file.

mod budgets;
mod elfinfo;
mod isa;
mod traps;

use budgets::{Item, Status};
use packer::Arch;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
size-report: sizes of the init and the images, checked against size-report/budgets.toml

USAGE: size-report [--arch ARCH]... [--target-dir DIR] [--budgets FILE] [--top N]
  --arch ARCH        armv6l, i686 or x86_64 (repeat; default all three)
  --target-dir DIR   default <workspace>/target; reads <triple>/<profile>/init (cargo profile `init`, `init-thumb` on ARM)
                     and init-<version>-<arch>[-debug].gz
  --budgets FILE     default size-report/budgets.toml
  --top N            how many sections and symbols to list per arch (default 8)

Exit status: 0 all within budget, 1 something over budget, missing or failing a check, 2 usage or budgets error.
";

struct Opts {
    arches: Vec<Arch>,
    target: PathBuf,
    budgets: PathBuf,
    top: usize,
    /// Parts of function names whose functions must stay within one 4 KiB page (elfinfo::HOT).
    hot: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Option<Opts>, String> {
    let mut o = Opts {
        arches: Vec::new(),
        target: packer::target_dir(),
        budgets: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/budgets.toml")),
        top: 8,
        hot: elfinfo::HOT.iter().map(|h| h.to_string()).collect(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--arch" => o.arches.push(Arch::parse(&val()?).map_err(|e| e.0)?),
            "--target-dir" => o.target = val()?.into(),
            "--budgets" => o.budgets = val()?.into(),
            "--top" => {
                o.top = val()?
                    .parse()
                    .map_err(|_| "--top needs a number".to_string())?
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if o.arches.is_empty() {
        o.arches = Arch::ALL.to_vec();
    }
    Ok(Some(o))
}

/// One arch's measurements.
struct Row {
    arch: Arch,
    init: Status,
    image: Status,
    debug: Status,
    panic: String,
    /// Functions with trap instructions: the panic paths left (see traps.rs).
    traps: Result<Vec<(String, usize)>, String>,
    /// i686 only: instructions an i686 without SSE cannot run (see isa.rs); must be none.
    beyond_i686: Vec<String>,
    info: Option<elfinfo::ElfInfo>,
    init_path: PathBuf,
}

fn file_size(p: &Path) -> Result<u64, String> {
    std::fs::metadata(p)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", p.display()))
}

fn measure(o: &Opts, b: &budgets::Budgets, arch: Arch) -> Row {
    let init_path = packer::init_binary(&o.target, arch);
    let elf = std::fs::read(&init_path).map_err(|e| format!("{}: {e}", init_path.display()));
    let stripped = elf.as_ref().map_err(Clone::clone).and_then(|e| {
        packer::strip_elf(e)
            .map(|s| s.len() as u64)
            .map_err(|err| format!("{}: {err}", init_path.display()))
    });
    let info = elf
        .as_ref()
        .ok()
        .and_then(|e| elfinfo::inspect(e, &o.hot).ok());
    let panic = match &info {
        None => "?".to_string(),
        Some(i) if !i.has_symtab => "unknown (no symbols)".to_string(),
        Some(i) if i.panic_symbols.is_empty() => "no".to_string(),
        Some(i) => format!("YES ({} symbols)", i.panic_symbols.len()),
    };
    let gz = |debug| file_size(&o.target.join(packer::image_name(arch, debug)));
    let disassembly = traps::disassemble(&init_path);
    let beyond_i686 = match (&disassembly, arch) {
        (Ok(d), Arch::I686) => isa::beyond_i686(d),
        _ => Vec::new(),
    };
    Row {
        arch,
        init: budgets::check(b, arch.name(), Item::Init, stripped),
        image: budgets::check(b, arch.name(), Item::Image, gz(false)),
        debug: budgets::check(b, arch.name(), Item::DebugImage, gz(true)),
        panic,
        traps: disassembly.map(|d| traps::count(&d)),
        beyond_i686,
        info,
        init_path,
    }
}

/// Left-aligned first column, the others right-aligned.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c == 0 {
                    format!("{s:<w$}", w = width[c])
                } else {
                    format!("{s:>w$}", w = width[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn report(o: &Opts, b: &budgets::Budgets) -> (String, bool) {
    let rows: Vec<Row> = o.arches.iter().map(|a| measure(o, b, *a)).collect();
    let mut t = vec![vec![
        "arch".to_string(),
        "init stripped / budget".into(),
        "image .gz / budget".into(),
        "debug .gz / budget".into(),
        "panic/fmt linked".into(),
        "trap sites".into(),
    ]];
    for r in &rows {
        t.push(vec![
            r.arch.name().into(),
            r.init.cell(),
            r.image.cell(),
            r.debug.cell(),
            r.panic.clone(),
            match &r.traps {
                Ok(sites) => sites.iter().map(|(_, n)| n).sum::<usize>().to_string(),
                Err(_) => "?".into(),
            },
        ]);
    }
    let mut out = format!(
        "initramfs-overlay {} sizes in bytes\n\n{}",
        packer::VERSION,
        table(&t)
    );
    let mut failed = false;
    for r in &rows {
        for (item, s) in [
            (Item::Init, &r.init),
            (Item::Image, &r.image),
            (Item::DebugImage, &r.debug),
        ] {
            failed |= s.failed();
            match s {
                Status::Missing { what } => out.push_str(&format!("MISSING {} {}: {what}\n", r.arch, item.name())),
                Status::NoBudget { .. } => {
                    out.push_str(&format!("NO BUDGET for {} {} in {}\n", r.arch, item.name(), o.budgets.display()))
                }
                Status::Over { bytes, budget } => out.push_str(&format!(
                    "OVER BUDGET {} {}: {bytes} > {budget}; shrink it, or raise the budget with a written reason\n",
                    r.arch,
                    item.name()
                )),
                Status::Ok { .. } => {}
            }
        }
    }
    for r in &rows {
        // The panic-path listing is part of the report: a missing disassembler is an error.
        failed |= r.traps.is_err();
        if let Some(first) = r.beyond_i686.first() {
            failed = true;
            out.push_str(&format!(
                "NOT I686 {}: {} instructions need more than an i686 (SSE, MMX or NOPL; first: {first}); check its target-cpu in .cargo/config.toml\n",
                r.arch,
                r.beyond_i686.len()
            ));
        }
    }
    for r in rows.iter().filter(|_| !o.hot.is_empty()) {
        let Some(info) = r.info.as_ref().filter(|i| i.has_symtab) else {
            failed = true;
            out.push_str(&format!(
                "HOT FUNCTIONS UNCHECKED {}: the init has no symbol table\n",
                r.arch
            ));
            continue;
        };
        for pattern in &o.hot {
            match info.hot.iter().find(|(p, ..)| p == pattern) {
                None => {
                    failed = true;
                    out.push_str(&format!(
                        "HOT FUNCTION MISSING {}: no function named *{pattern}*; update elfinfo::HOT and linker/init.ld\n",
                        r.arch
                    ));
                }
                Some((_, start, end)) if elfinfo::crosses_page(*start, *end) => {
                    failed = true;
                    out.push_str(&format!(
                        "HOT FUNCTIONS CROSS A PAGE {}: *{pattern}* at {start:#x}..{end:#x}; TCG runs them at half speed, keep them first in linker/init.ld\n",
                        r.arch
                    ));
                }
                Some(_) => {}
            }
        }
    }
    for r in &rows {
        let Some(info) = &r.info else { continue };
        out.push_str(&format!(
            "\n{} ({}, unstripped)\n",
            r.arch,
            r.init_path.display()
        ));
        let mut t = vec![vec!["section".to_string(), "bytes".into()]];
        t.extend(
            info.sections
                .iter()
                .take(o.top)
                .map(|(n, s)| vec![n.clone(), s.to_string()]),
        );
        out.push_str(&table(&t));
        let mut t = vec![vec!["symbol".to_string(), "bytes".into()]];
        t.extend(
            info.symbols
                .iter()
                .take(o.top)
                .map(|(n, s)| vec![n.clone(), s.to_string()]),
        );
        out.push_str(&table(&t));
        match &r.traps {
            Ok(sites) if sites.is_empty() => out.push_str("trap sites (panic paths): none\n"),
            Ok(sites) => {
                let shown: Vec<String> = sites
                    .iter()
                    .take(o.top)
                    .map(|(f, n)| format!("{f} x{n}"))
                    .collect();
                out.push_str(&format!("trap sites (panic paths): {}\n", shown.join(", ")));
            }
            Err(e) => out.push_str(&format!("trap sites: cannot count: {e}\n")),
        }
        if !info.panic_symbols.is_empty() {
            let shown: Vec<&str> = info
                .panic_symbols
                .iter()
                .take(o.top)
                .map(String::as_str)
                .collect();
            out.push_str(&format!("panic/fmt symbols: {}\n", shown.join(", ")));
        }
    }
    (out, failed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("size-report: {e}");
            return ExitCode::from(2);
        }
    };
    let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
    let b = match std::fs::read_to_string(&o.budgets)
        .map_err(|e| e.to_string())
        .and_then(|t| budgets::parse(&t, &names))
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("size-report: {}: {e}", o.budgets.display());
            return ExitCode::from(2);
        }
    };
    let (text, failed) = report(&o, &b);
    print!("{text}");
    if failed {
        eprintln!("size-report: FAILED (see the lines in capitals above)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_alignment() {
        let t = table(&[
            vec!["a".into(), "1".into()],
            vec!["long".into(), "1000".into()],
        ]);
        assert_eq!(t, "a        1\nlong  1000\n");
    }

    #[test]
    fn report_on_a_fake_target_dir() {
        let dir = std::env::temp_dir().join(format!("size-report-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let arch = Arch::X86_64;
        let init = packer::init_binary(&dir, arch);
        std::fs::create_dir_all(init.parent().unwrap()).unwrap();
        // Any ELF with symbols: this test binary (its std links panic machinery).
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        std::fs::write(&init, &exe).unwrap();
        std::fs::write(dir.join(packer::image_name(arch, false)), vec![0; 100]).unwrap();
        let big = packer::strip_elf(&exe).unwrap().len() as u64 + 1;
        let budget = |init: u64| {
            budgets::parse(
                &format!(
                    "[[budget]]\narch = \"x86_64\"\nitem = \"init\"\nbytes = {init}\nreason = \"r\"\n\
                     [[budget]]\narch = \"x86_64\"\nitem = \"image\"\nbytes = 100\nreason = \"r\"\n\
                     [[budget]]\narch = \"x86_64\"\nitem = \"debug-image\"\nbytes = 100\nreason = \"r\"\n"
                ),
                &["x86_64"],
            )
            .unwrap()
        };
        let o = Opts {
            arches: vec![arch],
            target: dir.clone(),
            budgets: "b".into(),
            top: 3,
            hot: Vec::new(),
        };
        // The debug image is missing.
        let (text, failed) = report(&o, &budget(big));
        assert!(failed);
        assert!(text.contains("MISSING x86_64 debug-image"), "{text}");
        assert!(text.contains("YES ("), "{text}");
        assert!(text.contains("section") && text.contains(".text"), "{text}");
        std::fs::write(dir.join(packer::image_name(arch, true)), vec![0; 100]).unwrap();
        let (text, failed) = report(&o, &budget(big));
        assert!(!failed, "{text}");
        // The hot-function check, on this test binary: `report` is over 4 KiB long, so it spans
        // two pages wherever it is placed.
        let mut o = o;
        o.hot = vec!["size_report::report".into()];
        let (text, failed) = report(&o, &budget(big));
        assert!(failed);
        assert!(
            text.contains("HOT FUNCTIONS CROSS A PAGE x86_64: *size_report::report*"),
            "{text}"
        );
        o.hot = vec!["no::such::function".into()];
        let (text, failed) = report(&o, &budget(big));
        assert!(failed);
        assert!(text.contains("HOT FUNCTION MISSING x86_64"), "{text}");
        o.hot.clear();
        let (text, failed) = report(&o, &budget(big - 2));
        assert!(failed);
        assert!(text.contains("OVER BUDGET x86_64 init"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn args() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let o = parse_args(&s(&["--arch", "i686", "--top", "3"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.arches, [Arch::I686]);
        assert_eq!(o.top, 3);
        assert!(parse_args(&s(&["--help"])).unwrap().is_none());
        assert!(parse_args(&s(&["--arch"])).is_err());
        assert!(parse_args(&s(&["--frob"])).is_err());
        assert_eq!(parse_args(&s(&[])).unwrap().unwrap().arches, Arch::ALL);
    }
}
