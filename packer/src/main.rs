//! `packer`: the command line around the packer library. See `packer --help`.

use packer::image::{ImageSpec, ModulesSpec};
use packer::{Arch, Result, fail};
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
packer: builds initramfs-overlay images (reproducible gzip'd cpio newc archives)

USAGE:
  packer image --arch ARCH [--init FILE] [--debug] [--busybox FILE] [--files DIR | --no-files]
               [--modules DIR --module NAME... --module-list FILE...] [--no-strip] [--out FILE]
  packer modules --modules DIR (--module NAME | --module-list FILE)... --out FILE
  packer applets BUSYBOX        print the applet names found in a busybox binary (never runs it)
  packer fetch-busybox --arch ARCH
                                download Debian's busybox-static for ARCH (cached); print its path
  packer strip IN OUT           write a copy of an ELF without section headers and symbols

image: /init (the init ELF, stripped, mode 0755), dev proc sys mnt run, /dev/console (c 5 1),
  plus the files under DIR. Writes target/init-<version>-<arch>[-debug].gz by default.
  --arch ARCH         armv6l, i686 or x86_64 (Debian names armel, i386, amd64 work too)
  --init FILE         default target/<triple>/<profile>/init (profile `init`, `init-thumb` on ARM)
  --debug             add a static busybox at /bin/busybox and /bin/<applet> links for every
                      applet; Debian's busybox-static for the arch, fetched with apt into
                      busybox-cache/ unless --busybox names one (which implies --debug)
  --files DIR         files, folders and symlinks to add at the root (default: initramfs-files/
                      in the workspace root, if it exists); --no-files adds none
  --modules DIR       <root>/lib/modules/<kver>, with a modules.dep (run depmod -b ROOT KVER)
  --module NAME       a module to load (repeat); dependencies are added from modules.dep first
  --module-list FILE  module names, one per line (# comments)
                      Modules land in /lib/modules/<kver>/<path>, their order in
                      /lib/modules/<kver>/load-order.
  --no-strip          keep the init's section headers and symbols
  --out FILE          the output file (written atomically: nothing is written on an error)

modules: an archive with only the modules and their load-order, to concatenate to an image
  (the kernel unpacks concatenated gzip'd cpio archives in turn).

Entries are sorted, owned by 0:0, numbered in order and dated SOURCE_DATE_EPOCH (or 0), so the
same inputs give the same bytes.

Environment: SOURCE_DATE_EPOCH (entry mtime, default 0); PACKER_BUSYBOX_CACHE (default
<workspace>/busybox-cache: .debs, unpacked trees, private apt state); PACKER_APT_SOURCES (an apt
sources file to derive the private apt sources from; default the machine's /etc/apt ones).
";

#[derive(Default)]
struct Args {
    arch: Option<Arch>,
    init: Option<PathBuf>,
    debug: bool,
    busybox: Option<PathBuf>,
    files: Option<PathBuf>,
    no_files: bool,
    modules: Option<PathBuf>,
    module: Vec<String>,
    no_strip: bool,
    out: Option<PathBuf>,
    positional: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || match inline.clone().or_else(|| it.next().cloned()) {
            Some(v) => Ok(v),
            None => Err(packer::Error(format!("{flag} needs a value"))),
        };
        match flag {
            "--arch" => a.arch = Some(Arch::parse(&value()?)?),
            "--init" => a.init = Some(value()?.into()),
            "--busybox" => a.busybox = Some(value()?.into()),
            "--files" => a.files = Some(value()?.into()),
            "--modules" => a.modules = Some(value()?.into()),
            "--module" => a.module.push(value()?),
            "--module-list" => {
                let f = PathBuf::from(value()?);
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| packer::Error(format!("cannot read {}: {e}", f.display())))?;
                a.module.extend(packer::modules::parse_list(&text));
            }
            "--out" | "-o" => a.out = Some(value()?.into()),
            "--debug" | "--no-files" | "--no-strip" if inline.is_some() => {
                fail!("{flag} takes no value")
            }
            "--debug" => a.debug = true,
            "--no-files" => a.no_files = true,
            "--no-strip" => a.no_strip = true,
            f if f.starts_with('-') && f.len() > 1 => {
                fail!("unknown option {f} (see packer --help)")
            }
            _ => a.positional.push(arg.clone()),
        }
    }
    Ok(a)
}

fn modules_spec(a: &Args) -> Result<Option<ModulesSpec>> {
    match (&a.modules, a.module.is_empty()) {
        (None, true) => Ok(None),
        (None, false) => fail!("--module and --module-list need --modules DIR"),
        (Some(dir), _) => Ok(Some(ModulesSpec {
            dir: dir.clone(),
            names: a.module.clone(),
        })),
    }
}

fn no_positional(a: &Args) -> Result<()> {
    match a.positional.first() {
        Some(p) => fail!("unexpected argument {p:?} (see packer --help)"),
        None => Ok(()),
    }
}

fn image(a: Args) -> Result<()> {
    no_positional(&a)?;
    let Some(arch) = a.arch else {
        fail!("image needs --arch (armv6l, i686 or x86_64)")
    };
    if a.files.is_some() && a.no_files {
        fail!("--files and --no-files exclude each other");
    }
    let debug = a.debug || a.busybox.is_some();
    let busybox = match (&a.busybox, debug) {
        (Some(b), _) => Some(b.clone()),
        (None, true) => {
            let cache = packer::busybox_cache();
            Some(packer::busybox::fetch(
                &packer::apt::Apt::new(cache.join("apt")),
                arch,
                &cache,
            )?)
        }
        (None, false) => None,
    };
    let default_files = packer::workspace_root().join("initramfs-files");
    let files = match (a.files.clone(), a.no_files) {
        (Some(f), _) => Some(f),
        (None, false) if default_files.is_dir() => Some(default_files),
        _ => None,
    };
    let spec = ImageSpec {
        arch: Some(arch),
        init: Some(a.init.clone().unwrap_or_else(|| packer::default_init(arch))),
        strip: !a.no_strip,
        busybox,
        modules: modules_spec(&a)?,
        files,
        mtime: packer::source_date_epoch()?,
    };
    let out = a.out.unwrap_or_else(|| packer::default_output(arch, debug));
    let sum = packer::image::build_to(&spec, &out)?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: {size} bytes (init {} bytes{}, {} entries, {} applets, {} modules, {} user entries)",
        out.display(),
        sum.init_bytes,
        if spec.strip { " stripped" } else { "" },
        sum.entries,
        sum.applets,
        sum.modules.len(),
        sum.files
    );
    Ok(())
}

fn modules(a: Args) -> Result<()> {
    no_positional(&a)?;
    if a.arch.is_some() || a.init.is_some() || a.debug || a.busybox.is_some() || a.files.is_some() {
        fail!("modules takes only --modules, --module, --module-list and --out");
    }
    let Some(out) = a.out.clone() else {
        fail!("modules needs --out FILE")
    };
    let Some(m) = modules_spec(&a)? else {
        fail!("modules needs --modules DIR and --module NAME")
    };
    let spec = ImageSpec {
        modules: Some(m),
        mtime: packer::source_date_epoch()?,
        ..Default::default()
    };
    let sum = packer::image::build_to(&spec, &out)?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: {size} bytes, {} modules: {}",
        out.display(),
        sum.modules.len(),
        sum.modules.join(" ")
    );
    Ok(())
}

