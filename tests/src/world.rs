//! The shared setup (tools, kernels, busybox, the test OS images, disk templates), built once per
//! process, and the per-scenario helpers: fresh disks, bounded boots, logs, assertions.

use crate::guest::{self, Report};
use crate::images::{self, OsSpec};
use crate::kernels::{self, Kernel, KernelId};
use crate::qemu::{self, Outcome, Running, Vm};
use crate::report;
use crate::util::{copy_sparse, fresh_dir, mkdir, tail, work_dir, write};
use crate::{R, bail};
use packer::Arch;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct World {
    pub kernels: BTreeMap<KernelId, Kernel>,
    pub busybox: BTreeMap<Arch, PathBuf>,
    /// `work/shared/`: images shared by the scenarios (never written by a boot).
    pub shared: PathBuf,
    pub setup_secs: f64,
    built: Mutex<HashMap<String, PathBuf>>,
}

static WORLD: OnceLock<Result<World, String>> = OnceLock::new();

/// The shared setup; the first caller builds it, the others wait.
pub fn world() -> R<&'static World> {
    WORLD
        .get_or_init(build_world)
        .as_ref()
        .map_err(|e| format!("e2e setup failed: {e}"))
}

fn build_world() -> R<World> {
    let t = Instant::now();
    crate::setup::ensure_tools()?;
    let tk = Instant::now();
    // Kernels in parallel: download, unpack, depmod and vmlinux extraction are independent.
    let results: Vec<R<Kernel>> = std::thread::scope(|s| {
        let hs: Vec<_> = KernelId::ALL
            .iter()
            .map(|id| s.spawn(move || kernels::get(*id)))
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("kernel thread panicked".into()))
            })
            .collect()
    });
    let mut ks = BTreeMap::new();
    for r in results {
        let k = r?;
        ks.insert(k.id, k);
    }
    let mut bb = BTreeMap::new();
    for a in Arch::ALL {
        bb.insert(a, kernels::busybox(a)?);
    }
    eprintln!(
        "e2e: kernels and busybox ready in {:.1} s ({})",
        tk.elapsed().as_secs_f64(),
        ks.values()
            .map(|k| format!(
                "{} {}{}",
                k.id.name(),
                k.kver,
                if k.pvh { " pvh" } else { "" }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let shared = work_dir().join("shared");
    fresh_dir(&shared)?;
    let w = World {
        kernels: ks,
        busybox: bb,
        shared,
        setup_secs: 0.0,
        built: Mutex::new(HashMap::new()),
    };
    let secs = t.elapsed().as_secs_f64();
    eprintln!("e2e: setup done in {secs:.1} s");
    Ok(World {
        setup_secs: secs,
        ..w
    })
}

/// The modules put in the initrd next to the init.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mods {
    /// The kernel's full bundle ([`KernelId::bundle`]).
    All,
    /// The bundle without these.
    Without(&'static [&'static str]),
    /// No modules archive at all.
    None,
}

impl World {
    pub fn kernel(&self, id: KernelId) -> &Kernel {
        &self.kernels[&id]
    }

    /// Builds something once per process under `shared/`, keyed by name.
    fn once(&self, key: &str, build: impl FnOnce(&Path) -> R<()>) -> R<PathBuf> {
        let mut m = self.built.lock().unwrap();
        if let Some(p) = m.get(key) {
            return Ok(p.clone());
        }
        let p = self.shared.join(key);
        let t = Instant::now();
        build(&p).map_err(|e| format!("building {key}: {e}"))?;
        if std::env::var_os("E2E_VERBOSE").is_some() {
            eprintln!("e2e: built {key} in {:.2} s", t.elapsed().as_secs_f64());
        }
        m.insert(key.to_string(), p.clone());
        Ok(p)
    }

    /// The squashfs test OS for an arch. `id` goes into /etc/e2e-image-id; `payload` bytes of
    /// random data make it big. It carries overlay.ko for every kernel of its arch.
    pub fn os_image(&self, arch: Arch, id: &str, payload: u64) -> R<PathBuf> {
        self.os_image_with(arch, id, payload, true)
    }

