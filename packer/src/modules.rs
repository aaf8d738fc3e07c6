//! Kernel modules: resolve names through `modules.dep` into a load order (dependencies first, each
//! once) and put the `.ko` files plus `lib/modules/<kver>/load-order` into an archive.

use crate::cpio::Archive;
use crate::{Result, fail, io_err};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// `kernel/fs/ext4/ext4.ko.xz` → `ext4`; `-` becomes `_` (modules.dep and modprobe treat them alike).
pub fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let base = [".ko.xz", ".ko.zst", ".ko.gz", ".ko"]
        .iter()
        .find_map(|s| base.strip_suffix(s))
        .unwrap_or(base);
    base.replace('-', "_")
}

/// The names in a module list file: one per line; blank lines and `#` comments are ignored.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The parsed `modules.dep`: module name → (path, dependency paths in file order).
pub struct DepMap {
    by_name: BTreeMap<String, (String, Vec<String>)>,
}

impl DepMap {
    pub fn parse(text: &str) -> Result<DepMap> {
        let mut by_name = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((path, deps)) = line.split_once(':') else {
                fail!("modules.dep line {}: no ':' in {line:?}", n + 1);
            };
            let path = path.trim().to_string();
            let deps = deps.split_whitespace().map(str::to_string).collect();
            by_name.insert(module_name(&path), (path, deps));
        }
        Ok(DepMap { by_name })
    }

    /// The load order of `names`: for each name in turn, its dependencies (recursively, first)
    /// then itself, each path once. Names in `builtin` are accepted and skipped. An unknown name
    /// is an error.
    pub fn resolve(&self, names: &[String], builtin: &HashSet<String>) -> Result<Vec<String>> {
        let mut order = Vec::new();
        let mut done = HashSet::new();
        let mut missing = Vec::new();
        for name in names {
            let n = module_name(name.trim());
            if self.by_name.contains_key(&n) {
                self.visit(&n, &mut done, &mut Vec::new(), &mut order)?;
            } else if !builtin.contains(&n) {
                missing.push(name.as_str());
            }
        }
        if !missing.is_empty() {
            fail!("module(s) not found in modules.dep: {}", missing.join(", "));
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        done: &mut HashSet<String>,
        stack: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<()> {
        if done.contains(name) {
            return Ok(());
        }
        if stack.iter().any(|s| s == name) {
            fail!(
                "modules.dep has a dependency cycle: {} -> {name}",
                stack.join(" -> ")
            );
        }
        let Some((path, deps)) = self.by_name.get(name) else {
            fail!(
                "modules.dep names {name} as a dependency of {} but has no line for it",
                stack.last().map_or("?", |s| s)
            );
        };
        stack.push(name.to_string());
        for d in deps {
            self.visit(&module_name(d), done, stack, order)?;
        }
        stack.pop();
        done.insert(name.to_string());
        order.push(path.clone());
        Ok(())
    }
}

/// The names in `modules.builtin` (built into the kernel: nothing to load).
pub fn parse_builtin(text: &str) -> HashSet<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| module_name(l.trim()))
        .collect()
}

