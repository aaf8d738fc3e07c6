//! The end-to-end scenarios (issue "End-to-end suite"): each one a named test, run by
//! `cargo test -p e2e` (filter by name as usual: `cargo test -p e2e -- s08`). Two run at a time
//! (the machine has 2 cores; `--test-threads N` changes it). A summary table follows the results.

use e2e::guest;
use e2e::images::{self, Ext4View, Part};
use e2e::kernels::KernelId;
use e2e::qemu::Running;
use e2e::report::{self, Row};
use e2e::world::{self, Booted, Mods, Sc, expect_standard};
use e2e::{R, bail, ensure};
use libtest_mimic::{Arguments, Trial};
use std::path::{Path, PathBuf};
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
        (
            "s17_cmdline_garbage_4k_armv6l",
            KernelId::Rpi,
            s17_cmdline_garbage_4k_armv6l,
        ),
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
        // i686 makes its syscalls with int 0x80 (vendor/rustix-1.1.6-i686-int80): the promotion's
        // preads, sendfile, fsyncs and renames go through that path only here.
        (
            "s15_update_promoted_i686",
            KernelId::I386,
            s15_update_promoted,
        ),
        // ARM's syscalls all go through one shared Thumb routine (vendor/…/PATCHES.md item 8): the
        // promotion's preads, sendfile, fsyncs, link and renames too.
        (
            "s15_update_promoted_armv6l",
            KernelId::Rpi,
            s15_update_promoted,
        ),
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
            "s05_layout_gpt_4k_sectors",
            KernelId::Amd64,
            s05_gpt_4k_sectors,
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
        (
            "s05_layout_many_block_devices",
            KernelId::Amd64,
            s05_many_devices,
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
        ("s16_quiet", KernelId::Amd64, s16_quiet),
        (
            "s16_devkmsg_handed_back",
            KernelId::Amd64,
            s16_devkmsg_handed_back,
        ),
        ("s16_keep_upper", KernelId::Amd64, s16_keep_upper),
        (
            "s16_rootwait_hotplug",
            KernelId::Amd64,
            s16_rootwait_hotplug,
        ),
        ("s16_rootdelay", KernelId::Amd64, s16_rootdelay),
        ("s16_onerror_halt", KernelId::Amd64, s16_onerror_halt),
        (
            "s16_onerror_poweroff",
            KernelId::Amd64,
            s16_onerror_poweroff,
        ),
        ("s16_onerror_reboot", KernelId::Amd64, s16_onerror_reboot),
        ("s16_no_persistent", KernelId::Amd64, s16_no_persistent),
        ("s16_no_overlay", KernelId::Amd64, s16_no_overlay),
        ("s16_unknown_option", KernelId::Amd64, s16_unknown_option),
        ("s16_malformed_wait", KernelId::Amd64, s16_malformed_wait),
        ("s17_label_16_bytes", KernelId::Amd64, s17_label_16_bytes),
        ("s17_overlay_full", KernelId::Amd64, s17_overlay_full),
        (
            "s17_overlay_errors_read_only",
            KernelId::Amd64,
            s17_overlay_errors_read_only,
        ),
        (
            "s17_cmdline_garbage_2k_x86_64",
            KernelId::Amd64,
            s17_cmdline_garbage_2k_x86_64,
        ),
        ("s17_ext4_bad_magic", KernelId::Amd64, s17_ext4_bad_magic),
        (
            "s17_label_space_utf8",
            KernelId::Amd64,
            s17_label_space_utf8,
        ),
        (
            "s17_fat_labels_disagree",
            KernelId::Amd64,
            s17_fat_labels_disagree,
        ),
        (
            "s17_image_zero_length",
            KernelId::Amd64,
            s17_image_zero_length,
        ),
        (
            "s17_image_is_directory",
            KernelId::Amd64,
            s17_image_is_directory,
        ),
        (
            "s17_image_truncated_half",
            KernelId::Amd64,
            s17_image_truncated_half,
        ),
        (
            "s17_persistent_is_file",
            KernelId::Amd64,
            s17_persistent_is_file,
        ),
        ("s17_init_missing", KernelId::Amd64, s17_init_missing),
        (
            "s17_init_not_executable",
            KernelId::Amd64,
            s17_init_not_executable,
        ),
        ("s17_no_loop_module", KernelId::Amd64, s17_no_loop_module),
        ("s17_no_overlayfs", KernelId::Amd64, s17_no_overlayfs),
        ("s17_no_console_node", KernelId::Amd64, s17_no_console_node),
        ("s17_bad_load_order", KernelId::Amd64, s17_bad_load_order),
        (
            "s18_loop_fallback_pre_5_8",
            KernelId::Amd64,
            s18_loop_fallback,
        ),
        (
            "s18_loop_fallback_cleanup",
            KernelId::Amd64,
            s18_loop_fallback_cleanup,
        ),
    ];
    let bench = std::env::var_os("E2E_BENCH").is_some();
    let mut trials: Vec<Trial> = list
        .into_iter()
        .map(|(name, k, f)| trial(name, k, f))
        .collect();
    // The benchmark runs only when asked (E2E_BENCH=1), or with `--ignored`.
    trials.push(
        trial(
            "bench_promotion_vs_dd",
            KernelId::Amd64,
            bench_promotion_vs_dd,
        )
        .with_ignored_flag(!bench),
    );
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
        sector_size: 512,
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

/// A standard boot with the default command line: the real init (not `other-init`) on a read-only
/// root.
fn expect_default_boot(b: &Booted) -> R<()> {
    expect_standard(b)?;
    b.expect("who", "init")?;
    b.expect("writable", "no")?;
    b.check(
        b.r.root_mode() == Some("ro"),
        format!(
            "the default root must be read-only: {:?}",
            b.r.get("rootopts")
        ),
    )
}