    /// [`World::os_image`], optionally without overlay.ko (a kernel with no overlayfs anywhere).
    pub fn os_image_with(
        &self,
        arch: Arch,
        id: &str,
        payload: u64,
        overlay_ko: bool,
    ) -> R<PathBuf> {
        let tag = if overlay_ko { "" } else { "-no-overlay-ko" };
        self.once(
            &format!("os-{}-{id}-{payload}{tag}.squashfs", arch.name()),
            |out| {
                let mut modules = Vec::new();
                for k in self
                    .kernels
                    .values()
                    .filter(|k| overlay_ko && k.id.arch() == arch)
                {
                    let rel = k.module_path("overlay")?;
                    modules.push((k.kver.clone(), rel.clone(), k.modules.join(&rel)));
                }
                let spec = OsSpec {
                    busybox: &self.busybox[&arch],
                    id,
                    modules,
                    payload,
                };
                let dir = out.with_extension("d");
                images::os_tree(&spec, &dir)?;
                images::squashfs(&dir, out)?;
                let _ = std::fs::remove_dir_all(&dir);
                Ok(())
            },
        )
    }

    /// The reference shell init ([`guest::REFERENCE_INIT`]) as a gzip'd cpio, made with the packer.
    pub fn reference_init(&self, arch: Arch) -> R<PathBuf> {
        self.once(&format!("reference-init-{}.gz", arch.name()), |out| {
            let bb = crate::util::read(&self.busybox[&arch])?;
            let mut a = packer::cpio::Archive::new(0);
            packer::busybox::add_busybox(&mut a, bb).map_err(|e| e.0)?;
            a.file("init", 0o755, guest::REFERENCE_INIT.as_bytes().to_vec())
                .map_err(|e| e.0)?;
            a.char_dev("dev/console", 0o600, 5, 1).map_err(|e| e.0)?;
            write(out, packer::gzip::gzip(&a.write().map_err(|e| e.0)?))
        })
    }

    /// The product image that `just build` made (or the reference init with `E2E_REFERENCE_INIT=1`).
    pub fn product(&self, arch: Arch, debug: bool) -> R<PathBuf> {
        if std::env::var_os("E2E_REFERENCE_INIT").is_some() {
            return self.reference_init(arch);
        }
        let p = crate::util::root()
            .join("target")
            .join(packer::image_name(arch, debug));
        if !p.is_file() {
            bail!("{} is missing: run `just build` first", p.display());
        }
        Ok(p)
    }

    /// The modules-only archive of a kernel (made with the packer's module resolver), gzip'd.
    pub fn modules_archive(&self, id: KernelId, mods: Mods) -> R<Option<PathBuf>> {
        let names: Vec<String> = match mods {
            Mods::None => return Ok(None),
            Mods::All => id.bundle().iter().map(|s| s.to_string()).collect(),
            Mods::Without(x) => id
                .bundle()
                .iter()
                .filter(|m| !x.contains(m))
                .map(|s| s.to_string())
                .collect(),
        };
        let key = format!("modules-{}-{}.cpio.gz", id.name(), fnv(&names.join(",")));
        let k = self.kernel(id);
        self.once(&key, |out| {
            let mut a = packer::cpio::Archive::new(0);
            packer::modules::add_modules(&mut a, &k.modules, &names).map_err(|e| e.0)?;
            let data = a.write().map_err(|e| e.0)?;
            write(out, packer::gzip::gzip(&data))
        })
        .map(Some)
    }

    /// The seccomp shim of s18 ([`crate::shim`]) as a gzip'd cpio, compiled once per process.
    pub fn shim_archive(&self, answer: &str, set_status: Option<&str>) -> R<PathBuf> {
        let name = match set_status {
            Some(errno) => format!("shim-no-loop-configure-{answer}-set-status-{errno}.cpio.gz"),
            None => format!("shim-no-loop-configure-{answer}.cpio.gz"),
        };
        self.once(&name, |out| {
            crate::shim::build_archive(out, answer, set_status)
        })
    }

    /// An archive that turns the product's `/dev/console` node into a folder (the kernel's unpacker
    /// replaces an entry of another type): the kernel then starts the init with no fds 0-2, as with
    /// an archive made without the node.
    pub fn no_console_archive(&self) -> R<PathBuf> {
        self.once("no-console.cpio.gz", |out| {
            let mut a = packer::cpio::Archive::new(0);
            a.dir("dev/console", 0o755).map_err(|e| e.0)?;
            write(out, packer::gzip::gzip(&a.write().map_err(|e| e.0)?))
        })
    }

    /// `init.gz` + the modules archive + `extra` archives: the kernel unpacks concatenated gzip'd
    /// cpios in order.
    pub fn initrd(&self, id: KernelId, debug: bool, mods: Mods, extra: &[PathBuf]) -> R<PathBuf> {
        let product = self.product(id.arch(), debug)?;
        let m = self.modules_archive(id, mods)?;
        let key = format!(
            "initrd-{}-{}-{}",
            id.name(),
            if debug { "debug" } else { "std" },
            fnv(&format!("{mods:?}{extra:?}"))
        );
        // The product may be rebuilt while we run: stamp with its mtime and size.
        let meta = std::fs::metadata(&product).map_err(|e| e.to_string())?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let key = format!("{key}-{}-{mtime}.gz", meta.len());
        self.once(&key, |out| {
            let mut data = crate::util::read(&product)?;
            if let Some(m) = &m {
                data.extend(crate::util::read(m)?);
            }
            for x in extra {
                data.extend(crate::util::read(x)?);
            }
            write(out, data)
        })
    }

