//! A private apt configuration: foreign architectures (amd64, i386, armel) and extra suites (e.g.
//! `bookworm-backports`) that the machine's own apt lists lack, with lists and caches in a folder
//! of ours. The sources are derived from the machine's own (`/etc/apt/sources.list.d/*.sources`,
//! `*.list` and `/etc/apt/sources.list`, or the file named by `PACKER_APT_SOURCES`): same URIs,
//! suites, components and keys. Packages are fetched with `apt-get download` (apt checks them
//! against the signed lists) and unpacked with `dpkg-deb -x`; nothing is installed.
//!
//! ```no_run
//! use packer::apt::Apt;
//! let apt = Apt::new("tests/cache/apt").extra_suite("bookworm-backports");
//! let pkg = apt.resolve("linux-image-amd64", "amd64", Some("bookworm-backports"))?; // linux-image-6.12...
//! let root = apt.fetch_extract(&pkg, "amd64", Some("bookworm-backports"), "tests/cache".as_ref())?;
//! # Ok::<(), packer::Error>(())
//! ```
//!
//! Folders under the root: `sources.list.d/`, `lists/`, `cache/`, and a `lock` file that
//! serialises processes sharing it. `apt-get update` runs once: again only when the derived
//! sources change, when the lists are a day old, or when a download fails.

use crate::{Error, Result, fail, io_err};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The Debian architectures the private configuration knows.
pub const ARCHES: [&str; 3] = ["amd64", "i386", "armel"];

const SOURCES_FILE: &str = "packer.sources";
const STAMP: &str = "updated";
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Roots updated by this process (an update runs at most once per process and root, unless forced).
static UPDATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

#[derive(Debug, Clone)]
pub struct Apt {
    root: PathBuf,
    extra_suites: Vec<String>,
}

