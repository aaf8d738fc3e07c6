//! The test OS that the initramfs boots: busybox plus a shell script as `/sbin/init`. It reports
//! what it sees as `E2E key=value` lines on the console (the harness reads only those), writes a
//! marker file when `/` is writeable, syncs and powers off.
//!
//! Command-line words it reads from /proc/cmdline (dotted, so the kernel hands them to nobody):
//! `e2e.boot=N` (written to `/e2e-written` as `boot-N`), `e2e.hash` (hash the image files) and
//! `e2e.dd=cached` or `e2e.dd=cold` (benchmark: time `dd` of newimg's [`DD_SOURCE`] to img, the
//! source read first or not),
//! `e2e.trash` (wait up to 60 s for the init's background cleaner to empty `overlay/trash`).

/// `/sbin/e2e-report`: the reporter. `/sbin/init` and `/sbin/other-init` exec it with `E2E_WHO` set.
pub const REPORT: &str = r#"#!/bin/sh
# E2E test init: prints what it sees as `E2E key=value` lines, then powers off.
export PATH=/bin:/sbin
e() { echo "E2E $1=$2"; }
echo "e2e: real init started ($E2E_WHO)" > /dev/kmsg 2>/dev/null
e started "$E2E_WHO"
e who "$E2E_WHO"
e pid "$$"
e args "$*"
e env_E2EENV "${E2EENV:-unset}"
e kernel "$(cat /proc/sys/kernel/osrelease)"
e uptime "$(cut -d' ' -f1 /proc/uptime)"
e cmdline "$(cat /proc/cmdline)"
e devkmsg "$(cat /proc/sys/kernel/printk_devkmsg 2>/dev/null || echo unreadable)"
boot=0
hash=
dd=
trash=
for w in $(cat /proc/cmdline); do
  case "$w" in
    e2e.boot=*) boot="${w#e2e.boot=}" ;;
    e2e.hash) hash=1 ;;
    e2e.dd=*) dd="${w#e2e.dd=}" ;;
    e2e.trash) trash=1 ;;
  esac
done
rootfs=none; rootopts=none
while read -r dev mnt fs opts rest; do
  echo "E2E mount=$dev $mnt $fs $opts"
  if [ "$mnt" = / ]; then rootfs="$fs"; rootopts="$opts"; fi
done < /proc/mounts
e rootfs "$rootfs"
e rootopts "$rootopts"
if touch /.e2e-probe 2>/dev/null; then rm -f /.e2e-probe; writable=yes; else writable=no; fi
e writable "$writable"
e marker "$(cat /etc/e2e-marker 2>/dev/null || echo none)"
e image_id "$(cat /etc/e2e-image-id 2>/dev/null || echo none)"
e persistent_only "$(cat /etc/e2e-persistent-only 2>/dev/null || echo none)"
e previous "$(cat /e2e-written 2>/dev/null || echo none)"
R=/run/initramfs-overlay
e run_dir "$(ls -A $R 2>&1 | tr '\n' ' ')"
e image_dir "$(ls -A $R/image 2>&1 | tr '\n' ' ')"
e overlay_dir "$(ls -A $R/overlay 2>&1 | tr '\n' ' ')"
e lower_dir "$(ls -A $R/lower 2>&1 | tr '\n' ' ')"
e upper_list "$(ls -A $R/overlay/upper 2>&1 | head -n 20 | tr '\n' ' ')"
e upper_count "$(ls -A $R/overlay/upper 2>/dev/null | wc -l)"
e work_list "$(ls -A $R/overlay/work 2>&1 | tr '\n' ' ')"
e persistent_list "$(ls -A $R/overlay/persistent 2>&1 | tr '\n' ' ')"
if [ -n "$trash" ]; then
  t=0
  while [ -n "$(ls -A $R/overlay/trash 2>/dev/null)" ] && [ $t -lt 600 ]; do sleep 0.1; t=$((t + 1)); done
  e trash_left "$(ls -A $R/overlay/trash 2>/dev/null | wc -l)"
  e trash_wait_ds "$t"