    /// The standard `img` partition content: a folder with the arch's image as root-squashfs.img.
    pub fn img_fs(&self, arch: Arch, size_mib: u64) -> R<PathBuf> {
        let os = self.os_image(arch, "A", 0)?;
        self.once(&format!("img-{}-{size_mib}.ext4", arch.name()), |out| {
            let d = out.with_extension("d");
            fresh_dir(&d)?;
            std::fs::copy(&os, d.join("root-squashfs.img")).map_err(|e| e.to_string())?;
            images::ext4(out, "img", Some(&d), size_mib, Some(IMG_UUID), &[])?;
            let _ = std::fs::remove_dir_all(&d);
            Ok(())
        })
    }

    /// The standard `overlay` partition: persistent/ shadows the image's marker and adds a file;
    /// upper/ and work/ hold stale files that the init must clear.
    pub fn overlay_fs(&self, size_mib: u64) -> R<PathBuf> {
        self.once(&format!("overlay-{size_mib}.ext4"), |out| {
            let d = out.with_extension("d");
            overlay_tree(&d, 0)?;
            images::ext4(out, "overlay", Some(&d), size_mib, Some(OVERLAY_UUID), &[])?;
            let _ = std::fs::remove_dir_all(&d);
            Ok(())
        })
    }
}

pub const IMG_UUID: &str = "1a2b3c4d-0000-4000-8000-00000000000a";
pub const OVERLAY_UUID: &str = "1a2b3c4d-0000-4000-8000-00000000000b";
pub const NEWIMG_UUID: &str = "1a2b3c4d-0000-4000-8000-00000000000c";

