//! The `packer` binary end to end: reproducible images, the debug layout, modules-only archives
//! and bad input (a clear error, a non-zero exit and no output file).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn packer(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_packer"));
    c.args(args).env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "packer failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "packer should have failed: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(e.starts_with("packer: error: "), "{e}");
    e
}

struct Tmp(PathBuf);
impl Tmp {
    fn new(tag: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("packer-cli-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
    fn s(&self, p: &str) -> String {
        self.join(p).to_string_lossy().into_owned()
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Debian's amd64 static busybox (fetched once into busybox-cache/): a host-runnable static ELF.
fn host_busybox() -> String {
    let o = packer(&["fetch-busybox", "--arch", "x86_64"], &[]);
    ok(&o).trim().to_string()
}

/// `gzip -dc | cpio -idm` into `dir`.
fn unpack(gz: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let cpio = std::fs::File::open(gz).unwrap();
    let mut gunzip = Command::new("gzip")
        .arg("-dc")
        .stdin(cpio)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let st = Command::new("cpio")
        .args(["-idm", "--quiet", "--no-absolute-filenames"])
        .current_dir(dir)
        .stdin(gunzip.stdout.take().unwrap())
        .status()
        .unwrap();
    assert!(gunzip.wait().unwrap().success());
    assert!(st.success(), "cpio failed");
}

#[test]
fn reproducible_standard_image() {
    let t = Tmp::new("repro");
    let bb = host_busybox();
    std::fs::create_dir_all(t.join("files/etc")).unwrap();
    std::fs::write(t.join("files/etc/motd"), "hello\n").unwrap();
    let build = |out: &str, env: &[(&str, &str)]| {
        ok(&packer(
            &[
                "image",
                "--arch",
                "x86_64",
                "--init",
                &bb,
                "--files",
                &t.s("files"),
                "--out",
                &t.s(out),
            ],
            env,
        ));
        std::fs::read(t.join(out)).unwrap()
    };
    let a = build("a.gz", &[]);
    // Different mtimes on the inputs do not matter; SOURCE_DATE_EPOCH does.
    std::fs::write(t.join("files/etc/motd"), "hello\n").unwrap();
    let b = build("b.gz", &[]);
    assert_eq!(a, b, "two builds must be byte-identical");
    let c = build("c.gz", &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_ne!(a, c);
    assert_eq!(c, build("d.gz", &[("SOURCE_DATE_EPOCH", "1700000000")]));
    assert!(
        err(&packer(
            &[
                "image",
                "--arch",
                "x86_64",
                "--init",
                &bb,
                "--out",
                &t.s("e.gz")
            ],
            &[("SOURCE_DATE_EPOCH", "soon")]
        ))
        .contains("SOURCE_DATE_EPOCH")
    );
    assert!(!t.join("e.gz").exists());

    unpack(&t.join("a.gz"), &t.join("x"));
    let init = std::fs::read(t.join("x/init")).unwrap();
    assert_eq!(
        init,
        packer::strip_elf(&std::fs::read(&bb).unwrap()).unwrap(),
        "the init goes in stripped"
    );
    assert_eq!(
        std::fs::read_to_string(t.join("x/etc/motd")).unwrap(),
        "hello\n"
    );
    for d in ["dev", "proc", "sys", "mnt", "run"] {
        assert!(t.join("x").join(d).is_dir(), "{d}");
    }
    // The stripped init still runs.
    use std::os::unix::process::CommandExt;
    let o = Command::new(t.join("x/init"))
        .arg0("busybox")
        .args(["echo", "stripped"])
        .output()
        .unwrap();
    assert_eq!(o.stdout, b"stripped\n");
}

#[test]
fn debug_image_has_a_working_shell() {
    let t = Tmp::new("debug");
    let bb = host_busybox();
    let out = ok(&packer(
        &[
            "image",
            "--arch",
            "x86_64",
            "--init",
            &bb,
            "--debug",
            "--no-files",
            "--out",
            &t.s("d.gz"),
        ],
        &[],
    ));
    assert!(out.contains("applets"), "{out}");
    unpack(&t.join("d.gz"), &t.join("x"));
    assert_eq!(
        std::fs::read_link(t.join("x/bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert!(!t.join("x/bin/busybox").is_symlink());
    let listed = Command::new(&bb).arg("--list").output().unwrap().stdout;
    for name in String::from_utf8(listed)
        .unwrap()
        .lines()
        .filter(|n| *n != "busybox")
    {
        assert!(t.join("x/bin").join(name).is_symlink(), "no /bin/{name}");
    }
    let o = Command::new(t.join("x/bin/sh"))
        .args(["-c", "echo $((6*7))"])
        .output()
        .unwrap();
    assert_eq!(o.stdout, b"42\n");
    // An explicit --busybox gives the same bytes as the fetched one.
    ok(&packer(
        &[
            "image",
            "--arch",
            "x86_64",
            "--init",
            &bb,
            "--busybox",
            &bb,
            "--no-files",
            "--out",
            &t.s("e.gz"),
        ],
        &[],
    ));
    assert_eq!(
        std::fs::read(t.join("d.gz")).unwrap(),
        std::fs::read(t.join("e.gz")).unwrap()
    );
}

#[test]
fn modules_archive_and_image_with_modules() {
    let t = Tmp::new("mods");
    let kdir = t.join("root/lib/modules/6.1.0-50-amd64");
    std::fs::create_dir_all(kdir.join("kernel/fs/fat")).unwrap();
    std::fs::create_dir_all(kdir.join("kernel/crypto")).unwrap();
    std::fs::write(kdir.join("modules.dep"), "kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\nkernel/fs/fat/fat.ko:\nkernel/crypto/crc32c_generic.ko:\n").unwrap();
    for m in ["fat/vfat", "fat/fat"] {
        std::fs::write(kdir.join(format!("kernel/fs/{m}.ko")), m).unwrap();
    }
    std::fs::write(kdir.join("kernel/crypto/crc32c_generic.ko"), "crc").unwrap();
    std::fs::write(t.join("list"), "# softdeps too\ncrc32c-generic\n").unwrap();
    let k = kdir.to_string_lossy().into_owned();
    let out = ok(&packer(
        &[
            "modules",
            "--modules",
            &k,
            "--module",
            "vfat",
            "--module-list",
            &t.s("list"),
            "--out",
            &t.s("m.gz"),
        ],
        &[],
    ));
    assert!(out.contains("3 modules"), "{out}");
    unpack(&t.join("m.gz"), &t.join("x"));
    assert_eq!(
        std::fs::read_to_string(t.join("x/lib/modules/6.1.0-50-amd64/load-order")).unwrap(),
        "kernel/fs/fat/fat.ko\nkernel/fs/fat/vfat.ko\nkernel/crypto/crc32c_generic.ko\n"
    );
    assert_eq!(
        std::fs::read(t.join("x/lib/modules/6.1.0-50-amd64/kernel/fs/fat/vfat.ko")).unwrap(),
        b"fat/vfat"
    );
    assert!(!t.join("x/init").exists());

    // An unknown module: an error naming it, and no file.
    let e = err(&packer(
        &[
            "modules",
            "--modules",
            &k,
            "--module",
            "vfat",
            "--module",
            "zz_nope",
            "--out",
            &t.s("n.gz"),
        ],
        &[],
    ));
    assert!(e.contains("zz_nope"), "{e}");
    assert!(!t.join("n.gz").exists());

    // The same modules inside an image; the image and a modules archive unpack over each other
    // (as the kernel does with concatenated archives).
    let bb = host_busybox();
    ok(&packer(
        &[
            "image",
            "--arch",
            "x86_64",
            "--init",
            &bb,
            "--no-files",
            "--modules",
            &k,
            "--module",
            "vfat",
            "--out",
            &t.s("i.gz"),
        ],
        &[],
    ));
    unpack(&t.join("i.gz"), &t.join("y"));
    assert!(t.join("y/init").is_file());
    assert_eq!(
        std::fs::read_to_string(t.join("y/lib/modules/6.1.0-50-amd64/load-order")).unwrap(),
        "kernel/fs/fat/fat.ko\nkernel/fs/fat/vfat.ko\n"
    );
    unpack(&t.join("m.gz"), &t.join("y"));
    assert!(
        t.join("y/lib/modules/6.1.0-50-amd64/kernel/crypto/crc32c_generic.ko")
            .is_file()
    );
}

#[test]
fn bad_input_fails_clearly_and_writes_nothing() {
    let t = Tmp::new("bad");
    let bb = host_busybox();
    let out = t.s("o.gz");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "image",
                "--arch",
                "x86_64",
                "--init",
                "/nonexistent/init",
                "--out",
                &out,
            ],
            "/nonexistent/init",
        ),
        (
            &["image", "--arch", "armv6l", "--init", &bb, "--out", &out],
            "not for armv6l",
        ),
        (
            &[
                "image",
                "--arch",
                "x86_64",
                "--init",
                &bb,
                "--files",
                "/nonexistent/files",
                "--out",
                &out,
            ],
            "/nonexistent/files",
        ),
        (
            &[
                "image",
                "--arch",
                "x86_64",
                "--init",
                &bb,
                "--busybox",
                "/nonexistent/bb",
                "--out",
                &out,
            ],
            "/nonexistent/bb",
        ),
        (
            &[
                "image", "--arch", "x86_64", "--init", &bb, "--module", "ext4", "--out", &out,
            ],
            "--modules",
        ),
        (
            &[
                "image",
                "--arch",
                "x86_64",
                "--init",
                &bb,
                "--modules",
                "/nonexistent/6.1",
                "--module",
                "ext4",
                "--out",
                &out,
            ],
            "modules.dep",
        ),
        (&["image", "--init", &bb, "--out", &out], "--arch"),
        (&["image", "--arch", "sparc", "--out", &out], "sparc"),
        (
            &["image", "--arch", "x86_64", "--bogus", "--out", &out],
            "--bogus",
        ),
        (&["modules", "--module", "ext4", "--out", &out], "--modules"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, want) in cases {
        let e = err(&packer(args, &[]));
        assert!(e.contains(want), "{args:?}: {e:?} should mention {want:?}");
        assert!(!t.join("o.gz").exists(), "{args:?} left an output");
    }
    assert_eq!(
        std::fs::read_dir(&t.0).unwrap().count(),
        0,
        "no temporary files left"
    );

    // busybox that cannot be fetched: an apt source nobody answers on (loopback, refused at once).
    std::fs::write(
        t.join("bad.sources"),
        "Types: deb\nURIs: http://127.0.0.1:9/debian\nSuites: bookworm\nComponents: main\n",
    )
    .unwrap();
    let env = [
        ("PACKER_APT_SOURCES", t.s("bad.sources")),
        ("PACKER_BUSYBOX_CACHE", t.s("cache")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let e = err(&packer(
        &[
            "image", "--arch", "i686", "--init", &bb, "--debug", "--out", &out,
        ],
        &env,
    ));
    assert!(e.contains("cannot fetch busybox for i686"), "{e}");
    assert!(!t.join("o.gz").exists());
    assert!(ok(&packer(&["--help"], &[])).contains("packer image --arch ARCH"));
}