fi
e modules "$(cut -d' ' -f1 /proc/modules 2>/dev/null | tr '\n' ' ')"
# Bound loop devices (sysfs has loopN/loop/ only while one is bound): read-only (the disk's `ro`),
# autoclear and backing file. Then PID 1's seccomp mode and filter count (s18's shim leaves 2 and 1).
for l in /sys/block/loop*/loop; do
  [ -d "$l" ] || continue
  d="${l%/loop}"
  e loop "${d##*/} ro=$(cat "$d/ro" 2>&1) autoclear=$(cat "$l/autoclear" 2>&1) backing_file=$(cat "$l/backing_file" 2>&1)"
done
# What the real init got as its standard input (s17_no_console_node: the console, opened by our init).
e stdin "$(readlink /proc/$$/fd/0 2>/dev/null || echo closed)"
e seccomp "$(grep '^Seccomp:' /proc/1/status 2>/dev/null | cut -f2)"
e seccomp_filters "$(grep '^Seccomp_filters:' /proc/1/status 2>/dev/null | cut -f2)"
if [ -f $R/status ]; then
  while IFS= read -r l; do e status "$l"; done < $R/status
else
  e status "missing"
fi
# The init's messages as the booted OS's dmesg shows them (not the step timings), and how many
# step timings there are (`quiet` must leave none).
dmesg 2>/dev/null | grep 'initramfs-overlay: ' | grep -v ': done in ' | while IFS= read -r l; do
  e kmsg "${l#*initramfs-overlay: }"
done
e kmsg_steps "$(dmesg 2>/dev/null | grep -c 'initramfs-overlay: .*: done in ')"
if [ -n "$dd" ]; then
  # Benchmark: the promotion's copy done by `dd bs=1M conv=fsync` (the file from newimg to a new file
  # on img), as the first bulk copy of this VM like the promotion's in its own. The source is read
  # first (as the promotion finds it after the sha256 check) unless e2e.dd=cold.
  f=/mnt/e2e-dd-source.img
  mount -o ro "$(busybox findfs LABEL=newimg)" /mnt
  mount -o remount,rw $R/image
  sync; echo 3 > /proc/sys/vm/drop_caches
  [ "$dd" = cold ] || cat $f > /dev/null
  # The clock read by the shell itself (`read`, no fork of a `cut` inside the timed span).
  read t0 _ < /proc/uptime
  # The size written, so that a copy that failed or stopped short cannot pass for a fast one.
  if dd if=$f of=$R/image/e2e-dd.bin bs=1M conv=fsync 2>/dev/null; then
    read t1 _ < /proc/uptime
    e dd "$dd $(stat -c %s $R/image/e2e-dd.bin) $t0 $t1"
  else
    e dd "$dd failed"
  fi
  rm -f $R/image/e2e-dd.bin; umount /mnt; sync