/// Adds the modules `names` (with their dependencies) from `dir` = `<root>/lib/modules/<kver>` to
/// the archive at `lib/modules/<kver>/<same relative path>`, plus `lib/modules/<kver>/load-order`.
/// Returns the load order (relative paths).
pub fn add_modules(archive: &mut Archive, dir: &Path, names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        fail!(
            "no modules named for {} (use --module NAME or --module-list FILE)",
            dir.display()
        );
    }
    let Some(kver) = dir.file_name().and_then(|k| k.to_str()) else {
        fail!(
            "{}: expected a <root>/lib/modules/<kernel version> folder",
            dir.display()
        );
    };
    let dep_path = dir.join("modules.dep");
    let dep = std::fs::read_to_string(&dep_path).map_err(|e| {
        crate::Error(
            io_err("cannot read", &dep_path, e).0
                + " (the kernel .debs carry none: run `depmod -b ROOT KVER` first)",
        )
    })?;
    let builtin = std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
    let order = DepMap::parse(&dep)?.resolve(names, &parse_builtin(&builtin))?;
    let base = format!("lib/modules/{kver}");
    for rel in &order {
        if rel.split('/').any(|c| c == ".." || c.is_empty()) {
            fail!("modules.dep: bad path {rel:?}");
        }
        let data = crate::read(&dir.join(rel))?;
        archive.file(format!("{base}/{rel}"), 0o644, data)?;
    }
    let mut list = order.join("\n");
    list.push('\n');
    archive.file(format!("{base}/load-order"), 0o644, list.into_bytes())?;
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz
kernel/fs/jbd2/jbd2.ko.xz:
kernel/fs/mbcache.ko.xz:
kernel/lib/crc16.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz:
kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz:
kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio_ring.ko.xz:
kernel/fs/nls/nls_cp437.ko.xz:
kernel/fs/fat/vfat.ko.xz: kernel/fs/fat/fat.ko.xz
kernel/fs/fat/fat.ko.xz:
kernel/drivers/md/dm-mod.ko.xz:
";

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn resolve(v: &[&str]) -> Result<Vec<String>> {
        DepMap::parse(DEP).unwrap().resolve(
            &names(v),
            &parse_builtin("kernel/fs/squashfs/squashfs.ko\n"),
        )
    }

    #[test]
    fn deps_first_each_once() {
        let order = resolve(&[
            "virtio_blk",
            "virtio_pci",
            "crc32c_generic",
            "ext4",
            "vfat",
            "nls_cp437",
        ])
        .unwrap();
        let short: Vec<String> = order.iter().map(|p| module_name(p)).collect();
        assert_eq!(
            short,
            [
                "virtio_ring",
                "virtio",
                "virtio_blk",
                "virtio_pci_legacy_dev",
                "virtio_pci_modern_dev",
                "virtio_pci",
                "crc32c_generic",
                "crc16",
                "mbcache",
                "jbd2",
                "ext4",
                "fat",
                "vfat",
                "nls_cp437"
            ]
        );
        assert_eq!(order[0], "kernel/drivers/virtio/virtio_ring.ko.xz");
        // Every module comes after all of its dependencies.
        let dep = DepMap::parse(DEP).unwrap();
        for (i, p) in order.iter().enumerate() {
            for d in &dep.by_name[&module_name(p)].1 {
                assert!(order[..i].contains(d), "{d} must precede {p}");
            }
        }
    }

    #[test]
    fn names_normalised_builtin_and_missing() {
        assert_eq!(
            resolve(&["dm_mod"]).unwrap(),
            ["kernel/drivers/md/dm-mod.ko.xz"]
        );
        assert_eq!(
            resolve(&["dm-mod.ko", "dm_mod"]).unwrap(),
            ["kernel/drivers/md/dm-mod.ko.xz"]
        );
        assert_eq!(
            resolve(&["squashfs"]).unwrap(),
            Vec::<String>::new(),
            "built in"
        );
        let e = resolve(&["ext4", "nosuch", "overlay"]).unwrap_err().0;
        assert!(e.contains("nosuch, overlay"), "{e}");
    }

    #[test]
    fn broken_dep_files() {
        let e = DepMap::parse("a.ko: b.ko\nb.ko: a.ko\n")
            .unwrap()
            .resolve(&names(&["a"]), &HashSet::new());
        assert!(e.unwrap_err().0.contains("cycle"));
        let e = DepMap::parse("a.ko: c.ko\n")
            .unwrap()
            .resolve(&names(&["a"]), &HashSet::new());
        assert!(e.unwrap_err().0.contains("no line for it"));
        assert!(DepMap::parse("garbage\n").is_err());
    }

    #[test]
    fn list_file_and_names() {
        assert_eq!(
            parse_list("# c\next4\n\n  vfat # x\nnls-cp437\n"),
            ["ext4", "vfat", "nls-cp437"]
        );
        for p in [
            "a/b/nls-cp437.ko",
            "nls_cp437.ko.zst",
            "x/nls_cp437.ko.gz",
            "nls_cp437",
        ] {
            assert_eq!(module_name(p), "nls_cp437");
        }
    }

    #[test]
    fn adds_files_and_load_order() {
        let t = crate::testutil::TempDir::new("mods");
        let dir = t.path().join("lib/modules/6.1.0-9-amd64");
        std::fs::create_dir_all(dir.join("kernel/fs/fat")).unwrap();
        std::fs::write(
            dir.join("modules.dep"),
            "kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\nkernel/fs/fat/fat.ko:\n",
        )
        .unwrap();
        std::fs::write(dir.join("kernel/fs/fat/vfat.ko"), b"vfat").unwrap();
        std::fs::write(dir.join("kernel/fs/fat/fat.ko"), b"fat").unwrap();
        let mut a = Archive::new(0);
        let order = add_modules(&mut a, &dir, &names(&["vfat"])).unwrap();
        assert_eq!(order, ["kernel/fs/fat/fat.ko", "kernel/fs/fat/vfat.ko"]);
        let file = |p: &str| match &a.get(p).unwrap().kind {
            crate::cpio::Kind::File(d) => d.clone(),
            k => panic!("{k:?}"),
        };
        assert_eq!(
            file("lib/modules/6.1.0-9-amd64/kernel/fs/fat/vfat.ko"),
            b"vfat"
        );
        assert_eq!(
            file("lib/modules/6.1.0-9-amd64/load-order"),
            b"kernel/fs/fat/fat.ko\nkernel/fs/fat/vfat.ko\n"
        );
        // A listed file that is missing, and a folder without modules.dep.
        std::fs::remove_file(dir.join("kernel/fs/fat/fat.ko")).unwrap();
        assert!(
            add_modules(&mut Archive::new(0), &dir, &names(&["vfat"]))
                .unwrap_err()
                .0
                .contains("fat.ko")
        );
        let e = add_modules(&mut Archive::new(0), t.path(), &names(&["vfat"]))
            .unwrap_err()
            .0;
        assert!(e.contains("modules.dep"), "{e}");
    }
}