fn run(args: &[String]) -> Result<()> {
    let Some(cmd) = args.first() else {
        fail!("no command given\n\n{HELP}")
    };
    if cmd == "--help" || cmd == "-h" || cmd == "help" || args.iter().any(|a| a == "--help") {
        print!("{HELP}");
        return Ok(());
    }
    let a = parse(&args[1..])?;
    match cmd.as_str() {
        "image" => image(a),
        "modules" => modules(a),
        "applets" => {
            let [bin] = a.positional.as_slice() else {
                fail!("usage: packer applets BUSYBOX")
            };
            for n in packer::busybox::applets(&packer::read(bin.as_ref())?)? {
                println!("{n}");
            }
            Ok(())
        }
        "fetch-busybox" => {
            no_positional(&a)?;
            let Some(arch) = a.arch else {
                fail!("fetch-busybox needs --arch")
            };
            let cache = packer::busybox_cache();
            let bin =
                packer::busybox::fetch(&packer::apt::Apt::new(cache.join("apt")), arch, &cache)?;
            println!("{}", bin.display());
            Ok(())
        }
        "strip" => {
            let [inp, out] = a.positional.as_slice() else {
                fail!("usage: packer strip IN OUT")
            };
            let stripped = packer::strip_elf(&packer::read(inp.as_ref())?)
                .map_err(|e| packer::Error(format!("{inp}: {e}")))?;
            packer::write_atomic(out.as_ref(), &stripped)?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o755));
            Ok(())
        }
        c => fail!(
            "unknown command {c:?} (image, modules, applets, fetch-busybox, strip; see packer --help)"
        ),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("packer: error: {e}");
            ExitCode::FAILURE
        }
    }
}