/// The overlay partition's tree: persistent/, upper/ with a stale `e2e-written` (plus `extra`
/// stale files), work/ with a stale file.
pub fn overlay_tree(d: &Path, extra: usize) -> R<()> {
    fresh_dir(d)?;
    write(&d.join("persistent/etc/e2e-marker"), "from-persistent\n")?;
    write(&d.join("persistent/etc/e2e-persistent-only"), "yes\n")?;
    write(&d.join("upper/e2e-written"), "stale-upper\n")?;
    write(&d.join("work/e2e-stale-work"), "stale\n")?;
    // `extra` stale files in folders of 200 (mke2fs -d is quadratic in one huge folder).
    for i in 0..extra {
        let sub = d.join(format!("upper/many/d{:03}", i / 200));
        if i % 200 == 0 {
            mkdir(&sub)?;
        }
        std::fs::write(sub.join(format!("f{i:05}")), b"x").map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn fnv(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// One boot's result: how QEMU ended and what the guest reported.
pub struct Booted {
    pub out: Outcome,
    pub r: Report,
    pub label: String,
}

impl Booted {
    /// Where to look when an assertion fails: the log path and the init's last lines.
    pub fn ctx(&self) -> String {
        let lines = guest::init_lines(&self.out.log);
        let last: Vec<&String> = lines
            .iter()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "\n  boot `{}`: {:.1} s{}; console log: {}\n  init's last lines:\n    {}\n  console tail:\n    {}",
            self.label,
            self.out.secs,
            if self.out.timed_out {
                " (TIMED OUT)"
            } else {
                ""
            },
            self.out.log_path.display(),
            last.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n    "),
            tail(&self.out.log, 8).replace('\n', "\n    ")
        )
    }

    /// Fails with the message and the context unless `cond`.
    pub fn check(&self, cond: bool, what: impl AsRef<str>) -> R<()> {
        if cond {
            Ok(())
        } else {
            Err(format!("{}{}", what.as_ref(), self.ctx()))
        }
    }

    /// The guest reported `key` = `want`.
    pub fn expect(&self, key: &str, want: &str) -> R<()> {
        let got = self.r.get(key);
        self.check(
            got == Some(want),
            format!("guest {key}: expected {want:?}, got {got:?}"),
        )
    }

    /// The guest ran its init to the end and QEMU exited by itself within the bound.
    pub fn expect_booted(&self) -> R<()> {
        self.check(
            !self.out.timed_out,
            "the boot did not finish within its bound",
        )?;
        self.check(
            self.r.done(),
            "the test OS did not run to its end (no `E2E done=` line)",
        )
    }

    /// The init's lines up to its failure action (`failure action: ...`), without the step
    /// timings: the error line is among them (usually the last).
    pub fn init_errors(&self) -> Vec<String> {
        let mut v = Vec::new();
        for l in guest::init_lines(&self.out.log) {
            if l.starts_with("failure action") {
                break;
            }
            if !l.contains(": done in ") {
                v.push(l);
            }
        }
        v
    }

    /// A failed boot: QEMU ended by itself (the panic with `panic=-1 -no-reboot`) within the bound,
    /// the test OS never ran, and an init error line contains all of `words` (case-insensitive).
    pub fn expect_failed_with(&self, words: &[&str]) -> R<String> {
        self.check(
            !self.out.timed_out,
            "the failed boot did not end within its bound",
        )?;
        self.check(
            self.r.get("started").is_none(),
            "the test OS ran although the boot should have failed",
        )?;
        let errs = self.init_errors();
        let hit = errs.iter().rev().find(|l| {
            let ll = l.to_lowercase();
            words.iter().all(|w| ll.contains(&w.to_lowercase()))
        });
        match hit {
            Some(l) => Ok(l.clone()),
            None => Err(format!(
                "no init line before the failure action contains all of {words:?}{}",
                self.ctx()
            )),
        }
    }

    /// Seconds from the kernel's "Run /init" to the "Kernel panic" line (printk time).
    pub fn panic_after_init_secs(&self) -> Option<f64> {
        let mut start = None;
        for l in self.out.log.lines() {
            if let Some((t, text)) = guest::printk(l) {
                if text.starts_with("Run /init") {
                    start = Some(t);
                }
                if text.starts_with("Kernel panic") {
                    return start.map(|s| t - s);
                }
            }
        }
        None
    }
}

/// What one boot gets.
#[derive(Clone)]
pub struct Boot {
    pub kernel: KernelId,
    pub debug: bool,
    pub mods: Mods,
    pub disks: Vec<PathBuf>,
    /// The disks' logical sector size ([`Vm::sector_size`]).
    pub sector_size: u32,
    pub append: String,
    pub timeout: Option<Duration>,
    pub monitor: bool,
    /// More gzip'd cpio archives, appended after the modules (s18's seccomp shim).
    pub extra: Vec<PathBuf>,
}

impl Boot {
    pub fn new(kernel: KernelId, disks: Vec<PathBuf>, append: &str) -> Boot {
        Boot {
            kernel,
            debug: false,
            mods: Mods::All,
            disks,
            sector_size: 512,
            append: append.to_string(),
            timeout: None,
            monitor: false,
            extra: Vec::new(),
        }
    }
}

/// One scenario: a fresh folder for its writeable disks (kept between its boots), its logs, its row
/// in the summary.
pub struct Sc {
    pub name: String,
    pub kernel: KernelId,
    pub dir: PathBuf,
    pub w: &'static World,
    pub boots: usize,
    pub notes: Vec<String>,
}

impl Sc {
    pub fn new(name: &str, kernel: KernelId) -> R<Sc> {
        let w = world()?;
        let dir = work_dir().join("sc").join(name);
        fresh_dir(&dir)?;
        fresh_dir(&crate::util::logs_dir().join(name))?;
        Ok(Sc {
            name: name.to_string(),
            kernel,
            dir,
            w,
            boots: 0,
            notes: Vec::new(),
        })
    }

    pub fn arch(&self) -> Arch {
        self.kernel.arch()
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }

    /// A private, writeable copy of a shared image.
    pub fn copy(&self, shared: &Path, name: &str) -> R<PathBuf> {
        let p = self.path(name);
        copy_sparse(shared, &p)?;
        Ok(p)
    }

    /// Fresh copies of the standard `img` and `overlay` partitions (one virtio disk each).
    pub fn std_disks(&self) -> R<Vec<PathBuf>> {
        Ok(vec![
            self.copy(&self.w.img_fs(self.arch(), 32)?, "img.ext4")?,
            self.copy(&self.w.overlay_fs(64)?, "overlay.ext4")?,
        ])
    }

    pub fn boot_opts(&self, disks: Vec<PathBuf>, append: &str) -> Boot {
        Boot::new(self.kernel, disks, append)
    }

    fn vm(&mut self, label: &str, b: &Boot) -> R<Vm> {
        self.boots += 1;
        let k = self.w.kernel(b.kernel).clone();
        Ok(Vm {
            initrd: self.w.initrd(b.kernel, b.debug, b.mods, &b.extra)?,
            kernel: k,
            append: b.append.clone(),
            disks: b.disks.clone(),
            sector_size: b.sector_size,
            monitor: b.monitor.then(|| self.path("monitor.sock")),
            timeout: b.timeout.unwrap_or_else(|| qemu::default_timeout(b.kernel)),
            log: qemu::log_path(&self.name, self.boots, label),
        })
    }

    /// Starts a boot that the test drives (console input, monitor, kill).
    pub fn start(&mut self, label: &str, b: &Boot) -> R<Running> {
        let vm = self.vm(label, b)?;
        vm.start()
    }

    /// Finishes a driven boot.
    pub fn finish(&mut self, label: &str, out: Outcome) -> Booted {
        let r = Report::parse(&out.log);
        let booted = Booted {
            out,
            r,
            label: label.to_string(),
        };
        if let Some(ms) = guest::timeline_ms(&booted.out.log) {
            let steps = guest::step_times(&booted.out.log)
                .iter()
                .map(|(s, m)| format!("{s}={m}"))
                .collect::<Vec<_>>()
                .join(" ");
            report::timeline(report::Timeline {
                scenario: self.name.clone(),
                kernel: self.kernel_name(),
                ms,
                steps,
            });
        }
        booted
    }

    fn kernel_name(&self) -> String {
        self.kernel.name().to_string()
    }

    /// Boots and waits for the end (power-off, panic or the bound). A boot whose kernel never ran
    /// /init within the bound is booted once more, and the scenario's note says so: nothing of this
    /// project ran, and nothing was written to the disks. (Seen on raspi0 under TCG while the machine
    /// was loaded: the kernel stalled at its firmware mailbox, right after enabling the console.)
    /// Never with `quiet`, which hides the kernel's "Run /init" line, and never once the init or the
    /// test OS has written a line.
    pub fn boot(&mut self, label: &str, b: &Boot) -> R<Booted> {
        let out = self.start(label, b)?.wait();
        let quiet = b.append.split_whitespace().any(|w| w == "quiet");
        let init_ran = ["Run /init", "initramfs-overlay", "E2E "]
            .iter()
            .any(|line| out.log.contains(line));
        if out.timed_out && !quiet && !init_ran {
            self.note(format!(
                "`{label}`: the kernel stalled before running /init ({}); booted again",
                out.log_path.display()
            ));
            let again = self.start(label, b)?.wait();
            return Ok(self.finish(label, again));
        }
        Ok(self.finish(label, out))
    }

    pub fn note(&mut self, s: impl Into<String>) {
        let s = s.into();
        report::note(format!("{}: {s}", self.name));
        self.notes.push(s);
    }
}

/// The standard checks of a good boot: the test OS ran as PID 1 on an overlay root whose upper
/// and work are on the overlay partition and whose lower layers are persistent/ then the image;
/// the hand-over folder holds the image file.
pub fn expect_standard(b: &Booted) -> R<()> {
    b.expect_booted()?;
    b.expect("pid", "1")?;
    b.expect("rootfs", "overlay")?;
    let lower = b.r.root_opt("lowerdir").unwrap_or_default();
    let layers: Vec<&str> = lower.split(':').collect();
    b.check(
        layers.len() == 2 && layers[0].ends_with("persistent"),
        format!("lowerdir should be <overlay>/persistent:<image>, got {lower:?}"),
    )?;
    let upper = b.r.root_opt("upperdir").unwrap_or_default();
    b.check(
        upper.ends_with("/upper"),
        format!("upperdir should be <overlay>/upper, got {upper:?}"),
    )?;
    let work = b.r.root_opt("workdir").unwrap_or_default();
    b.check(
        work.ends_with("/work"),
        format!("workdir should be <overlay>/work, got {work:?}"),
    )?;
    let overlay_base = upper.trim_end_matches("/upper");
    b.check(
        layers[0].trim_end_matches("/persistent") == overlay_base && work.trim_end_matches("/work") == overlay_base,
        format!("persistent, upper and work should share the overlay partition: lowerdir={lower:?} upperdir={upper:?}"),
    )?;
    let img = b.r.get("image_dir").unwrap_or("");
    b.check(
        img.split_whitespace().any(|f| f == "root-squashfs.img"),
        format!("/run/initramfs-overlay/image/ should hold root-squashfs.img, got {img:?}"),
    )?;
    // The persistent layer shadows the image's copy and adds its own file.
    b.expect("marker", "from-persistent")?;
    b.expect("persistent_only", "yes")?;
    b.expect("image_id", "A")?;
    Ok(())
}
