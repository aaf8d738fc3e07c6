//! One QEMU boot under TCG, bounded by a timeout: the console is the serial port on QEMU's
//! stdin/stdout (so a test can type into it), the monitor an optional unix socket.

use crate::kernels::{Kernel, KernelId};
use crate::util::{show, write};
use crate::{R, bail};
use packer::Arch;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What to boot.
#[derive(Clone)]
pub struct Vm {
    pub kernel: Kernel,
    pub initrd: PathBuf,
    /// Appended after the console and panic options.
    pub append: String,
    /// Raw disk images: virtio disks on x86 (vda, vdb, …, in this order), the SD card on raspi0.
    pub disks: Vec<PathBuf>,
    /// The disks' logical (and physical) sector size in bytes: 512, or 4096 for a "4Kn" disk
    /// (virtio on x86 only; raspi0's SD card is always 512).
    pub sector_size: u32,
    /// A monitor socket for hot-plugging.
    pub monitor: Option<PathBuf>,
    pub timeout: Duration,
    /// Where the console log is written when the run ends.
    pub log: PathBuf,
}

/// A word for `Vm::append`: boot without `printk.devkmsg=on`, the kernel's default.
pub const DEVKMSG_DEFAULT: &str = "e2e.devkmsg=default";

/// The default bound of one boot (scaled by `E2E_TIMEOUT_SCALE`).
pub fn default_timeout(id: KernelId) -> Duration {
    let base = match id.arch() {
        Arch::Armv6l => 120.0,
        _ => 60.0,
    };
    let scale: f64 = std::env::var("E2E_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(base * scale)
}

impl Vm {
    pub fn command(&self) -> R<Command> {
        let k = &self.kernel;
        let (qemu, console) = match k.id.arch() {
            Arch::X86_64 => ("qemu-system-x86_64", "ttyS0"),
            Arch::I686 => ("qemu-system-i386", "ttyS0"),
            Arch::Armv6l => ("qemu-system-arm", "ttyAMA0"),
        };
        let mut c = Command::new(qemu);
        c.args([
            "-accel",
            "tcg",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ]);
        c.args(["-serial", "stdio"]);
        match k.id.arch() {
            Arch::Armv6l => {
                let Some(dtb) = &k.dtb else {
                    bail!("the rpi kernel has no patched dtb")
                };
                c.args(["-M", "raspi0"]).arg("-dtb").arg(dtb);
                if self.sector_size != 512 {
                    bail!("raspi0's SD card has 512-byte sectors only");
                }
                if self.disks.len() > 1 {
                    bail!(
                        "raspi0 has one SD card slot; got {} disks",
                        self.disks.len()
                    );
                }
                for d in &self.disks {
                    c.arg("-drive")
                        .arg(format!("if=sd,format=raw,file={}", d.display()));
                }
            }
            arch => {
                c.args(["-M", "pc", "-m", "256", "-nic", "none"]);
                // A Pentium II: an i686 with neither SSE nor SSE2 (as a Geode LX or a Pentium III
                // lacks SSE2), so an SSE or SSE2 instruction in the i686 init stops these boots.
                if arch == Arch::I686 {
                    c.args(["-cpu", "pentium2"]);
                }
                for (n, d) in self.disks.iter().enumerate() {
                    c.arg("-drive").arg(format!(
                        "if=none,id=disk{n},format=raw,file={}",
                        d.display()
                    ));
                    c.arg("-device").arg(format!(
                        "virtio-blk-pci,drive=disk{n},logical_block_size={0},physical_block_size={0}",
                        self.sector_size
                    ));
                }
            }
        }
        match &self.monitor {
            Some(m) => c
                .arg("-monitor")
                .arg(format!("unix:{},server=on,wait=off", m.display())),
            None => c.args(["-monitor", "none"]),
        };
        c.arg("-kernel")
            .arg(&k.image)
            .arg("-initrd")
            .arg(&self.initrd);
        // printk.devkmsg=on keeps every kmsg line (the init's own and the test OS's) and locks the
        // setting; `e2e.devkmsg=default` leaves it out, to see what the init hands the OS.
        let devkmsg = if self.append.contains(DEVKMSG_DEFAULT) {
            ""
        } else {
            "printk.devkmsg=on "
        };
        c.arg("-append").arg(format!(
            "console={console} panic=-1 {devkmsg}{}",
            self.append.trim()
        ));
        Ok(c)
    }

    pub fn start(&self) -> R<Running> {
        let mut c = self.command()?;
        if let Some(m) = &self.monitor {
            let _ = std::fs::remove_file(m);
        }
        let cmdline = show(&c);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start `{cmdline}`: {e}"))?;
        let shared = Arc::new(Shared {
            buf: Mutex::new(Vec::new()),
            cv: Condvar::new(),
        });
        let mut readers = Vec::new();
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        for mut r in [out, err] {
            let s = shared.clone();
            readers.push(std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                loop {
                    match r.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            s.buf.lock().unwrap().extend_from_slice(&b[..n]);
                            s.cv.notify_all();
                        }
                    }
                }
            }));
        }
        let start = Instant::now();
        Ok(Running {
            stdin: child.stdin.take(),
            child,
            shared,
            readers,
            start,
            deadline: start + self.timeout,
            vm: self.clone(),
            cmdline,
        })
    }

    /// Boots and waits for QEMU to exit (the guest powers off or panics) or the timeout.
    pub fn run(&self) -> R<Outcome> {
        Ok(self.start()?.wait())
    }
}