fi
if [ -n "$hash" ]; then
  for f in $R/image/*.img; do [ -f "$f" ] && e hash "$(sha256sum "$f")"; done
fi
if [ "$writable" = yes ]; then
  echo "boot-$boot" > /e2e-written
  sync
  if [ -f $R/overlay/upper/e2e-written ]; then e written_in_upper yes; else e written_in_upper no; fi
fi
sync
e done "$boot"
poweroff -f
sleep 5
echo "E2E poweroff=failed"
"#;

/// The name of the benchmark's source file on newimg for `e2e.dd=` (the `f=` of `REPORT`'s dd part):
/// not the image name, so the init promotes nothing in those boots.
pub const DD_SOURCE: &str = "e2e-dd-source.img";

/// `/sbin/init` and `/sbin/other-init`.
pub fn init_script(who: &str) -> String {
    format!("#!/bin/sh\nexport E2E_WHO={who}\nexec /sbin/e2e-report \"$@\"\n")
}

/// A reference `/init`: what the original shell init did (labels through `findfs`, no checks),
/// with busybox. The harness boots it in scenario 0 to prove the kernels, disks and modules, and
/// `E2E_REFERENCE_INIT=1` runs every scenario with it instead of the product (a harness self-test:
/// the error, debug, update and override scenarios fail by design then).
pub const REFERENCE_INIT: &str = r#"#!/bin/sh
export PATH=/bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
k=$(uname -r)
if [ -f /lib/modules/$k/load-order ]; then
  while read -r m; do insmod /lib/modules/$k/$m || echo "reference: insmod $m failed"; done < /lib/modules/$k/load-order
fi
i=0
while ! findfs LABEL=img >/dev/null 2>&1 || ! findfs LABEL=overlay >/dev/null 2>&1; do
  i=$((i+1)); [ $i -gt 100 ] && { echo "initramfs-overlay: find: LABEL=img or LABEL=overlay not found (ENOENT)"; poweroff -f; }
  sleep 0.1
done
img=$(findfs LABEL=img); ovl=$(findfs LABEL=overlay)
mode=ro; init=/sbin/init
for w in $(cat /proc/cmdline); do case "$w" in rw) mode=rw ;; init=*) init="${w#init=}" ;; esac; done
mkdir -p /m/img /m/ovl /m/lower /new
mount -t ext4 -o ro $img /m/img && mount -t squashfs -o ro,loop /m/img/root-squashfs.img /m/lower \
 && mount -t ext4 $ovl /m/ovl && rm -rf /m/ovl/upper /m/ovl/work && mkdir -p /m/ovl/upper /m/ovl/work /m/ovl/persistent \
 && mount -t overlay overlay -o $mode,lowerdir=/m/ovl/persistent:/m/lower,upperdir=/m/ovl/upper,workdir=/m/ovl/work /new \
 && mount -t tmpfs run /new/run && mkdir -p /new/run/initramfs-overlay/image /new/run/initramfs-overlay/overlay /new/run/initramfs-overlay/lower \
 && mount --move /m/img /new/run/initramfs-overlay/image && mount --move /m/ovl /new/run/initramfs-overlay/overlay \
 && mount --move /m/lower /new/run/initramfs-overlay/lower && echo "reference" > /new/run/initramfs-overlay/status \
 && mount --move /sys /new/sys && mount --move /proc /new/proc && mount --move /dev /new/dev \
 && exec switch_root /new "$init" "$@"
echo "initramfs-overlay: reference: boot failed (EIO)"; poweroff -f
"#;

/// The busybox applets the scripts use (links to /bin/busybox in the image).
pub const APPLETS: &[&str] = &[
    "sh",
    "cat",
    "cut",
    "echo",
    "ls",
    "mount",
    "rm",
    "touch",
    "tr",
    "wc",
    "head",
    "sync",
    "poweroff",
    "sleep",
    "sha256sum",
    "umount",
    "dmesg",
    "stat",
    "df",
    "find",
    "grep",
    "dd",
];

/// The `E2E key=value` lines of a console log, in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub pairs: Vec<(String, String)>,
}

impl Report {
    pub fn parse(log: &str) -> Report {
        let mut pairs = Vec::new();
        for line in log.lines() {
            // A kernel message may share the line (no newline between them): find the marker.
            let Some(at) = line.find("E2E ") else {
                continue;
            };
            let rest = &line[at + 4..];
            let Some((k, v)) = rest.split_once('=') else {
                continue;
            };
            if k.is_empty() || !k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                continue;
            }
            pairs.push((k.to_string(), v.trim_end().to_string()));
        }
        Report { pairs }
    }

    /// The last value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The guest ran to the end of the script.
    pub fn done(&self) -> bool {
        self.get("done").is_some()
    }

    /// A value, or an error naming the key.
    pub fn req(&self, key: &str) -> crate::R<&str> {
        self.get(key)
            .ok_or_else(|| format!("the guest reported no `E2E {key}=` line"))
    }

    /// `lowerdir=`, `upperdir=`, `workdir=` of the root mount.
    pub fn root_opt(&self, name: &str) -> Option<String> {
        let opts = self.get("rootopts")?;
        opts.split(',')
            .find_map(|o| o.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    }

    /// `ro` or `rw` from the root mount options.
    pub fn root_mode(&self) -> Option<&str> {
        self.get("rootopts")?
            .split(',')
            .find(|o| *o == "ro" || *o == "rw")
    }

    /// The (file name, sha256) pairs the guest hashed (`e2e.hash`).
    pub fn hashes(&self) -> Vec<(String, String)> {
        self.all("hash")
            .iter()
            .filter_map(|v| {
                let mut it = v.split_whitespace();
                let h = it.next()?;
                let f = it.next()?;
                Some((f.rsplit('/').next().unwrap_or(f).to_string(), h.to_string()))
            })
            .collect()
    }
}

/// `[ 12.345678] text` → (seconds, text).
pub fn printk(line: &str) -> Option<(f64, &str)> {
    let l = line.trim_start_matches(|c: char| c != '[');
    let l = l.strip_prefix('[')?;
    let (t, rest) = l.split_once(']')?;
    Some((t.trim().parse().ok()?, rest.trim_start()))
}

/// Milliseconds from the kernel's "Run /init" to the test OS's first kmsg line, both read from
/// the printk timestamps.
pub fn timeline_ms(log: &str) -> Option<f64> {
    let mut start = None;
    for line in log.lines() {
        if let Some((t, text)) = printk(line) {
            if text.starts_with("Run /init") {
                start = Some(t);
            } else if text.starts_with("e2e: real init started")
                && let Some(s) = start
            {
                return Some((t - s) * 1000.0);
            }
        }
    }
    None
}

/// The init's own lines (`initramfs-overlay: ...`), without the printk timestamp and prefix.
pub fn init_lines(log: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for line in log.lines() {
        if let Some(at) = line.find("initramfs-overlay: ") {
            let s = line[at + "initramfs-overlay: ".len()..]
                .trim_end()
                .to_string();
            // The init writes each line to kmsg and to the console: keep one copy.
            if v.last() != Some(&s) {
                v.push(s);
            }
        }
    }
    v
}

/// The init's step timings: (`step`, ms) from `<step>: done in <N> ms`.
pub fn step_times(log: &str) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = Vec::new();
    for l in init_lines(log) {
        if let Some((step, rest)) = l.split_once(": done in ")
            && let Some(ms) = rest.strip_suffix(" ms").and_then(|n| n.trim().parse().ok())
            && !v.iter().any(|(s, m)| s == step && *m == ms)
        {
            v.push((step.to_string(), ms));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_reads_the_dd_source() {
        assert!(REPORT.contains(&format!("\n  f=/mnt/{DD_SOURCE}\n")));
    }

    #[test]
    fn parses_lines() {
        let log = "[    1.0] Run /init as init process\r\nE2E pid=1\n[    1.5] e2e: real init started (init)\nE2E rootopts=ro,lowerdir=/a/persistent:/b,upperdir=/a/upper\nnoise E2E hash=abc  /run/initramfs-overlay/image/root-squashfs.img\nE2E bad key=1\ninitramfs-overlay: mount: done in 12 ms\ninitramfs-overlay: mount: done in 12 ms\n";
        let r = Report::parse(log);
        assert_eq!(r.get("pid"), Some("1"));
        assert_eq!(r.root_opt("upperdir").as_deref(), Some("/a/upper"));
        assert_eq!(r.root_mode(), Some("ro"));
        assert_eq!(
            r.hashes(),
            vec![("root-squashfs.img".to_string(), "abc".to_string())]
        );
        assert!(r.get("bad key").is_none());
        assert_eq!(timeline_ms(log).map(|t| t.round()), Some(500.0));
        assert_eq!(step_times(log), vec![("mount".to_string(), 12)]);
    }
}