impl Apt {
    /// A private apt configuration kept in `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Apt {
        Apt {
            root: root.into(),
            extra_suites: Vec::new(),
        }
    }

    /// Adds a suite next to the machine's: `bookworm-backports` goes into every source that
    /// lists `bookworm`.
    pub fn extra_suite(mut self, suite: &str) -> Apt {
        if !self.extra_suites.iter().any(|s| s == suite) {
            self.extra_suites.push(suite.to_string());
        }
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The deb822 sources this configuration uses.
    pub fn sources(&self) -> Result<String> {
        let stanzas = match std::env::var_os("PACKER_APT_SOURCES") {
            Some(f) => {
                let f = PathBuf::from(f);
                let text = std::fs::read_to_string(&f).map_err(|e| io_err("cannot read", &f, e))?;
                parse_any(&text)
            }
            None => machine_sources()?,
        };
        derive_sources(stanzas, &self.extra_suites)
    }

    /// Writes the sources and runs `apt-get update` unless this was done already (same sources,
    /// lists under a day old). A partial failure (some index files) is a warning.
    pub fn ensure_updated(&self) -> Result<()> {
        let _lock = self.lock()?;
        self.update_locked(false)
    }

    /// Runs `apt-get update` now.
    pub fn update(&self) -> Result<()> {
        let _lock = self.lock()?;
        self.update_locked(true)
    }

    fn update_locked(&self, force: bool) -> Result<()> {
        let sources = self.sources()?;
        let stamp = self.root.join(STAMP);
        let done_here = UPDATED.lock().unwrap().contains(&self.root);
        let fresh = std::fs::read_to_string(&stamp).is_ok_and(|s| s == sources)
            && std::fs::metadata(&stamp)
                .and_then(|m| m.modified())
                .is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() < MAX_AGE);
        if !force && (fresh || done_here && self.has_lists()) {
            return Ok(());
        }
        for d in ["sources.list.d", "lists/partial", "cache/archives/partial"] {
            let d = self.root.join(d);
            std::fs::create_dir_all(&d).map_err(|e| io_err("cannot create", &d, e))?;
        }
        crate::write_atomic(
            &self.root.join("sources.list.d").join(SOURCES_FILE),
            sources.as_bytes(),
        )?;
        let _ = std::fs::remove_file(&stamp);
        let out = run(self.cmd("apt-get").arg("update"))?;
        UPDATED.lock().unwrap().push(self.root.clone());
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if !self.has_lists() {
                fail!("apt-get update failed ({}):\n{}", out.status, err.trim());
            }
            eprintln!(
                "packer: warning: apt-get update partly failed; going on with the lists it got:\n{}",
                err.trim()
            );
        }
        crate::write_atomic(&stamp, sources.as_bytes())
    }

    fn has_lists(&self) -> bool {
        std::fs::read_dir(self.root.join("lists"))
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
            })
            .unwrap_or(false)
    }

    /// `apt-get` or `apt-cache` with the private configuration (and the machine's apt.conf.d).
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        let opt = |k: &str, v: &Path| format!("{k}={}", v.display());
        c.env("LC_ALL", "C")
            .args(["-o", &format!("APT::Architectures={}", ARCHES.join(","))])
            .args(["-o", &opt("Dir::State::Lists", &self.root.join("lists"))])
            .args(["-o", "Dir::Etc::SourceList=/dev/null"])
            .args([
                "-o",
                &opt("Dir::Etc::SourceParts", &self.root.join("sources.list.d")),
            ])
            .args(["-o", &opt("Dir::Cache", &self.root.join("cache"))])
            // A binary cache of the lists (docker images turn it off): 1 s a query instead of 4 s.
            .args([
                "-o",
                "Dir::Cache::pkgcache=pkgcache.bin",
                "-o",
                "Dir::Cache::srcpkgcache=",
            ])
            .args(["-o", "Acquire::Languages=none"])
            .args(["-o", "APT::Sandbox::User=root"]);
        c
    }

    fn lock(&self) -> Result<File> {
        std::fs::create_dir_all(&self.root).map_err(|e| io_err("cannot create", &self.root, e))?;
        let path = self.root.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_err("cannot open", &path, e))?;
        f.lock().map_err(|e| io_err("cannot lock", &path, e))?;
        Ok(f)
    }

    /// The `Depends:` of a package (`apt-cache depends`), names without `:arch`, for the Debian
    /// `arch` and, if given, the target release (e.g. `bookworm-backports`).
    pub fn depends(&self, package: &str, arch: &str, release: Option<&str>) -> Result<Vec<String>> {
        self.ensure_updated()?;
        let _lock = self.lock()?;
        let mut c = self.cmd("apt-cache");
        if let Some(r) = release {
            c.args(["-t", r]);
        }
        let out = run(c.arg("depends").arg(format!("{package}:{arch}")))?;
        if !out.status.success() {
            fail!(
                "apt-cache depends {package}:{arch} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(parse_depends(&String::from_utf8_lossy(&out.stdout)))
    }

    /// What a metapackage stands for: `linux-image-amd64` → `linux-image-6.1.0-NN-amd64`, i.e. its
    /// first dependency with the metapackage's name up to the last `-` as a prefix (else the first).
    pub fn resolve(&self, metapackage: &str, arch: &str, release: Option<&str>) -> Result<String> {
        let deps = self.depends(metapackage, arch, release)?;
        let prefix = metapackage.rsplit_once('-').map_or(metapackage, |p| p.0);
        match deps.iter().find(|d| d.starts_with(prefix)).or(deps.first()) {
            Some(d) => Ok(d.clone()),
            None => fail!("{metapackage}:{arch} has no dependency to resolve to"),
        }
    }

    /// Downloads a package's .deb into `dir` (kept: a second call finds it there) and returns its path.
    pub fn download(
        &self,
        package: &str,
        arch: &str,
        release: Option<&str>,
        dir: &Path,
    ) -> Result<PathBuf> {
        self.ensure_updated()?;
        match self.download_locked(package, arch, release, dir) {
            Ok(p) => Ok(p),
            // Stale lists name files the mirror no longer has: refresh once and retry.
            Err(e)
                if e.0.starts_with("apt-get download")
                    && !UPDATED.lock().unwrap().contains(&self.root) =>
            {
                eprintln!("packer: {e}; updating the apt lists and trying again");
                self.update()?;
                self.download_locked(package, arch, release, dir)
            }
            Err(e) => Err(e),
        }
    }

    fn download_locked(
        &self,
        package: &str,
        arch: &str,
        release: Option<&str>,
        dir: &Path,
    ) -> Result<PathBuf> {
        let _lock = self.lock()?;
        let spec = match release {
            Some(r) => format!("{package}:{arch}/{r}"),
            None => format!("{package}:{arch}"),
        };
        let out = run(self
            .cmd("apt-get")
            .args(["download", "--print-uris", &spec]))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(file) = text
            .lines()
            .find_map(|l| l.split_whitespace().nth(1))
            .filter(|_| out.status.success())
        else {
            fail!(
                "apt cannot find {spec}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        };
        if file.contains('/') || !file.ends_with(".deb") {
            fail!("apt-get download --print-uris gave an odd file name {file:?}");
        }
        let deb = dir.join(file);
        if deb.is_file() {
            return Ok(deb);
        }
        let tmp = dir.join(format!(".download{}", crate::tmp_suffix()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| io_err("cannot create", &tmp, e))?;
        let out = run(self
            .cmd("apt-get")
            .args(["download", &spec])
            .current_dir(&tmp));
        let got = tmp.join(file);
        let result = match out {
            Ok(o) if o.status.success() && got.is_file() => {
                std::fs::rename(&got, &deb).map_err(|e| io_err("cannot move into place", &deb, e))
            }
            Ok(o) => Err(Error(format!(
                "apt-get download {spec} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_dir_all(&tmp);
        result.map(|_| deb)
    }

    /// Downloads a package (into `cache`) and unpacks it into `cache/<deb name without .deb>/`,
    /// which is returned. Both are kept and reused.
    pub fn fetch_extract(
        &self,
        package: &str,
        arch: &str,
        release: Option<&str>,
        cache: &Path,
    ) -> Result<PathBuf> {
        let deb = self.download(package, arch, release, cache)?;
        let stem = deb.file_stem().unwrap_or_default().to_os_string();
        let dir = cache.join(stem);
        if !dir.is_dir() {
            extract(&deb, &dir)?;
        }
        Ok(dir)
    }
}

/// `dpkg-deb -x DEB DIR`, through a temporary folder so `dir` appears only when complete.
pub fn extract(deb: &Path, dir: &Path) -> Result<()> {
    let mut tmp = dir.as_os_str().to_os_string();
    tmp.push(crate::tmp_suffix());
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let out = run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tmp))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        fail!(
            "dpkg-deb -x {} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    match std::fs::rename(&tmp, dir) {
        Ok(()) => Ok(()),
        // Someone else unpacked the same package meanwhile.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => Err(io_err("cannot move into place", dir, e)),
    }
}

fn run(c: &mut Command) -> Result<Output> {
    c.output().map_err(|e| {
        Error(format!(
            "cannot run {}: {e}",
            c.get_program().to_string_lossy()
        ))
    })
}

/// One source: the fields of a deb822 stanza, in order (continuation lines kept in the value).
type Stanza = Vec<(String, String)>;

fn machine_sources() -> Result<Vec<Stanza>> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(d) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = d.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    let mut out = Vec::new();
    for f in files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !(f.file_name().is_some_and(|n| n == "sources.list")
            || ext == "list"
            || ext == "sources")
        {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&f) {
            out.extend(if ext == "sources" {
                parse_deb822(&text)
            } else {
                parse_one_line(&text)
            });
        }
    }
    if out.is_empty() {
        fail!("no apt sources found in /etc/apt (set PACKER_APT_SOURCES to a sources file)");
    }
    Ok(out)
}

fn parse_any(text: &str) -> Vec<Stanza> {
    if text
        .lines()
        .any(|l| l.starts_with("Types:") || l.starts_with("URIs:"))
    {
        parse_deb822(text)
    } else {
        parse_one_line(text)
    }
}

/// deb822 stanzas; `#` comment lines dropped, `Enabled: no` stanzas dropped.
pub(crate) fn parse_deb822(text: &str) -> Vec<Stanza> {
    let mut out = Vec::new();
    let mut cur: Stanza = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !cur.is_empty()
                && !cur
                    .iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case("Enabled") && v.trim() == "no")
            {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
        } else if line.starts_with('#') {
        } else if line.starts_with([' ', '\t']) {
            if let Some(last) = cur.last_mut() {
                last.1.push('\n');
                last.1.push_str(line);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// One-line `deb [opts] URI SUITE COMPONENT...` entries as stanzas (`signed-by` and `trusted` kept).
pub(crate) fn parse_one_line(text: &str) -> Vec<Stanza> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let mut rest = rest.trim();
        let mut st: Stanza = vec![("Types".into(), "deb".into())];
        let mut opts = Vec::new();
        if let Some(o) = rest.strip_prefix('[') {
            let Some((inner, after)) = o.split_once(']') else {
                continue;
            };
            for kv in inner.split_whitespace() {
                match kv.split_once('=') {
                    Some(("signed-by", v)) => opts.push(("Signed-By".to_string(), v.to_string())),
                    Some(("trusted", v)) => opts.push(("Trusted".to_string(), v.to_string())),
                    _ => {}
                }
            }
            rest = after.trim();
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() < 2 {
            continue;
        }
        st.push(("URIs".into(), words[0].into()));
        st.push(("Suites".into(), words[1].into()));
        if words.len() > 2 {
            st.push(("Components".into(), words[2..].join(" ")));
        }
        st.extend(opts);
        out.push(st);
    }
    out
}

fn get<'a>(st: &'a Stanza, key: &str) -> Option<&'a str> {
    st.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// The sources file we write: binary (`deb`) sources only, no `Architectures` restriction, and each
/// extra suite added to the stanzas that list its base suite (`bookworm-backports` → `bookworm`).
pub(crate) fn derive_sources(stanzas: Vec<Stanza>, extra_suites: &[String]) -> Result<String> {
    let mut kept: Vec<Stanza> = stanzas
        .into_iter()
        .filter(|st| get(st, "Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb")))
        .filter(|st| get(st, "URIs").is_some() && get(st, "Suites").is_some())
        .map(|st| {
            st.into_iter()
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case("Architectures") && !k.eq_ignore_ascii_case("Enabled")
                })
                .map(|(k, v)| {
                    if k.eq_ignore_ascii_case("Types") {
                        (k, "deb".to_string())
                    } else {
                        (k, v)
                    }
                })
                .collect()
        })
        .collect();
    if kept.is_empty() {
        fail!("the machine's apt sources have no `deb` entry to derive from");
    }
    for extra in extra_suites {
        let base = extra.split('-').next().unwrap_or(extra);
        let mut added = false;
        for st in &mut kept {
            let suites = st
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case("Suites"))
                .unwrap();
            let words: Vec<&str> = suites.1.split_whitespace().collect();
            if words.contains(&extra.as_str()) {
                added = true;
            } else if words.contains(&base) {
                suites.1.push(' ');
                suites.1.push_str(extra);
                added = true;
            }
        }
        if !added {
            fail!("no apt source lists suite {base:?} to add {extra:?} to");
        }
    }
    let mut out = String::from("# Derived by packer from the machine's apt sources.\n");
    for st in kept {
        out.push('\n');
        for (k, v) in st {
            let sep = if v.is_empty() || v.starts_with('\n') {
                ""
            } else {
                " "
            };
            out.push_str(&format!("{k}:{sep}{v}\n"));
        }
    }
    Ok(out)
}

