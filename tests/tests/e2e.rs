//! The end-to-end scenarios (issue "End-to-end suite"): each one a named test, run by
//! `cargo test -p e2e` (filter by name as usual: `cargo test -p e2e -- s08`). Two run at a time
//! (the machine has 2 cores; `--test-threads N` changes it). A summary table follows the results.

use e2e::guest;
use e2e::images::{self, Ext4View, Part};
use e2e::kernels::KernelId;
use e2e::report::{self, Row};
use e2e::world::{self, Booted, Mods, Sc, expect_standard};
use e2e::{R, bail, ensure};
use libtest_mimic::{Arguments, Trial};
use std::path::PathBuf;
use std::time::{Duration, Instant};

type Scenario = fn(&mut Sc) -> R<()>;

fn main() {
    e2e::util::fix_path();
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(2);
    }
    let t = Instant::now();
    // Longest first, so that the two workers end together.
    let list: Vec<(&str, KernelId, Scenario)> = vec![
        ("s15_power_cut", KernelId::Amd64, s15_power_cut),
        ("s08_armv6l_raspi0", KernelId::Rpi, s08_armv6l),
        ("s12_debug_shell", KernelId::Amd64, s12_debug_shell),
        ("s10_bad_image", KernelId::Amd64, s10_bad_image),
        ("s14_many_files_in_upper", KernelId::Amd64, s14_many_files),
        ("s07_i686", KernelId::I386, s07_i686),
        (
            "s02_upper_cleared_persistent_shadows",
            KernelId::Amd64,
            s02_upper_persistent,
        ),
        ("s06_init_and_rw", KernelId::Amd64, s06_init_rw),
        ("s15_update_promoted", KernelId::Amd64, s15_update_promoted),
        ("s15_update_rejected", KernelId::Amd64, s15_update_rejected),
        ("s00_reference_shell_init", KernelId::Amd64, s00_reference),
        ("s01_standard_boot_x86_64", KernelId::Amd64, s01_standard),
        (
            "s03_modules_from_boot_and_image",
            KernelId::Amd64,
            s03_modules,
        ),
        (
            "s04_compressed_modules_6_12",
            KernelId::Amd64Backports,
            s04_backports,
        ),
        ("s05_layout_gpt", KernelId::Amd64, s05_gpt),
        (
            "s05_layout_gpt_partlabel_partuuid",
            KernelId::Amd64,
            s05_gpt_overrides,
        ),
        (
            "s05_layout_mbr_uuid_partuuid",
            KernelId::Amd64,
            s05_mbr_overrides,
        ),
        (
            "s05_layout_separate_disks_devname",
            KernelId::Amd64,
            s05_separate,
        ),
        ("s09_missing_overlay", KernelId::Amd64, s09_missing_overlay),
        ("s11_duplicate_label", KernelId::Amd64, s11_duplicate_label),
        ("s13_hotplug_img", KernelId::Amd64, s13_hotplug),
        (
            "s15_update_short_space",
            KernelId::Amd64,
            s15_update_short_space,
        ),
        ("s15_fallback_to_old", KernelId::Amd64, s15_fallback_to_old),
    ];
    let trials = list
        .into_iter()
        .map(|(name, k, f)| trial(name, k, f))
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if !args.list {
        let s = report::summary(t.elapsed().as_secs_f64());
        eprintln!("{s}");
        let _ = e2e::util::write(&e2e::util::logs_dir().join("summary.txt"), &s);
    }
    conclusion.exit();
}

fn trial(name: &'static str, kernel: KernelId, f: Scenario) -> Trial {
    Trial::test(name, move || {
        let t = Instant::now();
        let mut boots = 0;
        let mut notes = String::new();
        let result = match Sc::new(name, kernel) {
            Ok(mut sc) => {
                let r = f(&mut sc);
                boots = sc.boots;
                notes = sc.notes.join("; ");
                r
            }
            Err(e) => Err(e),
        };
        report::record(Row {
            name: name.to_string(),
            arch: kernel.arch().name().to_string(),
            pass: result.is_ok(),
            secs: t.elapsed().as_secs_f64(),
            boots,
            note: match &result {
                Ok(()) => notes,
                Err(e) => e.lines().next().unwrap_or("").to_string(),
            },
        });
        result.map_err(|e| format!("{name}: {e}").into())
    })
    .with_kind(kernel.name())
}

// ---------------------------------------------------------------------------------------------
// 0. The harness itself: the same kernels, disks and modules booted by a plain busybox script
//    (what the original shell init did). When this fails, the environment is broken, not the init.