struct Shared {
    buf: Mutex<Vec<u8>>,
    cv: Condvar,
}

/// A QEMU that is running.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
    readers: Vec<std::thread::JoinHandle<()>>,
    pub start: Instant,
    pub deadline: Instant,
    pub vm: Vm,
    pub cmdline: String,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The console (serial) output, `\r` removed, plus QEMU's own stderr.
    pub log: String,
    pub secs: f64,
    /// Killed because the bound passed.
    pub timed_out: bool,
    /// Killed on purpose (power-cut tests).
    pub killed: bool,
    pub exit: Option<i32>,
    pub log_path: PathBuf,
}

impl Running {
    /// The console output so far.
    pub fn text(&self) -> String {
        clean(&self.shared.buf.lock().unwrap())
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Waits until the console output after byte `from` (of the cleaned text) contains `needle`;
    /// returns the offset just past it. Gives up at `until` or the run's deadline, or when QEMU exits.
    pub fn wait_for_from(&mut self, from: usize, needle: &str, until: Instant) -> Option<usize> {
        let until = until.min(self.deadline);
        let mut guard = self.shared.buf.lock().unwrap();
        loop {
            let text = clean(&guard);
            if let Some(p) = text.get(from..).and_then(|t| t.find(needle)) {
                return Some(from + p + needle.len());
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                drop(guard);
                // Let the readers drain, then look one last time.
                std::thread::sleep(Duration::from_millis(100));
                let text = self.text();
                return text
                    .get(from..)
                    .and_then(|t| t.find(needle))
                    .map(|p| from + p + needle.len());
            }
            let wait = (until - now).min(Duration::from_millis(100));
            guard = self.shared.cv.wait_timeout(guard, wait).unwrap().0;
        }
    }

    pub fn wait_for(&mut self, needle: &str, within: Duration) -> Option<usize> {
        self.wait_for_from(0, needle, Instant::now() + within)
    }

    /// Types into the console.
    pub fn send(&mut self, s: &str) -> R<()> {
        let Some(i) = self.stdin.as_mut() else {
            bail!("the console input is closed")
        };
        i.write_all(s.as_bytes())
            .and_then(|_| i.flush())
            .map_err(|e| format!("console write: {e}"))
    }

    /// Sends a human monitor command; returns what the monitor answered.
    pub fn monitor(&self, cmd: &str) -> R<String> {
        let Some(path) = &self.vm.monitor else {
            bail!("no monitor socket")
        };
        let mut s = None;
        for _ in 0..50 {
            match UnixStream::connect(path) {
                Ok(c) => {
                    s = Some(c);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let Some(mut s) = s else {
            bail!("cannot connect to the monitor at {}", path.display())
        };
        s.set_read_timeout(Some(Duration::from_millis(500))).ok();
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        // Banner and prompt first.
        let _ = read_until(&mut s, &mut got, &mut b, "(qemu)");
        got.clear();
        s.write_all(format!("{cmd}\n").as_bytes())
            .map_err(|e| format!("monitor write: {e}"))?;
        let _ = read_until(&mut s, &mut got, &mut b, "(qemu)");
        Ok(clean(&got))
    }

    /// SIGKILLs QEMU now (a power cut).
    pub fn kill(mut self) -> Outcome {
        let _ = self.child.kill();
        self.finish(false, true)
    }

    /// Waits for QEMU to exit; kills it at the deadline.
    pub fn wait(mut self) -> Outcome {
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return self.finish(false, false),
                Ok(None) if Instant::now() >= self.deadline => {
                    let _ = self.child.kill();
                    return self.finish(true, false);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return self.finish(false, false),
            }
        }
    }

    fn finish(mut self, timed_out: bool, killed: bool) -> Outcome {
        drop(self.stdin.take());
        let status = self.child.wait().ok();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let secs = self.start.elapsed().as_secs_f64();
        let mut log = self.text();
        log.push_str(&format!(
            "\n== e2e: {} after {secs:.1} s{}\n== e2e: {}\n",
            match status.and_then(|s| s.code()) {
                Some(c) => format!("qemu exited {c}"),
                None => "qemu was killed".to_string(),
            },
            if timed_out {
                format!(
                    " (TIMEOUT: the bound is {:.0} s)",
                    self.vm.timeout.as_secs_f64()
                )
            } else {
                String::new()
            },
            self.cmdline
        ));
        let _ = write(&self.vm.log, &log);
        Outcome {
            log,
            secs,
            timed_out,
            killed,
            exit: status.and_then(|s| s.code()),
            log_path: self.vm.log.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Never leave a QEMU behind, whatever happened to the test.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_until(s: &mut UnixStream, got: &mut Vec<u8>, b: &mut [u8], needle: &str) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        match s.read(b) {
            Ok(0) => return false,
            Ok(n) => {
                got.extend_from_slice(&b[..n]);
                if String::from_utf8_lossy(got).contains(needle) {
                    return true;
                }
            }
            Err(_) => {}
        }
    }
    false
}

fn clean(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\r', "")
}

/// The log path of boot `n` of a scenario.
pub fn log_path(scenario: &str, n: usize, label: &str) -> PathBuf {
    crate::util::logs_dir()
        .join(scenario)
        .join(format!("{n:02}-{label}.log"))
}