/// The `Depends:` names of `apt-cache depends` output (`:arch` suffixes and `<virtual>` brackets removed).
pub(crate) fn parse_depends(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().trim_start_matches('|').strip_prefix("Depends:"))
        .map(|d| d.trim().trim_start_matches('<').trim_end_matches('>'))
        .map(|d| d.split(':').next().unwrap_or(d).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Architectures: amd64
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 abc
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main

Enabled: no
Types: deb
URIs: http://other.example/x
Suites: stable
Components: main
";

    #[test]
    fn derives_deb822_with_backports() {
        let out = derive_sources(parse_deb822(MACHINE), &["bookworm-backports".into()]).unwrap();
        assert_eq!(
            out,
            "# Derived by packer from the machine's apt sources.\n\n\
             Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates bookworm-backports\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
             Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\
             Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n -----END PGP PUBLIC KEY BLOCK-----\n"
        );
        // Without extra suites the suites stay as they are; an unknown base suite is an error.
        assert!(
            derive_sources(parse_deb822(MACHINE), &[])
                .unwrap()
                .contains("Suites: bookworm bookworm-updates\n")
        );
        assert!(derive_sources(parse_deb822(MACHINE), &["trixie-backports".into()]).is_err());
    }

    #[test]
    fn derives_one_line() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main contrib\n\
                    deb-src http://m.example/debian bookworm main\n\
                    deb http://m.example/debian-security bookworm-security main # trailing\n";
        let out = derive_sources(parse_any(text), &["bookworm-backports".into()]).unwrap();
        assert!(out.contains(
            "Types: deb\nURIs: http://m.example/debian\nSuites: bookworm bookworm-backports\nComponents: main contrib\nSigned-By: /k.gpg\n"
        ));
        assert!(out.contains(
            "URIs: http://m.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
        ));
        assert!(!out.contains("arch"));
        assert!(derive_sources(parse_any("deb-src http://x/ y main\n"), &[]).is_err());
    }

    #[test]
    fn depends_output() {
        let text = "linux-image-686:i386\n  Depends: linux-image-6.1.0-50-686:i386\n  Recommends: firmware\n |Depends: <virt>\n";
        assert_eq!(parse_depends(text), ["linux-image-6.1.0-50-686", "virt"]);
    }

    /// The machine's real apt: metapackages resolve for every arch, and for backports.
    #[test]
    fn resolves_kernel_metapackages() {
        let apt =
            Apt::new(crate::busybox_cache().join("apt-kernels")).extra_suite("bookworm-backports");
        for (meta, arch) in [
            ("linux-image-amd64", "amd64"),
            ("linux-image-686", "i386"),
            ("linux-image-rpi", "armel"),
        ] {
            let k = apt.resolve(meta, arch, None).unwrap();
            assert!(
                k.starts_with("linux-image-6.") && k.ends_with(&meta[12..]),
                "{meta}:{arch} -> {k}"
            );
        }
        let bpo = apt
            .resolve("linux-image-amd64", "amd64", Some("bookworm-backports"))
            .unwrap();
        let stable = apt.resolve("linux-image-amd64", "amd64", None).unwrap();
        assert!(
            bpo.starts_with("linux-image-") && bpo != stable,
            "{bpo} vs {stable}"
        );
        assert!(
            apt.download("no-such-package-packer", "amd64", None, apt.root())
                .unwrap_err()
                .0
                .contains("no-such-package-packer")
        );
    }
}