fn s01_standard(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b = sc.boot("standard", &sc.boot_opts(d, ""))?;
    expect_default_boot(&b)?;
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
    // Without `quiet`, the booted OS's dmesg holds the step timings (s16_quiet checks the opposite).
    let steps: usize =
        b.r.get("kmsg_steps")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
    b.check(
        steps >= 5,
        format!("dmesg should hold the init's step timings, it has {steps}"),
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

/// img and overlay filesystems with chosen labels and UUIDs (and more mke2fs options), plus a vfat
/// `boot`.
fn fs_set(
    sc: &Sc,
    img_label: &str,
    ovl_label: &str,
    img_uuid: &str,
    ext4_extra: &[&str],
) -> R<(PathBuf, PathBuf, PathBuf)> {
    let os = sc.w.os_image(sc.arch(), "A", 0)?;
    let dir = sc.path("img.d");
    e2e::util::fresh_dir(&dir)?;
    std::fs::copy(&os, dir.join("root-squashfs.img")).map_err(|e| e.to_string())?;
    let img = sc.path("img-part.ext4");
    images::ext4(&img, img_label, Some(&dir), 32, Some(img_uuid), ext4_extra)?;
    let od = sc.path("ovl.d");
    world::overlay_tree(&od, 0)?;
    let ovl = sc.path("overlay-part.ext4");
    images::ext4(&ovl, ovl_label, Some(&od), 32, None, ext4_extra)?;
    let boot = sc.path("boot-part.vfat");
    images::vfat(&boot, "boot", 8, &[])?;
    Ok((img, ovl, boot))
}

/// The GPT layouts' img and overlay partitions: `p-img` and `p-overlay`, with fixed GUIDs.
fn img_and_overlay_parts<'a>(img: &'a Path, ovl: &'a Path) -> [Part<'a>; 2] {
    [
        Part {
            fs: img,
            name: "p-img",
            kind: "linux",
            uuid: Some(GPT_IMG),
        },
        Part {
            fs: ovl,
            name: "p-overlay",
            kind: "linux",
            uuid: Some(GPT_OVERLAY),
        },
    ]
}

fn gpt_disk(sc: &Sc, img_label: &str, ovl_label: &str) -> R<PathBuf> {
    let (img, ovl, boot) = fs_set(sc, img_label, ovl_label, world::IMG_UUID, &[])?;
    let disk = sc.path("gpt.img");
    let [img_part, ovl_part] = img_and_overlay_parts(&img, &ovl);
    let boot_part = Part {
        fs: &boot,
        name: "p-boot",
        kind: "fat",
        uuid: Some(GPT_BOOT),
    };
    images::gpt(&disk, &[boot_part, img_part, ovl_part], GPT_DISK)?;
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

/// A GPT disk with 4 KiB logical sectors ("4Kn": many USB-SATA bridges, some NVMe drives). Its
/// header is at byte 4096 and its LBAs count 4 KiB units, so PARTLABEL and PARTUUID are found only
/// when the table is read in the disk's own sector size. The filesystems have 4 KiB blocks (the
/// kernel mounts none with blocks smaller than the disk's sectors); there is no boot partition, as
/// mkfs.vfat -C writes 512-byte sectors.
fn s05_gpt_4k_sectors(sc: &mut Sc) -> R<()> {
    let (img, ovl, _) = fs_set(sc, "xa", "xb", world::IMG_UUID, &["-b", "4096"])?;
    let disk = sc.path("gpt-4k.img");
    images::gpt_4k(&disk, &img_and_overlay_parts(&img, &ovl), GPT_DISK)?;
    let append = format!("iovl.img=PARTLABEL=p-img iovl.overlay=PARTUUID={GPT_OVERLAY}");
    let mut opts = sc.boot_opts(vec![disk], &append);
    opts.sector_size = 4096;
    let b = sc.boot("gpt-4k-partlabel-partuuid", &opts)?;
    expect_standard(&b)
}

fn s05_mbr_overrides(sc: &mut Sc) -> R<()> {
    let uuid = "2b2b2b2b-0000-4000-8000-00000000000a";
    let (img, ovl, boot) = fs_set(sc, "ya", "yb", uuid, &[])?;
    let disk = sc.path("mbr.img");
    images::mbr(
        &disk,
        &[
            Part::mbr(&boot, "fat"),
            Part::mbr(&img, "linux"),
            Part::mbr(&ovl, "linux"),
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

/// More block devices than the init remembers as probed (64): the ones past that are probed again
/// on every pass, and a device that already holds its role must not count as its own duplicate
/// ("img partition LABEL=img matches both /dev/vda and /dev/vda"). With no boot partition the search
/// makes passes for its 100 ms grace after img and overlay are found, so a re-probe always happens.
fn s05_many_devices(sc: &mut Sc) -> R<()> {
    let mut d = sc.std_disks()?;
    let blank = sc.path("blank.fs");
    std::fs::write(&blank, vec![0u8; 1 << 20]).map_err(|e| e.to_string())?;
    let names: Vec<String> = (1..=120).map(|n| format!("filler-{n}")).collect();
    let parts: Vec<Part> = names
        .iter()
        .map(|name| Part {
            fs: &blank,
            name,
            kind: "linux",
            uuid: None,
        })
        .collect();
    let filler = sc.path("filler.img");
    images::gpt(&filler, &parts, "6d6d6d6d-0000-4000-8000-000000000001")?;
    d.push(filler);
    let b = sc.boot("many-devices", &sc.boot_opts(d, ""))?;
    expect_standard(&b)?;
    let log = b.out.log.as_str();
    b.check(
        !log.contains("matches both"),
        "a device re-probed past the probed list was taken for its own duplicate",
    )
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
    let sd = sd_card(sc)?;
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
    // The second boot finds img and overlay by PARTUUID: the init reads the MBR of mmcblk0, the
    // disk it derives from the partitions' names (mmcblk0p2: the `p` form of a disk ending in a digit).
    let b2 = sc.boot(
        "raspi0-sd-2",
        &sc.boot_opts(
            vec![sd],
            "e2e.boot=2 iovl.img=PARTUUID=0a0b0c0d-02 iovl.overlay=PARTUUID=0a0b0c0d-03",
        ),
    )?;
    expect_standard(&b2)?;
    b2.expect("previous", "none")?;
    for found in ["img is /dev/mmcblk0p2", "overlay is /dev/mmcblk0p3"] {
        b2.check(
            b2.out.log.contains(found),
            format!("by PARTUUID the log should say '{found}'"),
        )?;
    }
    sc.note(format!("{:.1} s per boot", b.out.secs));
    Ok(())
}

/// The Raspberry Pi SD card: MBR with boot (vfat), img and overlay.
fn sd_card(sc: &Sc) -> R<PathBuf> {
    let arch = sc.arch();
    let img = sc.copy(&sc.w.img_fs(arch, 32)?, "img.ext4")?;
    let ovl = sc.copy(&sc.w.overlay_fs(64)?, "overlay.ext4")?;
    let boot = sc.path("boot.vfat");
    images::vfat(&boot, "boot", 16, &[])?;
    let sd = sc.path("sd.img");
    images::mbr(
        &sd,
        &[
            Part::mbr(&boot, "fat"),
            Part::mbr(&img, "linux"),
            Part::mbr(&ovl, "linux"),
        ],
        "0x0a0b0c0d",
        128,
    )?;
    Ok(sd)
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
    let err = error_shell(
        &mut run,
        "after the missing overlay",
        "echo ERR-$((6*7))\n",
        "ERR-42",
    )?;
    let out = run.wait();
    let b = sc.finish("error-shell", out);
    if let Some(e) = err {
        return b.check(false, e);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 13: a late device, hot-added over the monitor.

/// Waits for the init's first line, then `delay`, then hot-adds `disk` as a virtio disk over the
/// QEMU monitor. `Some(problem)` when that could not be done.
/// In the debug image's error shell ("exit to retry"): types `command`, waits for `answer` (a marker
/// the command computes, so the echoed command line cannot match it), then powers off. Returns what
/// went wrong, if anything; `when` says what should have brought the shell up.
fn error_shell(run: &mut Running, when: &str, command: &str, answer: &str) -> R<Option<String>> {
    let Some(at) = run.wait_for("exit to retry", Duration::from_secs(90)) else {
        return Ok(Some(format!(
            "the error shell (\"exit to retry\") did not appear {when}"
        )));
    };
    std::thread::sleep(Duration::from_millis(500));
    run.send(command)?;
    let answered = run
        .wait_for_from(at, answer, Instant::now() + Duration::from_secs(20))
        .is_some();
    run.send("poweroff -f\n")?;
    run.deadline = run.deadline.min(Instant::now() + Duration::from_secs(20));
    Ok((!answered).then(|| format!("the error shell did not answer `{}`", command.trim_end())))
}

fn hot_add_disk(run: &mut Running, disk: &Path, delay: Duration) -> R<Option<String>> {
    if run
        .wait_for("] initramfs-overlay: ", Duration::from_secs(60))
        .is_none()
    {
        return Ok(Some("the init never printed a line".to_string()));
    }
    std::thread::sleep(delay);
    let a = run.monitor(&format!(
        "drive_add 0 if=none,id=hotimg,format=raw,file={}",
        disk.display()
    ))?;
    let b = run.monitor("device_add virtio-blk-pci,drive=hotimg,id=hotimgdisk")?;
    let failed = a.to_lowercase().contains("error") || b.to_lowercase().contains("error");
    Ok(failed.then(|| format!("monitor: {a:?} {b:?}")))
}

fn s13_hotplug(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let mut o = sc.boot_opts(vec![d[1].clone()], "");
    o.monitor = true;
    let mut run = sc.start("hotplug", &o)?;
    // About 2 s after "Run /init": one second after the init's first line (module loading takes
    // 0.5 to 1.5 s), so the disk surely arrives while the init is waiting for it.
    let err = hot_add_disk(&mut run, &d[0], Duration::from_secs(1))?;
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
    // The next boot is still fine, and its background cleaner empties the trash (20,000 files of
    // boot 1's upper, whatever boot 1's own cleaner had not finished before the power-off).
    let b2 = sc.boot("after", &sc.boot_opts(d, "rw e2e.boot=2 e2e.trash"))?;
    expect_standard(&b2)?;
    b2.expect("previous", "none")?;
    b2.expect("trash_left", "0")?;
    sc.note(format!(
        "trash emptied {} ds after the real init started",
        b2.r.get("trash_wait_ds").unwrap_or("?")
    ));
    Ok(())
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

    /// The disks as the scenario's machine takes them: three virtio disks, or on raspi0 (one SD card
    /// slot) one card with img, overlay and newimg as its partitions.
    fn machine_disks(&self, sc: &Sc) -> R<MachineDisks> {
        if sc.arch() != packer::Arch::Armv6l {
            return Ok(MachineDisks {
                disks: self.disks(),
                newimg_on_card: None,
            });
        }
        let sd = sc.path("sd.img");
        let parts = [&self.img, &self.overlay, &self.newimg].map(|fs| Part::mbr(fs, "linux"));
        let layout = images::mbr(&sd, &parts, "0x0a0b0c0e", 256)?;
        Ok(MachineDisks {
            disks: vec![sd],
            newimg_on_card: layout.get(2).copied(),
        })
    }

    /// newimg's filesystem as the boot left it: its own disk, or its partition cut from the SD card.
    fn newimg_after(&self, sc: &Sc, machine: &MachineDisks) -> R<PathBuf> {
        let Some((start, size)) = machine.newimg_on_card else {
            return Ok(self.newimg.clone());
        };
        let cut = sc.path("newimg-after.ext4");
        e2e::util::dd_out(&machine.disks[0], start << 20, size << 20, &cut)?;
        Ok(cut)
    }
}

/// The disks a boot gets, and where newimg lies on them when they are one SD card.
struct MachineDisks {
    disks: Vec<PathBuf>,
    /// newimg's partition on the card, (start, size) in MiB; `None` when newimg is a disk of its own.
    newimg_on_card: Option<(u64, u64)>,
}

fn s15_update_promoted(sc: &mut Sc) -> R<()> {
    let u = update_disks(sc, 0, None, 64)?;
    let machine = u.machine_disks(sc)?;
    let b = sc.boot("promote", &sc.boot_opts(machine.disks.clone(), "e2e.hash"))?;
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
    let newimg = u.newimg_after(sc, &machine)?;
    let nv = Ext4View::open(&newimg, &sc.path("check.ext4"))?;
    let names = nv.names("/")?;
    b.check(
        !names.iter().any(|n| n == "root-squashfs.img"),
        format!("the update source was not removed from newimg: {names:?}"),
    )?;
    drop(nv);
    // The next boot: still B, -old still A, nothing promoted again.
    let b2 = sc.boot("after-promote", &sc.boot_opts(machine.disks, "e2e.hash"))?;
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
    // More in a benchmark run (E2E_BENCH=1): 30 unless E2E_POWER_CUTS says otherwise.
    let cuts: usize = std::env::var("E2E_POWER_CUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if std::env::var_os("E2E_BENCH").is_some() {
            30
        } else {
            10
        });
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

// ---------------------------------------------------------------------------------------------
// Helpers for the option and bad-input scenarios (16, 17): failure actions, disk hashes, times.

/// The configured failure action and how it shows on the console (the kernel's own words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Panic,
    Poweroff,
    Reboot,
    Halt,
}

impl Action {
    fn arg(self) -> &'static str {
        match self {
            Action::Panic => "",
            Action::Poweroff => "iovl.onerror=poweroff",
            Action::Reboot => "iovl.onerror=reboot",
            Action::Halt => "iovl.onerror=halt",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Action::Panic => "panic",
            Action::Poweroff => "poweroff",
            Action::Reboot => "reboot",
            Action::Halt => "halt",
        }
    }

    /// The kernel's line (printk text) when the action happens.
    fn marker(self) -> &'static str {
        match self {
            Action::Panic => "Kernel panic",
            Action::Poweroff => "reboot: Power down",
            Action::Reboot => "reboot: Restarting system",
            Action::Halt => "reboot: System halted",
        }
    }
}

/// SHA-256 of each disk image file (on the host).
/// The common error case: boot `o`, expect the init's error line naming every needle, the failure
/// `action` within `bound` seconds, and the disks `d[keep]` byte-for-byte unchanged.
#[allow(clippy::too_many_arguments)]
fn error_case(
    sc: &mut Sc,
    d: &[PathBuf],
    keep: &[usize],
    label: &str,
    o: world::Boot,
    action: Action,
    bound: f64,
    needles: &[&str],
) -> R<()> {
    let before = disk_hashes(d)?;
    let (b, line) = boot_fail(sc, label, o, action, bound, needles)?;
    expect_unchanged(&b, d, &before, keep)?;
    sc.note(line);
    Ok(())
}

fn disk_hashes(d: &[PathBuf]) -> R<Vec<String>> {
    d.iter().map(|p| e2e::util::sha256_file(p)).collect()
}

/// The disks at `keep` are byte-for-byte what they were before the boot.
fn expect_unchanged(b: &Booted, d: &[PathBuf], before: &[String], keep: &[usize]) -> R<()> {
    let after = disk_hashes(d)?;
    for &i in keep {
        b.check(
            before[i] == after[i],
            format!(
                "{} changed although this case must not touch it",
                d[i].file_name().unwrap_or_default().to_string_lossy()
            ),
        )?;
    }
    Ok(())
}

/// Printk seconds from "Run /init" to the first line starting with `text`.
fn secs_from_init(log: &str, text: &str) -> Option<f64> {
    let mut start = None;
    for l in log.lines() {
        if let Some((t, s)) = guest::printk(l) {
            if s.starts_with("Run /init") {
                start = Some(t);
            } else if s.starts_with(text) {
                return start.map(|st| t - st);
            }
        }
    }
    None
}

/// The init's error line (before the failure action) that contains all `words`.
fn error_line(b: &Booted, words: &[&str]) -> R<String> {
    let errs = b.init_errors();
    errs.iter()
        .rev()
        .find(|l| {
            let ll = l.to_lowercase();
            words.iter().all(|w| ll.contains(&w.to_lowercase()))
        })
        .cloned()
        .ok_or_else(|| {
            format!(
                "no init line before the failure action contains all of {words:?}{}",
                b.ctx()
            )
        })
}

/// A boot that must fail: the init prints an error line containing `words`, says
/// `failure action: <action>`, the kernel shows the action (panic, power down, restart, halt) at
/// most `bound` s after "Run /init", the test OS never runs. A halted machine does not exit QEMU: it
/// must still be running 2 s after "System halted" (then it is killed).
fn boot_fail(
    sc: &mut Sc,
    label: &str,
    mut o: world::Boot,
    action: Action,
    bound: f64,
    words: &[&str],
) -> R<(Booted, String)> {
    o.append = format!("{} {}", o.append, action.arg());
    o.timeout = Some(o.timeout.unwrap_or(Duration::from_secs(60)));
    let mut run = sc.start(label, &o)?;
    let seen = run
        .wait_for(action.marker(), Duration::from_secs(120))
        .is_some();
    if seen && action == Action::Halt {
        run.deadline = run.deadline.min(Instant::now() + Duration::from_secs(2));
    }
    let out = run.wait();
    let b = sc.finish(label, out);
    b.check(
        b.r.get("started").is_none(),
        "the test OS ran although the boot should have failed",
    )?;
    let line = error_line(&b, words)?;
    let lines = guest::init_lines(&b.out.log);
    b.check(
        lines
            .iter()
            .any(|l| *l == format!("failure action: {}", action.name())),
        format!(
            "the init should say `failure action: {}` after the error",
            action.name()
        ),
    )?;
    b.check(
        seen,
        format!(
            "the console never showed {:?} (failure action {})",
            action.marker(),
            action.name()
        ),
    )?;
    let panicked = b.out.log.contains("Kernel panic");
    b.check(
        panicked == (action == Action::Panic),
        format!(
            "failure action {}: a kernel panic {}",
            action.name(),
            if panicked { "happened" } else { "was expected" }
        ),
    )?;
    if action == Action::Halt {
        b.check(
            b.out.timed_out,
            "after `halt` QEMU should keep running (a halted CPU), but it exited",
        )?;
    } else {
        b.check(
            !b.out.timed_out && b.out.exit.is_some(),
            "QEMU should have exited by itself (-no-reboot) after the failure action",
        )?;
    }
    match secs_from_init(&b.out.log, action.marker()) {
        Some(t) => b.check(
            t <= bound,
            format!("the failure action came {t:.1} s after Run /init; the bound is {bound:.0} s"),
        )?,
        // `quiet` hides "Run /init": bound the whole run instead.
        None => b.check(
            b.out.secs <= bound + 20.0,
            format!(
                "the failure action came {:.1} s after QEMU started",
                b.out.secs
            ),
        )?,
    }
    Ok((b, line))
}

/// The init's messages that the booted OS read from dmesg (`E2E kmsg=`).
fn kmsg(b: &Booted) -> Vec<&str> {
    b.r.all("kmsg")
}

/// Milliseconds of one step from its `done in` line.
fn step_ms(b: &Booted, step: &str) -> Option<u64> {
    guest::step_times(&b.out.log)
        .into_iter()
        .find(|(s, _)| s == step)
        .map(|(_, m)| m)
}

/// A fresh img partition with arbitrary content (`dir` callback fills the folder).
fn img_custom(
    sc: &Sc,
    name: &str,
    label: &str,
    size_mib: u64,
    fill: impl FnOnce(&std::path::Path) -> R<()>,
) -> R<PathBuf> {
    let dir = sc.path(&format!("{name}.d"));
    e2e::util::fresh_dir(&dir)?;
    fill(&dir)?;
    let out = sc.path(name);
    images::ext4(&out, label, Some(&dir), size_mib, None, &[])?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

const FAIL_WAIT: u64 = 1;
/// "Run /init" → the failure action: module loading, the wait, the action itself.
const FAIL_BOUND: f64 = FAIL_WAIT as f64 + 8.0;

// ---------------------------------------------------------------------------------------------
// 16: the command-line options of issue "The boot" not covered above.

/// The init lifts /dev/kmsg's rate limit for its own lines and gives the kernel's default,
/// `ratelimit`, back to the OS. Every other scenario locks the setting with `printk.devkmsg=on`.
fn s16_devkmsg_handed_back(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b = sc.boot("devkmsg", &sc.boot_opts(d, e2e::qemu::DEVKMSG_DEFAULT))?;
    expect_standard(&b)?;
    b.expect("devkmsg", "ratelimit")
}

/// `quiet`: no step timings in dmesg, but errors still on the console and in dmesg.
fn s16_quiet(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b = sc.boot("quiet", &sc.boot_opts(d.clone(), "quiet"))?;
    expect_standard(&b)?;
    b.expect("kmsg_steps", "0")?;
    // An injected error (no overlay partition) under quiet is still reported.
    let before = disk_hashes(&d[..1])?;
    let o = sc.boot_opts(vec![d[0].clone()], &format!("quiet iovl.wait={FAIL_WAIT}"));
    let (b, line) = boot_fail(
        sc,
        "quiet-error",
        o,
        Action::Panic,
        FAIL_BOUND,
        &["overlay", "not found"],
    )?;
    expect_unchanged(&b, &d[..1], &before, &[0])?;
    sc.note(format!(
        "quiet: 0 step lines in dmesg; error still shown: {line}"
    ));
    Ok(())
}

/// `iovl.onerror=`: the missing overlay partition with each action.
fn onerror(sc: &mut Sc, action: Action) -> R<()> {
    let d = sc.std_disks()?;
    let before = disk_hashes(&d)?;
    let o = sc.boot_opts(vec![d[0].clone()], &format!("iovl.wait={FAIL_WAIT}"));
    let (b, line) = boot_fail(
        sc,
        action.name(),
        o,
        action,
        FAIL_BOUND,
        &["overlay", "not found"],
    )?;
    expect_unchanged(&b, &d, &before, &[0, 1])?;
    let t = secs_from_init(&b.out.log, action.marker()).unwrap_or(-1.0);
    sc.note(format!(
        "{:?} {t:.1} s after Run /init, no panic: {line}",
        action.marker()
    ));
    Ok(())
}

fn s16_onerror_poweroff(sc: &mut Sc) -> R<()> {
    onerror(sc, Action::Poweroff)
}

fn s16_onerror_reboot(sc: &mut Sc) -> R<()> {
    onerror(sc, Action::Reboot)
}

fn s16_onerror_halt(sc: &mut Sc) -> R<()> {
    onerror(sc, Action::Halt)
}

/// `rootdelay=2`: the init sleeps 2 s before looking for partitions.
fn s16_rootdelay(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b = sc.boot("rootdelay-2", &sc.boot_opts(d, "rootdelay=2"))?;
    expect_standard(&b)?;
    let find = step_ms(&b, "find");
    b.check(
        find.is_some_and(|m| (2000..4000).contains(&m)),
        format!("with rootdelay=2 the find step should take 2 to 4 s, it took {find:?} ms"),
    )?;
    let tl = guest::timeline_ms(&b.out.log);
    b.check(
        tl.is_some_and(|t| t >= 2000.0),
        format!("Run /init → real init should be ≥ 2 s with rootdelay=2: {tl:?} ms"),
    )?;
    sc.note(format!(
        "find step {} ms, Run /init → real init {:.0} ms",
        find.unwrap_or(0),
        tl.unwrap_or(0.0)
    ));
    Ok(())
}

/// `iovl.wait=1 rootwait`: rootwait (later on the line) waits forever; `img` is hot-added about
/// 3 s after the init's first line, long after `iovl.wait=1` would have given up.
fn s16_rootwait_hotplug(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let mut o = sc.boot_opts(vec![d[1].clone()], "iovl.wait=1 rootwait");
    o.monitor = true;
    let mut run = sc.start("rootwait-hotplug", &o)?;
    let err = hot_add_disk(&mut run, &d[0], Duration::from_secs(3))?;
    let out = run.wait();
    let b = sc.finish("rootwait-hotplug", out);
    if let Some(e) = err {
        return b.check(false, e);
    }
    expect_standard(&b)?;
    let find = step_ms(&b, "find");
    b.check(
        find.is_some_and(|m| m >= 1500),
        format!(
            "the find step should have waited well past iovl.wait=1 (rootwait), it took {find:?} ms"
        ),
    )?;
    sc.note(format!(
        "find waited {} ms for the hot-added img",
        find.unwrap_or(0)
    ));
    Ok(())
}

/// `iovl.keep-upper`: upper/ is not cleared, so a file from boot 1 is there in boot 2 (and the
/// template's stale file is there in boot 1).
fn s16_keep_upper(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b1 = sc.boot(
        "keep-1",
        &sc.boot_opts(d.clone(), "rw iovl.keep-upper e2e.boot=1"),
    )?;
    expect_standard(&b1)?;
    b1.expect("previous", "stale-upper")?;
    b1.expect("written_in_upper", "yes")?;
    let b2 = sc.boot(
        "keep-2",
        &sc.boot_opts(d.clone(), "rw iovl.keep-upper e2e.boot=2"),
    )?;
    expect_standard(&b2)?;
    b2.expect("previous", "boot-1")?;
    let v = Ext4View::open(&d[1], &sc.path("check.ext4"))?;
    let upper = v.cat("/upper/e2e-written")?;
    b2.check(
        upper.trim() == "boot-2",
        format!("overlay partition upper/e2e-written after boot 2: {upper:?}"),
    )
}

/// `iovl.no-persistent`: the persistent layer is left out, so the image's file shows again.
fn s16_no_persistent(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b = sc.boot("no-persistent", &sc.boot_opts(d, "iovl.no-persistent"))?;
    b.expect_booted()?;
    b.expect("pid", "1")?;
    b.expect("rootfs", "overlay")?;
    b.expect("marker", "from-image")?;
    b.expect("persistent_only", "none")?;
    b.expect("image_id", "A")?;
    let lower = b.r.root_opt("lowerdir").unwrap_or_default();
    b.check(
        !lower.contains("persistent") && !lower.contains(':'),
        format!("lowerdir should be the image alone: {lower:?}"),
    )?;
    let upper = b.r.root_opt("upperdir").unwrap_or_default();
    b.check(
        upper.ends_with("/upper"),
        format!("upperdir should still be <overlay>/upper: {upper:?}"),
    )
}

/// `iovl.no-overlay` with no overlay disk at all: `/` is the squashfs, read-only even with `rw`.
fn s16_no_overlay(sc: &mut Sc) -> R<()> {
    let img = sc.copy(&sc.w.img_fs(sc.arch(), 32)?, "img.ext4")?;
    let before = disk_hashes(std::slice::from_ref(&img))?;
    let b = sc.boot(
        "no-overlay",
        &sc.boot_opts(
            vec![img.clone()],
            &format!("iovl.no-overlay rw iovl.wait={FAIL_WAIT}"),
        ),
    )?;
    b.expect_booted()?;
    b.expect("pid", "1")?;
    b.expect("rootfs", "squashfs")?;
    b.expect("writable", "no")?;
    b.expect("marker", "from-image")?;
    b.expect("image_id", "A")?;
    b.check(
        b.r.root_mode() == Some("ro"),
        format!("the squashfs root must be ro: {:?}", b.r.get("rootopts")),
    )?;
    let img_dir = b.r.get("image_dir").unwrap_or("");
    b.check(
        img_dir.split_whitespace().any(|f| f == "root-squashfs.img"),
        format!("/run/initramfs-overlay/image/ should still hold the image: {img_dir:?}"),
    )?;
    expect_unchanged(&b, std::slice::from_ref(&img), &before, &[0])
}

/// An unknown `iovl.` option is a warning (seen in dmesg by the booted OS), and the boot completes.
fn s16_unknown_option(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let b = sc.boot("bogus", &sc.boot_opts(d, "iovl.bogus=1"))?;
    expect_standard(&b)?;
    let k = kmsg(&b);
    b.check(
        k.iter()
            .any(|l| l.contains("cmdline: unknown option iovl.bogus")),
        format!("dmesg should hold the cmdline step's warning naming iovl.bogus: {k:?}"),
    )
}

/// A malformed value is an error naming the option; the (default) panic follows at once.
fn s16_malformed_wait(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let before = disk_hashes(&d)?;
    let o = sc.boot_opts(d.clone(), "iovl.wait=abc");
    let (b, line) = boot_fail(
        sc,
        "wait-abc",
        o,
        Action::Panic,
        6.0,
        &["iovl.wait", "not a number"],
    )?;
    expect_unchanged(&b, &d, &before, &[0, 1])?;
    // The option must be a word of its own in the message, not glued to the problem's words.
    let word = line
        .split(|c: char| c.is_whitespace() || c == ':' || c == '`' || c == '\'' || c == '"')
        .any(|w| w == "iovl.wait" || w == "iovl.wait=abc");
    b.check(
        word,
        format!("the error line should name iovl.wait as a word of its own: {line:?}"),
    )?;
    sc.note(line);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 17: the bad-input matrix (issue "Robustness"). Each case: the init's one-line error naming the
// cause (or a boot, where booting is right), the configured failure action, a bounded time, and the
// disks it must not touch unchanged (hashed on the host before and after).

/// An ext4 `img` whose superblock magic is broken: it is no `img` partition; the wait ends with
/// `img ... not found`.
fn s17_ext4_bad_magic(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    // s_magic is at 1024 + 0x38.
    patch(&d[0], 1024 + 0x38, &[0x00, 0x00])?;
    let before = disk_hashes(&d)?;
    let o = sc.boot_opts(d.clone(), &format!("iovl.wait={FAIL_WAIT}"));
    let (b, line) = boot_fail(
        sc,
        "bad-magic",
        o,
        Action::Panic,
        FAIL_BOUND,
        &["img", "not found"],
    )?;
    expect_unchanged(&b, &d, &before, &[0, 1])?;
    b.check(
        !b.out.log.contains("EXT4-fs (vda)"),
        "the kernel tried to mount the partition with the bad magic",
    )?;
    sc.note(line);
    Ok(())
}

fn patch(file: &std::path::Path, offset: u64, bytes: &[u8]) -> R<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
    f.write_all(bytes).map_err(|e| e.to_string())
}

fn read_at(file: &std::path::Path, offset: usize, len: usize) -> R<Vec<u8>> {
    let data = e2e::util::read(file)?;
    data.get(offset..offset + len)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format!("{}: short file", file.display()))
}

/// Labels that fill all 16 bytes of the ext4 field (no NUL): found by the full label; the 15-byte
/// prefix must not match.
fn s17_label_16_bytes(sc: &mut Sc) -> R<()> {
    let (il, ol) = ("img-0123456789ab", "overlay-01234567");
    assert_eq!((il.len(), ol.len()), (16, 16));
    let os = e2e::util::read(&sc.w.os_image(sc.arch(), "A", 0)?)?;
    let img = img_custom(sc, "img.ext4", il, 32, |d| {
        e2e::util::write(&d.join("root-squashfs.img"), &os)
    })?;
    let ovl = img_custom(sc, "overlay.ext4", ol, 32, |d| world::overlay_tree(d, 0))?;
    let label = read_at(&img, 1024 + 0x78, 16)?;
    ensure!(
        label == il.as_bytes(),
        "mke2fs did not write a 16-byte label: {label:?}"
    );
    let d = vec![img, ovl];
    let b = sc.boot(
        "16-byte-labels",
        &sc.boot_opts(
            d.clone(),
            &format!("iovl.img=LABEL={il} iovl.overlay=LABEL={ol}"),
        ),
    )?;
    expect_standard(&b)?;
    let before = disk_hashes(&d)?;
    let prefix = &il[..15];
    let o = sc.boot_opts(
        d.clone(),
        &format!("iovl.img=LABEL={prefix} iovl.overlay=LABEL={ol} iovl.wait={FAIL_WAIT}"),
    );
    let (b, line) = boot_fail(
        sc,
        "15-byte-prefix",
        o,
        Action::Poweroff,
        FAIL_BOUND,
        &["img", prefix, "not found"],
    )?;
    expect_unchanged(&b, &d, &before, &[0, 1])?;
    sc.note(format!("16-byte labels boot; the 15-byte prefix: {line}"));
    Ok(())
}

/// A label with a space (quoted on the command line) and a UTF-8 label.
fn s17_label_space_utf8(sc: &mut Sc) -> R<()> {
    let (il, ol) = ("os image", "überlay");
    let os = e2e::util::read(&sc.w.os_image(sc.arch(), "A", 0)?)?;
    let img = img_custom(sc, "img.ext4", il, 32, |d| {
        e2e::util::write(&d.join("root-squashfs.img"), &os)
    })?;
    let ovl = img_custom(sc, "overlay.ext4", ol, 32, |d| world::overlay_tree(d, 0))?;
    let b = sc.boot(
        "space-utf8",
        &sc.boot_opts(
            vec![img, ovl],
            &format!("\"iovl.img=LABEL={il}\" iovl.overlay=LABEL={ol}"),
        ),
    )?;
    expect_standard(&b)?;
    let mounts = b.r.all("mount").join("\n");
    b.check(
        mounts.contains("/dev/vda /run/initramfs-overlay/image")
            && mounts.contains("/dev/vdb /run/initramfs-overlay/overlay"),
        format!("img should be vda and overlay vdb: {mounts}"),
    )
}

/// FAT: the boot sector says `NOTBOOT`, the root-directory volume entry says `boot`. As in blkid,
/// the root-directory label wins: squashfs.ko (in no other place) loads only if it does.
fn s17_fat_labels_disagree(sc: &mut Sc) -> R<()> {
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
    // The BPB label: FAT12/16 at 0x2B (type at 0x36), FAT32 at 0x47 (type at 0x52).
    let at = if read_at(&boot, 0x52, 5)? == b"FAT32" {
        0x47
    } else {
        0x2B
    };
    ensure!(
        read_at(&boot, at, 11)? == b"boot       ",
        "unexpected BPB label in the vfat image"
    );
    patch(&boot, at as u64, b"NOTBOOT    ")?;
    let mut d = sc.std_disks()?;
    d.push(boot);
    let mut o = sc.boot_opts(d, "");
    o.mods = Mods::Without(&["squashfs"]);
    let b = sc.boot("root-dir-label-wins", &o)?;
    expect_standard(&b)?;
    let mods = b.r.get("modules").unwrap_or("");
    b.check(
        mods.split_whitespace().any(|m| m == "squashfs"),
        format!("squashfs (only on the boot partition) is not loaded: {mods:?}"),
    )?;
    let k = kmsg(&b);
    b.check(
        k.iter().any(|l| l.contains("boot is /dev/vdc")),
        format!("the init should have found boot = vdc: {k:?}"),
    )
}

/// Image-file cases on the img partition: the error names the file, no mount attempt, no disk
/// changed (img is mounted read-only, overlay not yet).
fn bad_image_file(
    sc: &mut Sc,
    label: &str,
    fill: impl FnOnce(&std::path::Path) -> R<()>,
    action: Action,
) -> R<()> {
    let img = img_custom(sc, "img.ext4", "img", 32, fill)?;
    let ovl = sc.copy(&sc.w.overlay_fs(64)?, "overlay.ext4")?;
    let d = vec![img, ovl];
    let before = disk_hashes(&d)?;
    let o = sc.boot_opts(d.clone(), "");
    let (b, line) = boot_fail(sc, label, o, action, 10.0, &["root-squashfs.img"])?;
    no_mount_attempt(&b)?;
    expect_unchanged(&b, &d, &before, &[0, 1])?;
    sc.note(line);
    Ok(())
}

fn s17_image_zero_length(sc: &mut Sc) -> R<()> {
    bad_image_file(
        sc,
        "zero-length",
        |d| e2e::util::write(&d.join("root-squashfs.img"), b""),
        Action::Reboot,
    )
}

fn s17_image_is_directory(sc: &mut Sc) -> R<()> {
    bad_image_file(
        sc,
        "directory",
        |d| e2e::util::write(&d.join("root-squashfs.img/inside"), b"x"),
        Action::Halt,
    )
}

fn s17_image_truncated_half(sc: &mut Sc) -> R<()> {
    let good = e2e::util::read(&sc.w.os_image(sc.arch(), "A", 0)?)?;
    bad_image_file(
        sc,
        "truncated-half",
        move |d| e2e::util::write(&d.join("root-squashfs.img"), &good[..good.len() / 2]),
        Action::Poweroff,
    )
}

/// The block size of an ext4 image (small filesystems get 1 KiB blocks).
fn block_size(img: &std::path::Path) -> R<u64> {
    let out = e2e::util::run(std::process::Command::new("dumpe2fs").arg("-h").arg(img))?;
    out.lines()
        .find_map(|l| l.strip_prefix("Block size:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "dumpe2fs: no block size".to_string())
}

/// Free blocks of an ext4 image (dumpe2fs -h).
fn free_blocks(img: &std::path::Path) -> R<u64> {
    let out = e2e::util::run(std::process::Command::new("dumpe2fs").arg("-h").arg(img))?;
    out.lines()
        .find_map(|l| l.strip_prefix("Free blocks:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "dumpe2fs: no free block count".to_string())
}

/// An overlay partition with no free block at all (no root reserve either), every block taken by
/// files in `dir` (`upper` or `persistent`), written with debugfs.
fn full_overlay(sc: &Sc, dir: &str) -> R<PathBuf> {
    let od = sc.path(&format!("ovl-{dir}.d"));
    world::overlay_tree(&od, 0)?;
    let ovl = sc.path(&format!("overlay-{dir}.ext4"));
    images::ext4(&ovl, "overlay", Some(&od), 16, None, &["-m", "0"])?;
    // Fill: one big file, then 1-block files until no block is left.
    let (free, bs) = (free_blocks(&ovl)?, block_size(&ovl)?);
    let big = sc.path("filler");
    // Real bytes (a sparse source would write holes).
    e2e::util::write(&big, vec![0x5au8; (free.saturating_sub(64) * bs) as usize])?;
    let small = sc.path("filler-small");
    e2e::util::write(&small, vec![0xa5u8; bs as usize])?;
    let debugfs_in_dir = |cmd: String| -> R<String> {
        let script = sc.path("debugfs.cmd");
        e2e::util::write(&script, format!("cd {dir}\n{cmd}\n"))?;
        e2e::util::run(
            std::process::Command::new("debugfs")
                .arg("-w")
                .arg("-f")
                .arg(&script)
                .arg(&ovl),
        )
    };
    debugfs_in_dir(format!("write {} filler", big.display()))?;
    for i in 0..200 {
        if free_blocks(&ovl)? == 0 {
            break;
        }
        debugfs_in_dir(format!("write {} filler-{i}", small.display()))?;
    }
    let left = free_blocks(&ovl)?;
    ensure!(
        left == 0,
        "could not fill the overlay partition: {left} blocks free"
    );
    Ok(ovl)
}

/// A full overlay partition must still boot. Full of `upper` (the last boot filled the disk): the
/// init has no room for its trash folder, deletes the old upper in place, and the OS gets a
/// writeable root with the space back. Full of `persistent` (nothing to free): it boots all the
/// same and the persistent files stay. The img partition is untouched either way.
fn s17_overlay_full(sc: &mut Sc) -> R<()> {
    let img = sc.copy(&sc.w.img_fs(sc.arch(), 32)?, "img.ext4")?;
    for dir in ["upper", "persistent"] {
        let d = vec![img.clone(), full_overlay(sc, dir)?];
        let before = disk_hashes(&d)?;
        let o = sc.boot_opts(d.clone(), "rw e2e.boot=1 iovl.onerror=poweroff");
        let b = sc.boot(&format!("full-of-{dir}"), &o)?;
        expect_unchanged(&b, &d, &before, &[0])?;
        expect_standard(&b)?;
        b.check(
            b.out
                .log
                .contains("overlay partition: full; deleting the old upper and work now"),
            "the init did not say that it cleared the full partition in place",
        )?;
        let v = Ext4View::open(&d[1], &sc.path("check.ext4"))?;
        let (upper, kept) = (v.names("/upper")?, v.names(&format!("/{dir}"))?);
        if dir == "upper" {
            b.expect("writable", "yes")?;
            b.expect("written_in_upper", "yes")?;
            b.check(
                !upper.iter().any(|n| n.starts_with("filler")),
                format!("the old upper was not cleared: {upper:?}"),
            )?;
            b.check(
                !b.out.log.contains("root: read-only despite rw"),
                "the init said the root is read-only, but it is writable",
            )?;
        } else {
            // overlayfs cannot create work/work and mounts read-only; the init must say so.
            b.expect("writable", "no")?;
            b.check(
                b.out.log.contains(
                    "root: read-only despite rw: overlayfs found no room for work (overlay partition full)",
                ),
                "the init did not say that the root is read-only although rw was asked",
            )?;
            b.check(
                kept.iter().any(|n| n == "filler")
                    && kept.iter().filter(|n| n.starts_with("filler-")).count() > 0,
                format!("persistent files were lost: {kept:?}"),
            )?;
        }
        sc.note(format!(
            "full of {dir}: booted, writable={:?}",
            b.r.get("writable")
        ));
    }
    Ok(())
}

/// The overlay partition (errors=remount-ro, as mke2fs -e sets it) with a corrupted `upper`
/// inode (its checksum broken on the host): the first look at `upper` makes ext4 report the error
/// and remount the partition read-only. Expected: a clear error naming `upper` and the errno, or a
/// boot; the img partition is untouched.
fn s17_overlay_errors_read_only(sc: &mut Sc) -> R<()> {
    let img = sc.copy(&sc.w.img_fs(sc.arch(), 32)?, "img.ext4")?;
    let od = sc.path("ovl.d");
    world::overlay_tree(&od, 0)?;
    let ovl = sc.path("overlay.ext4");
    images::ext4(&ovl, "overlay", Some(&od), 32, None, &["-e", "remount-ro"])?;
    let imap = e2e::util::run(
        std::process::Command::new("debugfs")
            .arg("-R")
            .arg("imap /upper")
            .arg(&ovl),
    )?;
    // "Inode 12 is part of block group 0\n\tlocated at block 35, offset 0x0b00"
    let block: u64 = imap
        .split("located at block ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("debugfs imap: {imap}"))?;
    let off = imap
        .split("offset 0x")
        .nth(1)
        .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
        .ok_or_else(|| format!("debugfs imap: {imap}"))?;
    // i_checksum_lo is at 0x7C in the inode: flip it.
    let at = block * block_size(&ovl)? + off + 0x7C;
    let cur = read_at(&ovl, at as usize, 2)?;
    patch(&ovl, at, &[!cur[0], !cur[1]])?;
    let d = vec![img, ovl];
    let before = disk_hashes(&d)?;
    let mut o = sc.boot_opts(d.clone(), "rw e2e.boot=1 iovl.onerror=poweroff");
    o.timeout = Some(Duration::from_secs(60));
    let b = sc.boot("errors-ro", &o)?;
    b.check(!b.out.timed_out, "the boot did not end within its bound")?;
    expect_unchanged(&b, &d, &before, &[0])?;
    b.check(
        b.out.log.contains("EXT4-fs error"),
        "the kernel did not report the corrupted inode (the injection did not work)",
    )?;
    if b.r.done() {
        expect_standard(&b)?;
        sc.note(format!("booted: writable={:?}", b.r.get("writable")));
    } else {
        let line = error_line(&b, &["upper"])?;
        b.check(
            b.out.log.contains("reboot: Power down") && !b.out.log.contains("Kernel panic"),
            "the configured poweroff did not happen",
        )?;
        b.check(
            b.out.log.contains("Remounting filesystem read-only"),
            "the kernel should have remounted the overlay partition read-only (errors=remount-ro)",
        )?;
        sc.note(format!(
            "{line}; the kernel remounted the partition read-only"
        ));
    }
    Ok(())
}

/// `persistent` is a file: an error naming persistent (ENOTDIR); the img partition is untouched.
fn s17_persistent_is_file(sc: &mut Sc) -> R<()> {
    let img = sc.copy(&sc.w.img_fs(sc.arch(), 32)?, "img.ext4")?;
    let ovl = img_custom(sc, "overlay.ext4", "overlay", 32, |d| {
        e2e::util::write(&d.join("persistent"), b"not a directory\n")?;
        e2e::util::write(&d.join("upper/x"), b"x")
    })?;
    let d = vec![img, ovl];
    error_case(
        sc,
        &d,
        &[0],
        "persistent-file",
        sc.boot_opts(d.clone(), ""),
        Action::Reboot,
        10.0,
        &["persistent"],
    )
}

/// Garbage on the command line: words with a dot (so the kernel passes them to nobody and does
/// not panic on "too many init vars"), unknown `iovl.` words, UTF-8 and an unterminated quote near
/// the end of what the kernel keeps. The init must not crash: it boots (warnings) or fails with a
/// clear line, in bounded time. `len` bytes are given; the kernel keeps `keep` - 1 (its
/// COMMAND_LINE_SIZE: 2048 on x86, 1024 on ARM). QEMU 7.2 cannot hand more than 2047 bytes to an x86
/// kernel at all (the guest hangs silently before its first line, PVH and bzImage alike), so the
/// 4 KiB case runs on the Raspberry Pi, where the kernel truncates it.
fn cmdline_garbage(sc: &mut Sc, len: usize, keep: usize) -> R<()> {
    let disks = if sc.arch() == packer::Arch::Armv6l {
        vec![sd_card(sc)?]
    } else {
        sc.std_disks()?
    };
    let mut rng = fastrand::Rng::with_seed(17);
    let chars: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789-_=,:/.+%@~!#$^&*()[]{}<>?;|äöü€"
        .chars()
        .collect();
    let head = "iovl.onerror=poweroff ";
    let mut g = String::new();
    // The fixed options before ours: console=..., panic=-1, printk.devkmsg=on.
    let quote_at = keep * 9 / 10 - 60;
    while g.len() < len {
        let n = rng.usize(3..40);
        let word: String = (0..n).map(|_| chars[rng.usize(..chars.len())]).collect();
        let prefix = if rng.u8(..).is_multiple_of(5) {
            "iovl.z"
        } else {
            "j."
        };
        let w = format!("{prefix}{word} ");
        if g.len() + w.len() > len {
            break;
        }
        g.push_str(&w);
        if g.len() > quote_at && !g.contains('"') {
            g.push_str("e2e.q=\"unterminated ");
        }
    }
    let before = disk_hashes(&disks)?;
    let mut o = sc.boot_opts(disks.clone(), &format!("{head}{g}"));
    o.timeout = Some(e2e::qemu::default_timeout(sc.kernel));
    let b = sc.boot("garbage", &o)?;
    b.check(!b.out.timed_out, "the boot did not end within its bound")?;
    b.check(
        !b.out.log.contains("Kernel panic"),
        "a kernel panic (PID 1 crashed or the kernel refused the command line)",
    )?;
    let given = head.len() + g.len();
    if b.r.done() {
        expect_standard(&b)?;
        let cl = b.r.get("cmdline").unwrap_or("").len();
        b.check(
            cl < keep,
            format!("/proc/cmdline should be truncated below {keep} bytes: {cl}"),
        )?;
        let warns = kmsg(&b)
            .iter()
            .filter(|l| l.contains("unknown option"))
            .count();
        b.check(
            warns > 0,
            "the unknown iovl.z… words should be warned about",
        )?;
        sc.note(format!(
            "{given} bytes given, {cl} in /proc/cmdline: booted with {warns} unknown-option warnings"
        ));
    } else {
        let line = error_line(&b, &["cmdline"])?;
        expect_unchanged(&b, &disks, &before, &[0])?;
        sc.note(format!("{given} bytes given: failed clearly: {line}"));
    }
    Ok(())
}

fn s17_cmdline_garbage_4k_armv6l(sc: &mut Sc) -> R<()> {
    cmdline_garbage(sc, 4096, 1024)
}

fn s17_cmdline_garbage_2k_x86_64(sc: &mut Sc) -> R<()> {
    // What fits: 2047 bytes minus the harness's own options.
    cmdline_garbage(sc, 1960, 2048)
}

fn s17_init_missing(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let o = sc.boot_opts(d.clone(), "init=/sbin/no-such-init");
    error_case(
        sc,
        &d,
        &[0],
        "init-missing",
        o,
        Action::Poweroff,
        10.0,
        &["/sbin/no-such-init", "ENOENT"],
    )
}

fn s17_init_not_executable(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    // A regular file of the image without an x bit.
    let o = sc.boot_opts(d.clone(), "init=/etc/e2e-image-id");
    error_case(
        sc,
        &d,
        &[0],
        "init-not-executable",
        o,
        Action::Halt,
        10.0,
        &["/etc/e2e-image-id", "executable"],
    )
}

/// No loop.ko in the initrd and no boot partition: /dev/loop-control never appears.
fn s17_no_loop_module(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let mut o = sc.boot_opts(d.clone(), "");
    o.mods = Mods::Without(&["loop"]);
    error_case(
        sc,
        &d,
        &[0, 1],
        "no-loop",
        o,
        Action::Reboot,
        10.0,
        &["loop"],
    )
}

/// No overlay.ko in the initrd nor in the image.
fn s17_no_overlayfs(sc: &mut Sc) -> R<()> {
    let os = e2e::util::read(&sc.w.os_image_with(sc.arch(), "A", 0, false)?)?;
    let img = img_custom(sc, "img.ext4", "img", 32, |dir| {
        e2e::util::write(&dir.join("root-squashfs.img"), &os)
    })?;
    let ovl = sc.copy(&sc.w.overlay_fs(64)?, "overlay.ext4")?;
    let d = vec![img, ovl];
    let mut o = sc.boot_opts(d.clone(), "");
    o.mods = Mods::Without(&["overlay"]);
    error_case(
        sc,
        &d,
        &[0],
        "no-overlayfs",
        o,
        Action::Poweroff,
        10.0,
        &["overlay"],
    )
}

// ---------------------------------------------------------------------------------------------
// 18. The loop setup of kernels before 5.8 (no LOOP_CONFIGURE): the init falls back to LOOP_SET_FD +
//     LOOP_SET_STATUS64 when LOOP_CONFIGURE answers EINVAL, or ENOTTY as the compat path of a 64-bit
//     kernel tells a 32-bit init (src/sys.rs). Every kernel we can download has LOOP_CONFIGURE, so
//     a seccomp shim (tests/fixtures/no-loop-configure.c, booted as `rdinit=`) makes the real 6.1
//     kernel answer each of the two, proves it, and execs the product's /init. One boot per answer.

/// An archive without `/dev/console`: the kernel starts the init with no fds 0-2. The init opens the
/// console itself, and the real init must get it as stdin, stdout and stderr (its report arriving
/// on the console shows the last two).
fn s17_no_console_node(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let mut o = sc.boot_opts(d, "");
    o.extra = vec![sc.w.no_console_archive()?];
    let b = sc.boot("no-console", &o)?;
    let warning = "unable to open an initial console";
    b.check(
        b.out.log.contains(warning),
        format!("the kernel did start init without a console (no \"{warning}\")"),
    )?;
    expect_standard(&b)?;
    b.expect("stdin", "/dev/console")?;
    sc.note("no /dev/console in the archive: the real init has the console as stdin");
    Ok(())
}

/// A bundled load-order naming a path outside the modules folder: the modules step refuses it and
/// says which line, as `<reason><line>`, before it loads anything.
fn s17_bad_load_order(sc: &mut Sc) -> R<()> {
    let d = sc.std_disks()?;
    let kver = sc.w.kernel(sc.kernel).kver.clone();
    // Appended after the modules archive, so its load-order replaces the good one.
    let mut a = packer::cpio::Archive::new(0);
    a.file(
        format!("lib/modules/{kver}/load-order"),
        0o644,
        b"/lib/evil.ko\n".to_vec(),
    )
    .map_err(|e| e.0)?;
    let extra = sc.path("bad-load-order.cpio.gz");
    e2e::util::write(&extra, packer::gzip::gzip(&a.write().map_err(|e| e.0)?))?;
    let mut o = sc.boot_opts(d.clone(), "");
    o.extra = vec![extra];
    error_case(
        sc,
        &d,
        &[0, 1],
        "bad-load-order",
        o,
        Action::Poweroff,
        10.0,
        &["modules: load-order: an absolute path: /lib/evil.ko"],
    )
}

fn s18_loop_fallback(sc: &mut Sc) -> R<()> {
    ensure!(
        sc.arch() == packer::Arch::X86_64,
        "the shim is x86_64 code; {} boots {}",
        sc.kernel.name(),
        sc.arch().name()
    );
    let mut notes = Vec::new();
    for answer in e2e::shim::ANSWERS {
        notes.push(loop_fallback_boot(sc, answer)?);
    }
    sc.note(notes.join("; "));
    Ok(())
}

/// s18's cleanup path: the shim also fails LOOP_SET_STATUS64 (EIO) after the init's LOOP_SET_FD
/// bound the device. Without autoclear nothing would ever unbind it, so the init must (LOOP_CLR_FD).
/// The debug image's error shell then looks for bound loop devices: there must be none.
fn s18_loop_fallback_cleanup(sc: &mut Sc) -> R<()> {
    ensure!(
        sc.arch() == packer::Arch::X86_64,
        "the shim is x86_64 code; {} boots {}",
        sc.kernel.name(),
        sc.arch().name()
    );
    let d = sc.std_disks()?;
    let mut o = sc.boot_opts(d, &format!("rdinit={}", e2e::shim::PATH));
    o.debug = true;
    o.extra = vec![sc.w.shim_archive("EINVAL", Some("EIO"))?];
    let mut run = sc.start("set-status-fails", &o)?;
    let err = error_shell(
        &mut run,
        "after the failed loop setup",
        "for d in /sys/block/loop*; do [ -e $d/loop ] && echo BOUND-${d##*/}; done; echo CHECKED-$((40+2))\n",
        "CHECKED-42",
    )?;
    let out = run.wait();
    let b = sc.finish("set-status-fails", out);
    if let Some(e) = err {
        return b.check(false, e);
    }
    b.check(
        b.out.log.contains(&e2e::shim::ok_line("EINVAL"))
            && b.out.log.contains(&e2e::shim::set_status_note("EIO")),
        "the seccomp shim's line (LOOP_CONFIGURE: EINVAL, LOOP_SET_STATUS64: EIO) is missing",
    )?;
    b.check(
        b.out
            .log
            .contains("image: cannot attach the image to a loop device (EIO)"),
        "the init did not report the failed LOOP_SET_STATUS64",
    )?;
    let bound: Vec<&str> = b
        .out
        .log
        .lines()
        .filter(|l| l.contains("BOUND-loop"))
        .collect();
    b.check(
        bound.is_empty(),
        format!("a loop device stayed bound after the failed LOOP_SET_STATUS64: {bound:?}"),
    )?;
    sc.note("LOOP_SET_STATUS64 failed (EIO): reported, no loop device left bound");
    Ok(())
}

/// One boot of s18 with LOOP_CONFIGURE answered by `answer`; returns the note.
fn loop_fallback_boot(sc: &mut Sc, answer: &str) -> R<String> {
    let d = sc.std_disks()?;
    let mut o = sc.boot_opts(d, &format!("rdinit={}", e2e::shim::PATH));
    o.extra = vec![sc.w.shim_archive(answer, None)?];
    let b = sc.boot(&format!("loop-fallback-{answer}"), &o)?;

    // The shim proved its filter (LOOP_CONFIGURE: EBADF on fd -1 before, `answer` after) and
    // handed over to the init.
    let shim: Vec<&str> = b
        .out
        .log
        .lines()
        .filter_map(|l| l.find("e2e-shim: ").map(|at| &l[at..]))
        .collect();
    b.check(
        shim.iter().all(|l| !l.starts_with(e2e::shim::FAILED)),
        format!("the seccomp shim failed: {shim:?}"),
    )?;
    b.check(
        shim.iter()
            .any(|l| l.starts_with(&e2e::shim::ok_line(answer))),
        format!("the seccomp shim's line is missing (shim lines: {shim:?})"),
    )?;

    // The boot reached the real init on the overlay over the image, as in s01.
    expect_default_boot(&b)?;
    b.expect("status", "reason=current")?;
    // PID 1 still carries the shim's filter (filters survive execve and cannot be dropped), so
    // the init ran under it: its LOOP_CONFIGURE got `answer`.
    b.expect("seccomp", "2")?;
    b.expect("seccomp_filters", "1")?;

    // The image is mounted from a loop device, the only bound one, which the fallback set up
    // read-only (LOOP_SET_FD on a read-only open) with autoclear (LOOP_SET_STATUS64).
    let lower =
        b.r.all("mount")
            .into_iter()
            .find(|m| m.split_whitespace().nth(1) == Some("/run/initramfs-overlay/lower"))
            .unwrap_or("");
    let (dev, fs) = {
        let mut it = lower.split_whitespace();
        (it.next().unwrap_or(""), it.nth(1).unwrap_or(""))
    };
    b.check(
        fs == "squashfs" && dev.starts_with("/dev/loop"),
        format!("/run/initramfs-overlay/lower should be squashfs on /dev/loopN: {lower:?}"),
    )?;
    let name = &dev["/dev/".len()..];
    let loops = b.r.all("loop");
    b.check(
        loops.len() == 1,
        format!("exactly one loop device should be bound, the guest saw {loops:?}"),
    )?;
    let fields: Vec<&str> = loops[0].split_whitespace().collect();
    let field = |k: &str| {
        fields
            .iter()
            .find_map(|f| f.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .unwrap_or("")
    };
    b.check(
        fields.first() == Some(&name),
        format!("the bound loop device should be {name}: {:?}", loops[0]),
    )?;
    b.check(
        field("ro") == "1" && field("autoclear") == "1",
        format!(
            "{name} should be read-only with autoclear (sysfs ro=1, loop/autoclear=1): {:?}",
            loops[0]
        ),
    )?;
    let backing = field("backing_file");
    b.check(
        backing.ends_with("/root-squashfs.img"),
        format!("{name}'s backing file should be the image root-squashfs.img: {backing:?}"),
    )?;
    Ok(format!(
        "{answer}: {:.1} s boot; {name} ro=1 autoclear=1 via LOOP_SET_FD + LOOP_SET_STATUS64; image step {} ms",
        b.out.secs,
        step_ms(&b, "image").map_or("?".to_string(), |m| m.to_string())
    ))
}

// ---------------------------------------------------------------------------------------------
// Benchmark (issue "Power-safe image update"): not in the default run. `E2E_BENCH=1 cargo test
// --release -p e2e -- bench`. The promotion's copy (the init's `copied in N ms`, fsync included)
// against `dd bs=1M conv=fsync` of the same file from newimg to a new file on img, each the first bulk
// copy of its own VM: at a VM's first copy QEMU translates the kernel's write and writeback code and
// the host backs the guest's fresh pages, which cost 65 MiB 150-400 ms more than the same copy run
// again (measured with dd and with sendfile), so a dd run after the promotion in the same VM would
// be timed with that cost already paid. dd's source is read first, as the
// promotion finds its source after the SHA-256 check ("cached": the goal's comparison), or not
// ("cold").

fn bench_promotion_vs_dd(sc: &mut Sc) -> R<()> {
    let runs: usize = std::env::var("E2E_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let u = update_disks(sc, 64 << 20, None, 256)?;
    let ovl = sc.path("overlay-big.ext4");
    let od = sc.path("ovl.d");
    world::overlay_tree(&od, 0)?;
    images::ext4(&ovl, "overlay", Some(&od), 256, None, &[])?;
    // newimg of the dd boots: the update under a name the init ignores (nothing to promote), in a
    // file system of the same size as the update's.
    let source = e2e::util::read(&sc.w.os_image(sc.arch(), "B", 64 << 20)?)?;
    let newimg_mib = source.len() as u64 / (1 << 20) + 16;
    let dd_newimg = img_with(
        sc,
        "newimg-dd.ext4",
        &[(guest::DD_SOURCE, source)],
        newimg_mib,
        "newimg",
        world::NEWIMG_UUID,
    )?;
    let boot = |sc: &mut Sc, label: &str, newimg: &Path, append: &str| -> R<Booted> {
        let d = vec![
            sc.copy(&u.img, &format!("img-{label}.ext4"))?,
            sc.copy(&ovl, &format!("overlay-{label}.ext4"))?,
            sc.copy(newimg, &format!("newimg-{label}.ext4"))?,
        ];
        let mut o = sc.boot_opts(d.clone(), append);
        o.timeout = Some(Duration::from_secs(240));
        let b = sc.boot(label, &o);
        // 3 x 80+ MiB per boot; kept when the boot failed, to look into.
        if b.is_ok() {
            for p in &d {
                let _ = std::fs::remove_file(p);
            }
        }
        b
    };
    let mut rows = Vec::new();
    for i in 0..runs {
        let b = boot(sc, &format!("bench{i}"), &u.newimg, "")?;
        expect_booted_image(&b, "B")?;
        let lines = guest::init_lines(&b.out.log);
        let number_after = |head: &str| -> R<f64> {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(head))
                .and_then(|rest| rest.split([' ', ',']).next())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("no `{head}N` line from the init{}", b.ctx()))
        };
        let bytes = number_after("update: newimg holds root-squashfs.img, ")?;
        let ms = number_after("update: copied in ")?;
        let promotion = bytes / (1 << 20) as f64 / (ms.max(1.0) / 1000.0);
        let mut dd = [0.0; 2];
        for (rate, mode) in dd.iter_mut().zip(["cached", "cold"]) {
            let b = boot(
                sc,
                &format!("dd-{mode}{i}"),
                &dd_newimg,
                &format!("e2e.dd={mode}"),
            )?;
            expect_booted_image(&b, "A")?;
            let v = b.r.req("dd")?;
            let f: Vec<f64> = v
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // `<mode> <bytes> <t0> <t1>`, or `<mode> failed`; the uptimes have 10 ms steps, and a
            // copy of 64 MiB takes far longer.
            ensure!(
                f.len() == 3 && f[0] == bytes && f[2] > f[1],
                "odd dd report {v:?} (the copy should have {bytes} bytes)"
            );
            *rate = f[0] / (1 << 20) as f64 / (f[2] - f[1]);
        }
        rows.push((promotion, dd[0], dd[1], ms));
    }
    let mut s = String::new();
    for (i, (p, cached, cold, ms)) in rows.iter().enumerate() {
        s.push_str(&format!(
            "run {i}: promotion {p:.1} MiB/s ({ms} ms), dd cached source {cached:.1} MiB/s, dd cold source {cold:.1} MiB/s; "
        ));
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (mp, mw, mc) = (
        med(rows.iter().map(|r| r.0).collect()),
        med(rows.iter().map(|r| r.1).collect()),
        med(rows.iter().map(|r| r.2).collect()),
    );
    s.push_str(&format!(
        "median: promotion {mp:.1} MiB/s = {:.0}% of dd with a cached source ({mw:.1} MiB/s), {:.0}% of dd with a cold source ({mc:.1} MiB/s), each the first copy of its VM; goal ≥ 90% of the cached one",
        100.0 * mp / mw,
        100.0 * mp / mc
    ));
    sc.note(s);
    Ok(())
}