fn s00_reference(sc: &mut Sc) -> R<()> {
    let k = sc.w.kernel(sc.kernel).clone();
    let reference = sc.w.reference_init(sc.arch())?;
    let m = sc.w.modules_archive(sc.kernel, Mods::All)?.unwrap();
    let initrd = sc.path("reference-initrd.gz");
    let mut data = e2e::util::read(&reference)?;
    data.extend(e2e::util::read(&m)?);
    e2e::util::write(&initrd, data)?;
    let vm = e2e::qemu::Vm {
        kernel: k.clone(),
        initrd,
        append: String::new(),
        disks: sc.std_disks()?,
        monitor: None,
        timeout: e2e::qemu::default_timeout(sc.kernel),
        log: e2e::qemu::log_path(&sc.name, 1, "reference"),
    };
    sc.boots += 1;
    let out = vm.run()?;
    let b = sc.finish("reference", out);
    expect_standard(&b)?;
    b.expect("writable", "no")?;
    b.expect("previous", "none")?;
    sc.note(format!(
        "{:.1} s per boot ({})",
        b.out.secs,
        if k.pvh { "PVH vmlinux" } else { "bzImage" }
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 1, 2: the standard boot; upper is cleared every boot, persistent shadows the image.

fn s01_standard(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b = sc.boot("standard", &sc.boot_opts(d, ""))?;
    expect_standard(&b)?;
    b.expect("who", "init")?;
    b.expect("writable", "no")?;
    b.check(
        b.r.root_mode() == Some("ro"),
        format!(
            "the default root must be read-only: {:?}",
            b.r.get("rootopts")
        ),
    )?;
    b.check(
        b.r.get("status").is_some_and(|s| s != "missing"),
        "/run/initramfs-overlay/status is missing",
    )?;
    let run = b.r.get("run_dir").unwrap_or("");
    for d in ["image", "overlay", "lower", "status"] {
        b.check(
            run.split_whitespace().any(|x| x == d),
            format!("/run/initramfs-overlay/ should hold {d}: {run:?}"),
        )?;
    }
    let lower = b.r.get("lower_dir").unwrap_or("");
    b.check(
        lower.split_whitespace().any(|x| x == "sbin"),
        format!("/run/initramfs-overlay/lower/ should be the image: {lower:?}"),
    )?;
    sc.note(format!("{:.1} s boot", b.out.secs));
    Ok(())
}

fn s02_upper_persistent(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b1 = sc.boot("rw-1", &sc.boot_opts(d.clone(), "rw e2e.boot=1"))?;
    expect_standard(&b1)?;
    b1.expect("writable", "yes")?;
    // The template's upper/e2e-written ("stale-upper") must be gone: upper was cleared.
    b1.expect("previous", "none")?;
    b1.expect("written_in_upper", "yes")?;
    let work = b1.r.get("work_list").unwrap_or("");
    b1.check(
        !work.contains("e2e-stale-work"),
        format!("work/ was not reset: {work:?}"),
    )?;
    // The write reached the overlay partition's upper/ (read on the host).
    let v = Ext4View::open(&d[1], &sc.path("check.ext4"))?;
    let upper = v.cat("/upper/e2e-written")?;
    b1.check(
        upper.trim() == "boot-1",
        format!("overlay partition upper/e2e-written: {upper:?}"),
    )?;
    drop(v);
    let b2 = sc.boot("rw-2", &sc.boot_opts(d, "rw e2e.boot=2"))?;
    expect_standard(&b2)?;
    b2.expect("previous", "none")?;
    b2.expect("marker", "from-persistent")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3, 4: modules from the boot partition and from the image; compressed modules on 6.12.

fn s03_modules(sc: &mut Sc) -> R<()> {
    let k = sc.w.kernel(sc.kernel).clone();
    let sq = k.module_path("squashfs")?;
    let file = sq.rsplit('/').next().unwrap().to_string();
    let boot = sc.path("boot.vfat");
    images::vfat(
        &boot,
        "boot",
        16,
        &[(k.modules.join(&sq), format!("modules/{}/{file}", k.kver))],
    )?;
    let mut d = sc.std_disks()?;
    d.push(boot);
    let mut o = sc.boot_opts(d, "");
    o.mods = Mods::Without(&["squashfs", "overlay"]);
    let b = sc.boot("boot-and-image-modules", &o)?;
    expect_standard(&b)?;
    let mods = b.r.get("modules").unwrap_or("");
    for m in ["squashfs", "overlay"] {
        b.check(
            mods.split_whitespace().any(|x| x == m),
            format!("{m} is not loaded: {mods:?}"),
        )?;
    }
    Ok(())
}

fn s04_backports(sc: &mut Sc) -> R<()> {
    let k = sc.w.kernel(sc.kernel).clone();
    ensure!(
        k.module_path("ext4")?.ends_with(".ko.xz"),
        "the backports kernel's modules are not .ko.xz"
    );
    let d = sc.std_disks()?;
    let b = sc.boot("6.12-ko.xz", &sc.boot_opts(d, ""))?;
    expect_standard(&b)?;
    b.expect("kernel", &k.kver)?;
    let mods = b.r.get("modules").unwrap_or("");
    for m in ["ext4", "squashfs", "overlay", "virtio_blk"] {
        b.check(
            mods.split_whitespace().any(|x| x == m),
            format!("{m} is not loaded: {mods:?}"),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 5: layouts and label overrides.

const GPT_DISK: &str = "6a1e0000-0000-4000-8000-000000000001";
const GPT_IMG: &str = "6a1e0000-0000-4000-8000-0000000000a1";
const GPT_OVERLAY: &str = "6a1e0000-0000-4000-8000-0000000000b1";
const GPT_BOOT: &str = "6a1e0000-0000-4000-8000-0000000000c1";

/// img and overlay filesystems with chosen labels and UUIDs, plus a vfat `boot`.
fn fs_set(
    sc: &Sc,
    img_label: &str,
    ovl_label: &str,
    img_uuid: &str,
) -> R<(PathBuf, PathBuf, PathBuf)> {
    let os = sc.w.os_image(sc.arch(), "A", 0)?;
    let dir = sc.path("img.d");
    e2e::util::fresh_dir(&dir)?;
    std::fs::copy(&os, dir.join("root-squashfs.img")).map_err(|e| e.to_string())?;
    let img = sc.path("img-part.ext4");
    images::ext4(&img, img_label, Some(&dir), 32, Some(img_uuid), &[])?;
    let od = sc.path("ovl.d");
    world::overlay_tree(&od, 0)?;
    let ovl = sc.path("overlay-part.ext4");
    images::ext4(&ovl, ovl_label, Some(&od), 32, None, &[])?;
    let boot = sc.path("boot-part.vfat");
    images::vfat(&boot, "boot", 8, &[])?;
    Ok((img, ovl, boot))
}

fn gpt_disk(sc: &Sc, img_label: &str, ovl_label: &str) -> R<PathBuf> {
    let (img, ovl, boot) = fs_set(sc, img_label, ovl_label, world::IMG_UUID)?;
    let disk = sc.path("gpt.img");
    images::gpt(
        &disk,
        &[
            Part {
                fs: &boot,
                name: "p-boot",
                kind: "fat",
                uuid: Some(GPT_BOOT),
            },
            Part {
                fs: &img,
                name: "p-img",
                kind: "linux",
                uuid: Some(GPT_IMG),
            },
            Part {
                fs: &ovl,
                name: "p-overlay",
                kind: "linux",
                uuid: Some(GPT_OVERLAY),
            },
        ],
        GPT_DISK,
    )?;
    Ok(disk)
}

fn s05_gpt(sc: &mut Sc) -> R<()> {
    let disk = gpt_disk(sc, "img", "overlay")?;
    let b = sc.boot("gpt-labels", &sc.boot_opts(vec![disk], ""))?;
    expect_standard(&b)?;
    let mounts = b.r.all("mount").join("\n");
    b.check(
        mounts.contains("/dev/vda2") || mounts.contains("vda2"),
        format!("img should be vda2: {mounts}"),
    )?;
    Ok(())
}

fn s05_gpt_overrides(sc: &mut Sc) -> R<()> {
    // The filesystems carry other labels: only the overrides can find them.
    let disk = gpt_disk(sc, "xa", "xb")?;
    let append = format!("iovl.img=PARTLABEL=p-img iovl.overlay=PARTUUID={GPT_OVERLAY}");
    let b = sc.boot("gpt-partlabel-partuuid", &sc.boot_opts(vec![disk], &append))?;
    expect_standard(&b)
}

fn s05_mbr_overrides(sc: &mut Sc) -> R<()> {
    let uuid = "2b2b2b2b-0000-4000-8000-00000000000a";
    let (img, ovl, boot) = fs_set(sc, "ya", "yb", uuid)?;
    let disk = sc.path("mbr.img");
    images::mbr(
        &disk,
        &[
            Part {
                fs: &boot,
                name: "",
                kind: "fat",
                uuid: None,
            },
            Part {
                fs: &img,
                name: "",
                kind: "linux",
                uuid: None,
            },
            Part {
                fs: &ovl,
                name: "",
                kind: "linux",
                uuid: None,
            },
        ],
        "0x5ee0beef",
        128,
    )?;
    let append = format!("iovl.img=UUID={uuid} iovl.overlay=PARTUUID=5ee0beef-03");
    let b = sc.boot("mbr-uuid-partuuid", &sc.boot_opts(vec![disk], &append))?;
    expect_standard(&b)
}

fn s05_separate(sc: &mut Sc) -> R<()> {
    let mut d = sc.std_disks()?;
    let boot = sc.path("boot.vfat");
    images::vfat(&boot, "boot", 8, &[])?;
    d.push(boot);
    let b = sc.boot("separate-devname", &sc.boot_opts(d, "iovl.img=/dev/vda"))?;
    expect_standard(&b)
}

// ---------------------------------------------------------------------------------------------
// 6: init= and rw.

fn s06_init_rw(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b = sc.boot(
        "other-init",
        &sc.boot_opts(d.clone(), "init=/sbin/other-init E2EENV=hello e2earg"),
    )?;
    expect_standard(&b)?;
    b.expect("who", "other-init")?;
    b.expect("writable", "no")?;
    let args = b.r.get("args").unwrap_or("");
    b.check(
        args.split_whitespace().any(|a| a == "e2earg"),
        format!("the kernel's argument e2earg did not reach init=: {args:?}"),
    )?;
    b.expect("env_E2EENV", "hello")?;
    let b = sc.boot("rw", &sc.boot_opts(d, "rw"))?;
    expect_standard(&b)?;
    b.expect("who", "init")?;
    b.expect("writable", "yes")?;
    b.check(
        b.r.root_mode() == Some("rw"),
        format!("`rw` should give a rw root: {:?}", b.r.get("rootopts")),
    )
}

// ---------------------------------------------------------------------------------------------
// 7, 8: i686 and armv6l.

fn s07_i686(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b = sc.boot("i686", &sc.boot_opts(d, "rw e2e.boot=1"))?;
    expect_standard(&b)?;
    b.expect("kernel", &sc.w.kernel(sc.kernel).kver)?;
    b.expect("writable", "yes")
}

fn s08_armv6l(sc: &mut Sc) -> R<()> {
    let arch = sc.arch();
    let img = sc.copy(&sc.w.img_fs(arch, 32)?, "img.ext4")?;
    let ovl = sc.copy(&sc.w.overlay_fs(64)?, "overlay.ext4")?;
    let boot = sc.path("boot.vfat");
    images::vfat(&boot, "boot", 16, &[])?;
    let sd = sc.path("sd.img");
    images::mbr(
        &sd,
        &[
            Part {
                fs: &boot,
                name: "",
                kind: "fat",
                uuid: None,
            },
            Part {
                fs: &img,
                name: "",
                kind: "linux",
                uuid: None,
            },
            Part {
                fs: &ovl,
                name: "",
                kind: "linux",
                uuid: None,
            },
        ],
        "0x0a0b0c0d",
        128,
    )?;
    let b = sc.boot(
        "raspi0-sd",
        &sc.boot_opts(vec![sd.clone()], "rw e2e.boot=1"),
    )?;
    expect_standard(&b)?;
    b.expect("writable", "yes")?;
    b.expect("written_in_upper", "yes")?;
    let mounts = b.r.all("mount").join("\n");
    b.check(
        mounts.contains("mmcblk0p"),
        format!("the partitions should be mmcblk0pN: {mounts}"),
    )?;
    let b2 = sc.boot("raspi0-sd-2", &sc.boot_opts(vec![sd], "e2e.boot=2"))?;
    expect_standard(&b2)?;
    b2.expect("previous", "none")?;
    sc.note(format!("{:.1} s per boot", b.out.secs));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 9, 10, 11: errors.

const WAIT: u64 = 3;

fn s09_missing_overlay(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let mut o = sc.boot_opts(vec![d[0].clone()], &format!("iovl.wait={WAIT}"));
    o.timeout = Some(Duration::from_secs(WAIT + 40));
    let b = sc.boot("no-overlay", &o)?;
    let line = b.expect_failed_with(&["overlay", "not found"])?;
    b.check(
        b.out.log.contains("Kernel panic"),
        "the default failure action is a kernel panic",
    )?;
    let t = b.panic_after_init_secs();
    b.check(
        t.is_some_and(|t| t <= WAIT as f64 + 5.0),
        format!("the panic came {t:?} s after Run /init; the wait is {WAIT} s"),
    )?;
    sc.note(format!(
        "panic {:.1} s after Run /init (wait {WAIT} s): {line}",
        t.unwrap_or(0.0)
    ));
    Ok(())
}

/// Files to put on a partition: (name, content).
type Files<'a> = Vec<(&'a str, Vec<u8>)>;

fn img_with(
    sc: &Sc,
    name: &str,
    files: &[(&str, Vec<u8>)],
    size_mib: u64,
    label: &str,
    uuid: &str,
) -> R<PathBuf> {
    let dir = sc.path(&format!("{name}.d"));
    e2e::util::fresh_dir(&dir)?;
    for (f, data) in files {
        e2e::util::write(&dir.join(f), data)?;
    }
    let out = sc.path(name);
    images::ext4(&out, label, Some(&dir), size_mib, Some(uuid), &[])?;
    Ok(out)
}

fn no_mount_attempt(b: &Booted) -> R<()> {
    for bad in [
        "SQUASHFS error",
        "unable to read squashfs",
        "loop0: detected capacity",
    ] {
        b.check(
            !b.out.log.contains(bad),
            format!("a bad image must not be mounted, but the log has {bad:?}"),
        )?;
    }
    Ok(())
}

fn s10_bad_image(sc: &mut Sc) -> R<()> {
    let ovl = sc.copy(&sc.w.overlay_fs(64)?, "overlay.ext4")?;
    let good = e2e::util::read(&sc.w.os_image(sc.arch(), "A", 0)?)?;
    let mut junk = vec![0u8; 1 << 20];
    fastrand::Rng::with_seed(10).fill(&mut junk);
    let truncated = good[..good.len() / 2].to_vec();
    let cases: [(&str, Files); 3] = [
        ("bad-magic", vec![("root-squashfs.img", junk)]),
        ("truncated", vec![("root-squashfs.img", truncated)]),
        ("missing", vec![("other-file", b"x".to_vec())]),
    ];
    let mut lines = Vec::new();
    for (label, files) in cases {
        let img = img_with(
            sc,
            &format!("img-{label}.ext4"),
            &files,
            32,
            "img",
            world::IMG_UUID,
        )?;
        let mut o = sc.boot_opts(vec![img, ovl.clone()], "");
        o.timeout = Some(Duration::from_secs(60));
        let b = sc.boot(label, &o)?;
        let line = b.expect_failed_with(&["root-squashfs.img"])?;
        no_mount_attempt(&b)?;
        lines.push(format!("{label}: {line}"));
    }
    sc.note(lines.join(" | "));
    Ok(())
}

fn s11_duplicate_label(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let os = e2e::util::read(&sc.w.os_image(sc.arch(), "A", 0)?)?;
    let img2 = img_with(
        sc,
        "img2.ext4",
        &[("root-squashfs.img", os)],
        32,
        "img",
        "3c3c3c3c-0000-4000-8000-00000000000a",
    )?;
    // vda: img, vdb: overlay, vdc: a second `img`.
    let b = sc.boot(
        "duplicate-img",
        &sc.boot_opts(vec![d[0].clone(), d[1].clone(), img2], ""),
    )?;
    let line = b.expect_failed_with(&["vda", "vdc"])?;
    sc.note(line);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 12: the debug build's shell.

fn s12_debug_shell(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    // a) The pre-boot shell: type a command, then exit, and the boot completes.
    let mut o = sc.boot_opts(d.clone(), "");
    o.debug = true;
    let mut run = sc.start("pre-boot-shell", &o)?;
    let found = run.wait_for("exit to boot", Duration::from_secs(60));
    let mut err = None;
    if let Some(at) = found {
        std::thread::sleep(Duration::from_millis(500));
        run.send("echo SHELL-$((6*7))\n")?;
        match run.wait_for_from(at, "SHELL-42", Instant::now() + Duration::from_secs(20)) {
            Some(_) => run.send("exit\n")?,
            None => err = Some("the shell did not answer `echo SHELL-$((6*7))` with SHELL-42"),
        }
    } else {
        err = Some("the pre-boot shell prompt (\"type exit to boot\") did not appear");
    }
    let out = run.wait();
    let b = sc.finish("pre-boot-shell", out);
    if let Some(e) = err {
        return b.check(false, e);
    }
    expect_standard(&b)?;
    // b) iovl.noshell: the same image boots unattended.
    let mut o = sc.boot_opts(d.clone(), "iovl.noshell");
    o.debug = true;
    let b = sc.boot("noshell", &o)?;
    expect_standard(&b)?;
    b.check(
        !b.out.log.contains("exit to boot"),
        "iovl.noshell still started the pre-boot shell",
    )?;
    // c) An injected error (no overlay partition): the shell appears.
    let mut o = sc.boot_opts(vec![d[0].clone()], "iovl.wait=2");
    o.debug = true;
    let mut run = sc.start("error-shell", &o)?;
    let mut err = None;
    match run.wait_for("exit to retry", Duration::from_secs(60)) {
        Some(at) => {
            std::thread::sleep(Duration::from_millis(500));
            run.send("echo ERR-$((6*7))\n")?;
            if run
                .wait_for_from(at, "ERR-42", Instant::now() + Duration::from_secs(20))
                .is_none()
            {
                err = Some("the error shell did not answer `echo ERR-$((6*7))`");
            }
            run.send("poweroff -f\n")?;
            run.deadline = run.deadline.min(Instant::now() + Duration::from_secs(20));
        }
        None => {
            err =
                Some("the error shell (\"exit to retry\") did not appear after the missing overlay")
        }
    }
    let out = run.wait();
    let b = sc.finish("error-shell", out);
    if let Some(e) = err {
        return b.check(false, e);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 13: a late device, hot-added over the monitor.

fn s13_hotplug(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let mut o = sc.boot_opts(vec![d[1].clone()], "");
    o.monitor = true;
    let mut run = sc.start("hotplug", &o)?;
    let mut err = None;
    // About 2 s after "Run /init": one second after the init's first line (module loading takes
    // 0.5 to 1.5 s), so the disk surely arrives while the init is waiting for it.
    match run.wait_for("] initramfs-overlay: ", Duration::from_secs(60)) {
        Some(_) => {
            std::thread::sleep(Duration::from_secs(1));
            let a = run.monitor(&format!(
                "drive_add 0 if=none,id=hotimg,format=raw,file={}",
                d[0].display()
            ))?;
            let b = run.monitor("device_add virtio-blk-pci,drive=hotimg,id=hotimgdisk")?;
            if a.to_lowercase().contains("error") || b.to_lowercase().contains("error") {
                err = Some(format!("monitor: {a:?} {b:?}"));
            }
        }
        None => err = Some("the init never printed a line".to_string()),
    }
    let at = run.elapsed().as_secs_f64();
    let out = run.wait();
    let b = sc.finish("hotplug", out);
    if let Some(e) = err {
        return b.check(false, e);
    }
    expect_standard(&b)?;
    // The disk really came late: the kernel saw the new PCI device after the init had started.
    let first = |pred: &dyn Fn(&str) -> bool| {
        b.out
            .log
            .lines()
            .filter_map(guest::printk)
            .find(|(_, t)| pred(t))
            .map(|(t, _)| t)
    };
    let init = first(&|t| t.starts_with("initramfs-overlay: "));
    let hot = first(&|t| t.starts_with("pci 0000:00:03.0"));
    b.check(
        matches!((init, hot), (Some(i), Some(h)) if h > i),
        format!("the img disk should appear after the init started (init at {init:?} s, hot-added device at {hot:?} s)"),
    )?;
    sc.note(format!(
        "img hot-added {at:.1} s after QEMU start, {:.2} s after the init's first line",
        hot.unwrap_or(0.0) - init.unwrap_or(0.0)
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 14: 20,000 files left in upper.

fn s14_many_files(sc: &mut Sc) -> R<()> {
    let img = sc.copy(&sc.w.img_fs(sc.arch(), 32)?, "img.ext4")?;
    let od = sc.path("ovl.d");
    world::overlay_tree(&od, 20_000)?;
    let ovl = sc.path("overlay.ext4");
    images::ext4(&ovl, "overlay", Some(&od), 128, None, &["-N", "40000"])?;
    let _ = std::fs::remove_dir_all(&od);
    let d = vec![img, ovl];
    let b = sc.boot("20000-files", &sc.boot_opts(d.clone(), "rw e2e.boot=1"))?;
    expect_standard(&b)?;
    b.expect("previous", "none")?;
    let n: usize =
        b.r.get("upper_count")
            .unwrap_or("x")
            .trim()
            .parse()
            .unwrap_or(usize::MAX);
    b.check(
        n <= 3,
        format!(
            "upper/ should be fresh, it has {n} entries: {:?}",
            b.r.get("upper_list")
        ),
    )?;
    let steps = guest::step_times(&b.out.log);
    let clear: Vec<String> = steps
        .iter()
        .filter(|(s, _)| {
            let s = s.to_lowercase();
            s.contains("upper") || s.contains("clear") || s.contains("overlay")
        })
        .map(|(s, m)| format!("{s}={m} ms"))
        .collect();
    let tl = guest::timeline_ms(&b.out.log).map_or("?".into(), |t| format!("{t:.0} ms"));
    sc.note(format!(
        "Run /init → real init {tl}; steps: {}",
        if clear.is_empty() {
            "no step timings logged".into()
        } else {
            clear.join(", ")
        }
    ));
    // The next boot is still fine (whatever was deferred was cleaned up or is harmless).
    let b2 = sc.boot("after", &sc.boot_opts(d, "rw e2e.boot=2"))?;
    expect_standard(&b2)?;
    b2.expect("previous", "none")
}

// ---------------------------------------------------------------------------------------------
// 15: updates (issue "Power-safe image update").

fn sha256_line(hash: &str) -> Vec<u8> {
    format!("{hash}  root-squashfs.img\n").into_bytes()
}

struct Update {
    img: PathBuf,
    overlay: PathBuf,
    newimg: PathBuf,
    hash_a: String,
    hash_b: String,
}

/// img holds image A (optionally as `-old` with `current` as the current file), newimg holds B.
fn update_disks(sc: &Sc, b_payload: u64, newimg_files: Option<Files>, img_mib: u64) -> R<Update> {
    let (pa, pb) = (
        sc.w.os_image(sc.arch(), "A", 0)?,
        sc.w.os_image(sc.arch(), "B", b_payload)?,
    );
    let (hash_a, hash_b) = (e2e::util::sha256_file(&pa)?, e2e::util::sha256_file(&pb)?);
    let (a, b) = (e2e::util::read(&pa)?, e2e::util::read(&pb)?);
    let img = img_with(
        sc,
        "img.ext4",
        &[("root-squashfs.img", a)],
        img_mib,
        "img",
        world::IMG_UUID,
    )?;
    let overlay = sc.copy(&sc.w.overlay_fs(64)?, "overlay.ext4")?;
    let files = match newimg_files {
        Some(f) => f,
        None => {
            let side = sha256_line(&hash_b);
            vec![("root-squashfs.img", b), ("root-squashfs.img.sha256", side)]
        }
    };
    let size: u64 = files.iter().map(|(_, d)| d.len() as u64).sum::<u64>() / (1 << 20) + 16;
    let newimg = img_with(
        sc,
        "newimg.ext4",
        &files,
        size.max(16),
        "newimg",
        world::NEWIMG_UUID,
    )?;
    Ok(Update {
        img,
        overlay,
        newimg,
        hash_a,
        hash_b,
    })
}

impl Update {
    fn disks(&self) -> Vec<PathBuf> {
        vec![self.img.clone(), self.overlay.clone(), self.newimg.clone()]
    }
}

fn s15_update_promoted(sc: &mut Sc) -> R<()> {
    let u = update_disks(sc, 0, None, 64)?;
    let b = sc.boot("promote", &sc.boot_opts(u.disks(), "e2e.hash"))?;
    expect_booted_image(&b, "B")?;
    let status = b.r.all("status").join(" | ");
    b.check(
        status.contains("promoted"),
        format!("the status file should report the promotion: {status:?}"),
    )?;
    let h = b.r.hashes();
    let get = |n: &str| h.iter().find(|(f, _)| f == n).map(|(_, x)| x.clone());
    b.check(
        get("root-squashfs.img") == Some(u.hash_b.clone()),
        format!("root-squashfs.img is not the update: {h:?}"),
    )?;
    b.check(
        get("root-squashfs-old.img") == Some(u.hash_a.clone()),
        format!("root-squashfs-old.img is not the previous image: {h:?}"),
    )?;
    let nv = Ext4View::open(&u.newimg, &sc.path("check.ext4"))?;
    let names = nv.names("/")?;
    b.check(
        !names.iter().any(|n| n == "root-squashfs.img"),
        format!("the update source was not removed from newimg: {names:?}"),
    )?;
    drop(nv);
    // The next boot: still B, -old still A, nothing promoted again.
    let b2 = sc.boot("after-promote", &sc.boot_opts(u.disks(), "e2e.hash"))?;
    expect_booted_image(&b2, "B")?;
    let h2 = b2.r.hashes();
    b2.check(
        h2 == h,
        format!("the second boot changed the image files: {h:?} → {h2:?}"),
    )
}

fn expect_booted_image(b: &Booted, id: &str) -> R<()> {
    b.expect_booted()?;
    b.expect("pid", "1")?;
    b.expect("rootfs", "overlay")?;
    b.expect("image_id", id)
}

fn s15_update_rejected(sc: &mut Sc) -> R<()> {
    // a) A squashfs whose sidecar hash does not match.
    let bimg = e2e::util::read(&sc.w.os_image(sc.arch(), "B", 0)?)?;
    let wrong = sha256_line(&e2e::util::sha256_file(&sc.w.os_image(
        sc.arch(),
        "A",
        0,
    )?)?);
    let u = update_disks(
        sc,
        0,
        Some(vec![
            ("root-squashfs.img", bimg),
            ("root-squashfs.img.sha256", wrong),
        ]),
        64,
    )?;
    let b = sc.boot("bad-sha256", &sc.boot_opts(u.disks(), ""))?;
    expect_booted_image(&b, "A")?;
    check_rejected(sc, &b, &u)?;
    // b) Not a squashfs at all.
    let mut junk = vec![0u8; 1 << 20];
    fastrand::Rng::with_seed(15).fill(&mut junk);
    let u = update_disks(sc, 0, Some(vec![("root-squashfs.img", junk)]), 64)?;
    let b = sc.boot("bad-magic", &sc.boot_opts(u.disks(), ""))?;
    expect_booted_image(&b, "A")?;
    check_rejected(sc, &b, &u)
}

fn check_rejected(sc: &Sc, b: &Booted, u: &Update) -> R<()> {
    let status = b.r.all("status").join(" | ");
    b.check(
        status.contains("rejected"),
        format!("the status file should report the rejection: {status:?}"),
    )?;
    let nv = Ext4View::open(&u.newimg, &sc.path("check.ext4"))?;
    let names = nv.names("/")?;
    drop(nv);
    b.check(
        names.iter().any(|n| n == "root-squashfs.img.rejected")
            && !names.iter().any(|n| n == "root-squashfs.img"),
        format!(
            "newimg should hold root-squashfs.img.rejected (and no root-squashfs.img): {names:?}"
        ),
    )?;
    b.check(
        names
            .iter()
            .filter(|n| {
                n.starts_with("root-squashfs.img")
                    && n.as_str() != "root-squashfs.img.rejected"
                    && !n.ends_with(".sha256")
            })
            .count()
            >= 1,
        format!("newimg should hold a reason file beside the rejected image: {names:?}"),
    )?;
    let iv = Ext4View::open(&u.img, &sc.path("check.ext4"))?;
    let cur = iv.sha256("/root-squashfs.img")?;
    b.check(
        cur == Some(u.hash_a.clone()),
        "the img partition's current image changed",
    )
}

fn s15_update_short_space(sc: &mut Sc) -> R<()> {
    // img: 16 MiB holding A (~1 MiB); the update is ~20 MiB.
    let u = update_disks(sc, 20 << 20, None, 16)?;
    let b = sc.boot("short-space", &sc.boot_opts(u.disks(), ""))?;
    expect_booted_image(&b, "A")?;
    let iv = Ext4View::open(&u.img, &sc.path("check.ext4"))?;
    let names = iv.names("/")?;
    b.check(
        iv.sha256("/root-squashfs.img")? == Some(u.hash_a.clone()),
        format!("the current image changed: {names:?}"),
    )?;
    b.check(
        names
            .iter()
            .all(|n| ["root-squashfs.img", "lost+found"].contains(&n.as_str())),
        format!("a refused update must leave no partial file on img: {names:?}"),
    )?;
    let status = b.r.all("status").join(" | ");
    b.check(
        status.contains("space"),
        format!("the status file should report the short space: {status:?}"),
    )?;
    sc.note(format!("status: {status}"));
    Ok(())
}

fn s15_fallback_to_old(sc: &mut Sc) -> R<()> {
    let a = e2e::util::read(&sc.w.os_image(sc.arch(), "A", 0)?)?;
    let mut junk = vec![0u8; 1 << 20];
    fastrand::Rng::with_seed(16).fill(&mut junk);
    let img = img_with(
        sc,
        "img.ext4",
        &[("root-squashfs.img", junk), ("root-squashfs-old.img", a)],
        32,
        "img",
        world::IMG_UUID,
    )?;
    let ovl = sc.copy(&sc.w.overlay_fs(64)?, "overlay.ext4")?;
    let b = sc.boot("fallback", &sc.boot_opts(vec![img, ovl], ""))?;
    expect_booted_image(&b, "A")?;
    let status = b.r.all("status").join(" | ");
    b.check(
        status.to_lowercase().contains("old"),
        format!("the status file should say the old image booted: {status:?}"),
    )?;
    sc.note(format!("status: {status}"));
    Ok(())
}

/// Power cuts during the promotion of a ≥ 64 MiB image. An uncut run first measures, from the
/// printk timestamps, when the update step verifies, copies and publishes; then QEMU is SIGKILLed
/// at stratified random moments across that window (measured from "Run /init"). The next boot must
/// come up on a complete image, verified by hash on the host, and finish the update.
fn s15_power_cut(sc: &mut Sc) -> R<()> {
    let cuts: usize = std::env::var("E2E_POWER_CUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let u = update_disks(sc, 64 << 20, None, 256)?;
    let size_mib = std::fs::metadata(sc.w.os_image(sc.arch(), "B", 64 << 20)?)
        .map(|m| m.len() >> 20)
        .unwrap_or(0);
    let fresh = |sc: &Sc, tag: &str| -> R<Vec<PathBuf>> {
        Ok(vec![
            sc.copy(&u.img, &format!("img-{tag}.ext4"))?,
            sc.copy(&u.overlay, &format!("overlay-{tag}.ext4"))?,
            sc.copy(&u.newimg, &format!("newimg-{tag}.ext4"))?,
        ])
    };
    // Calibration: an uncut promotion.
    let d = fresh(sc, "cal")?;
    let b = sc.boot("calibrate", &sc.boot_opts(d.clone(), ""))?;
    expect_booted_image(&b, "B")?;
    let w = update_window(&b.out.log)
        .ok_or_else(|| format!("calibration: no update lines with timestamps{}", b.ctx()))?;
    sc.note(format!(
        "uncut promotion of a {size_mib} MiB image: verify {:.2} s, copy and publish {:.2} s ({:?})",
        w.verify,
        w.publish,
        guest::init_lines(&b.out.log).into_iter().filter(|l| l.starts_with("update:")).collect::<Vec<_>>()
    ));
    for p in &d {
        let _ = std::fs::remove_file(p);
    }
    let mut stages: std::collections::BTreeMap<String, usize> = Default::default();
    let mut disk: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut rng = fastrand::Rng::new();
    for i in 0..cuts {
        let d = fresh(sc, &format!("{i}"))?;
        let label = format!("cut{i:02}");
        let mut run = sc.start(&label, &sc.boot_opts(d.clone(), ""))?;
        // One cut in ten lands in the (read-only) verification, the others are spread over the
        // copy and the publication: after the update's second line, until its "done" line.
        let first = run.wait_for("] initramfs-overlay: update: ", Duration::from_secs(90));
        let (anchor, span) = if i % 10 == 0 {
            (first, w.verify)
        } else {
            (
                first.and_then(|at| {
                    run.wait_for_from(
                        at,
                        "] initramfs-overlay: update: ",
                        Instant::now() + Duration::from_secs(90),
                    )
                }),
                w.publish,
            )
        };
        if anchor.is_none() {
            let out = run.wait();
            let b = sc.finish(&label, out);
            return b.check(false, "cut: the update never started");
        }
        let slot = if i % 10 == 0 {
            rng.f64()
        } else {
            ((i - i / 10 - 1) as f64 + rng.f64()) / (cuts - cuts.div_ceil(10)).max(1) as f64
        };
        let at = span * slot;
        std::thread::sleep(Duration::from_secs_f64(at));
        let out = run.kill();
        let cut = sc.finish(&label, out);
        let stage = guest::init_lines(&cut.out.log)
            .last()
            .map(|l| {
                l.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .replace(|c: char| c.is_ascii_digit() || c == ',', "")
            })
            .unwrap_or_else(|| "before the init".into());
        *stages.entry(stage.clone()).or_default() += 1;
        // What the next boot will find on the disks (journal replayed on a copy).
        let iv = Ext4View::open(&d[0], &sc.path("check.ext4"))?;
        let inames = iv.names("/")?;
        let cur = iv.sha256("/root-squashfs.img")?;
        drop(iv);
        let nv = Ext4View::open(&d[2], &sc.path("check.ext4"))?;
        let src_left = nv.names("/")?.iter().any(|n| n == "root-squashfs.img");
        drop(nv);
        let state = if cur.as_deref() == Some(u.hash_b.as_str()) {
            if src_left {
                "new image published, source still on newimg"
            } else {
                "promotion complete"
            }
        } else if cur.as_deref() == Some(u.hash_a.as_str()) {
            if inames.iter().any(|n| {
                !["root-squashfs.img", "lost+found", "root-squashfs-old.img"].contains(&n.as_str())
            }) {
                "old image, a temporary file on img"
            } else {
                "old image"
            }
        } else {
            "NO VALID CURRENT IMAGE"
        };
        *disk.entry(state).or_default() += 1;
        ensure!(
            state != "NO VALID CURRENT IMAGE",
            "cut {i} at +{at:.2} s after an update line ({stage}): root-squashfs.img on disk is neither the old nor the new image (files {inames:?}); log {}",
            cut.out.log_path.display()
        );
        // The next boot: a complete image, and the update finished.
        let b = sc.boot(&format!("recover{i:02}"), &sc.boot_opts(d.clone(), ""))?;
        expect_booted_image(&b, "B")
            .map_err(|e| format!("after cut {i} at +{at:.2} s ({stage}; disk: {state}): {e}"))?;
        let iv = Ext4View::open(&d[0], &sc.path("check.ext4"))?;
        let cur = iv.sha256("/root-squashfs.img")?;
        let old = iv.sha256("/root-squashfs-old.img")?;
        let names = iv.names("/")?;
        drop(iv);
        b.check(
            cur.as_deref() == Some(u.hash_b.as_str()),
            format!("after cut {i}: root-squashfs.img is not the new image"),
        )?;
        b.check(
            old.as_deref() == Some(u.hash_a.as_str()),
            format!("after cut {i}: root-squashfs-old.img is not the previous image ({old:?})"),
        )?;
        b.check(
            names.iter().all(|n| {
                ["lost+found", "root-squashfs.img", "root-squashfs-old.img"].contains(&n.as_str())
            }),
            format!("after cut {i}: leftover files on img: {names:?}"),
        )?;
        let nv = Ext4View::open(&d[2], &sc.path("check.ext4"))?;
        let left = nv.names("/")?;
        drop(nv);
        b.check(
            !left.iter().any(|n| n == "root-squashfs.img"),
            format!("after cut {i}: the source is still on newimg: {left:?}"),
        )?;
        for p in &d {
            let _ = std::fs::remove_file(p);
        }
    }
    let show = |m: &dyn Fn() -> Vec<String>| m().join(", ");
    sc.note(format!(
        "{cuts} power cuts, every next boot on the new image with -old kept; killed after: {}; disk after the cut: {}",
        show(&|| stages.iter().map(|(s, n)| format!("{n}× \"{s}\"")).collect()),
        show(&|| disk.iter().map(|(s, n)| format!("{n}× {s}")).collect())
    ));
    if disk.contains_key("NO VALID CURRENT IMAGE") {
        bail!("a cut left no valid current image");
    }
    Ok(())
}

/// How long the update's phases took in the uncut run (printk time): `verify` from its first line
/// to its second (the sha256 check, read-only), `publish` from there to its "done in" line.
struct UpdateWindow {
    verify: f64,
    publish: f64,
}

fn update_window(log: &str) -> Option<UpdateWindow> {
    let lines: Vec<(f64, String)> = log
        .lines()
        .filter_map(guest::printk)
        .filter_map(|(t, text)| {
            text.strip_prefix("initramfs-overlay: update: ")
                .map(|r| (t, r.to_string()))
        })
        .collect();
    let first = lines.first()?.0;
    let second = lines.get(1)?.0;
    let end = lines
        .iter()
        .find(|(_, l)| l.starts_with("done in"))
        .or(lines.last())?
        .0;
    Some(UpdateWindow {
        verify: second - first,
        publish: end - second + 0.05,
    })
}
