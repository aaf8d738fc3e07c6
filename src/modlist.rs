//! The module list `/lib/modules/<kver>/load-order`: one path per line, relative to that folder, loaded
//! in order. `#` starts a comment; blank lines and surrounding whitespace are ignored.

/// A line that names no loadable module, with why: the log line is `load-order: `, the reason's
/// `text`, then `line` (the prefix is the caller's, written once).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Rejected<'a> {
    pub line: &'a [u8],
    pub reason: Reason,
}

/// Why a line was rejected: a number into `REASONS`, one register where a text is two words (and on
/// ARM an address from a literal pool at each of the four places).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
#[repr(u8)]
pub enum Reason {
    Absolute,
    OutOfFolder,
    Nul,
    NotModule,
}

/// The texts of `Reason`, in its order (see `crate::nth`).
// One line each with its `\n` written out: the texts end in a space, which an editor could strip.
const REASONS: &str = concat!(
    "an absolute path: \n",
    "a path out of the modules folder: \n",
    "a NUL byte in \n",
    "not a .ko file: \n",
);

impl Reason {
    /// The reason as the log line says it, before the line: `an absolute path: `.
    pub fn text(self) -> &'static [u8] {
        crate::nth(REASONS, self as usize)
    }
}

/// The entries of a load-order list, in order: a module path, or a line to report and skip.
#[optimize(size)]
pub fn entries(list: &[u8]) -> Entries<'_> {
    Entries { rest: list }
}

pub struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<&'a [u8], Rejected<'a>>;

    #[optimize(size)]
    // Forced inline on x86_64 only: -8 B there, measured (-16 B alone).
    #[cfg_attr(target_arch = "x86_64", inline(always))]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Leading whitespace, blank lines included, is skipped whole.
            self.rest = self.rest.trim_ascii_start();
            if self.rest.is_empty() {
                return None;
            }
            let end = self
                .rest
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(self.rest.len());
            let line = self.rest.get(..end)?;
            self.rest = self.rest.get(end + 1..).unwrap_or(&[]);
            let uncommented = line.split(|&b| b == b'#').next().unwrap_or(&[]);
            let path = uncommented.trim_ascii_end();
            if !path.is_empty() {
                return Some(check(path));
            }
        }
    }
}

#[optimize(size)]
fn check(path: &[u8]) -> Result<&[u8], Rejected<'_>> {
    let reason = if path.first() == Some(&b'/') {
        Reason::Absolute
    } else if has_parent_part(path) {
        Reason::OutOfFolder
    } else if crate::has(path, 0) {
        Reason::Nul
    } else if module_file(path).is_none() {
        Reason::NotModule
    } else {
        return Ok(path);
    };
    Err(Rejected { line: path, reason })
}

/// Whether some `/`-separated part of `path` is `..`: one pass counting the dots of each part, with no
/// splitting iterator.
#[optimize(size)]
fn has_parent_part(mut path: &[u8]) -> bool {
    // The dots of the current part so far; 3 once it holds anything else (or a third dot).
    let mut dots = 0u8;
    while let [byte, rest @ ..] = path {
        dots = match byte {
            b'/' if dots == 2 => return true,
            b'/' => 0,
            b'.' => (dots + 1).min(3),
            _ => 3,
        };
        path = rest;
    }
    dots == 2
}

/// Whether the kernel must decompress the module (`finit_module` with MODULE_INIT_COMPRESSED_FILE).
#[optimize(size)]
pub fn is_compressed(path: &[u8]) -> bool {
    module_file(path) == Some(true)
}

/// Whether `path` names a module file: `Some(false)` for `<name>.ko`, `Some(true)` for one the kernel
/// decompresses, `<name>.ko.<xz|zst|gz>`; `None` for anything else. One test for both questions.
#[optimize(size)]
fn module_file(path: &[u8]) -> Option<bool> {
    // A known compression suffix comes off (`ext` starts with its dot, or is all of a path without
    // one, so it is never the empty first entry unless the path is empty); `.ko` must end the rest.
    let dot = path.iter().rposition(|&b| b == b'.').unwrap_or(0);
    let (stem, ext) = path.split_at(dot);
    let compressed = crate::lookup(SUFFIXES.as_bytes(), ext) < SUFFIX_COUNT;
    let stem = if compressed { stem } else { path };
    // A slice pattern, not `ends_with` (on ARM an out-of-line core helper).
    matches!(stem, [.., b'.', b'k', b'o']).then_some(compressed)
}

/// The endings of a module file, each followed by a newline: none (the plain `.ko`), then those the
/// kernel decompresses. One packed string, read by `nth` and `lookup`.
pub const SUFFIXES: &str = "\n.xz\n.zst\n.gz\n";

/// How many entries `SUFFIXES` has.
pub const SUFFIX_COUNT: usize = crate::entries(SUFFIXES.as_bytes());

/// The modules the boot partition may carry, for kernels without them built in: a list in the
/// load-order format, read by `entries` as the bundle's is (each found as is or compressed). A C
/// string, so that the init passes it as one pointer.
pub const BOOT_PARTITION_MODULES: &core::ffi::CStr = c"squashfs.ko\nloop.ko\n";

/// The module the image may carry for its own kernel, in the same format.
pub const IMAGE_MODULES: &core::ffi::CStr = c"kernel/fs/overlayfs/overlay.ko\n";

// `modules::load_from` reads an empty list as "the folder's own load-order" (a bundle's).
const _: () = assert!(!BOOT_PARTITION_MODULES.is_empty() && !IMAGE_MODULES.is_empty());

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn all(list: &[u8]) -> Vec<Result<&[u8], Rejected<'_>>> {
        entries(list).collect()
    }

    #[test]
    fn finds_parent_parts_as_splitting_would() {
        let by_split = |p: &[u8]| p.split(|&b| b == b'/').any(|part| part == b"..");
        // Every path of up to five bytes from '.', '/' and 'a'.
        let mut paths: Vec<Vec<u8>> = std::vec![Vec::new()];
        let mut longest = paths.clone();
        for _ in 0..5 {
            longest = longest
                .iter()
                .flat_map(|p| b"./a".iter().map(move |&c| [&p[..], &[c]].concat()))
                .collect();
            paths.extend(longest.iter().cloned());
        }
        for p in &paths {
            assert_eq!(
                has_parent_part(p),
                by_split(p),
                "{:?}",
                std::string::String::from_utf8_lossy(p)
            );
        }
    }

    #[test]
    fn reads_paths_in_order() {
        let list = b"# built by the packer\n\
            kernel/drivers/virtio/virtio.ko\n\
            \n\
            \t kernel/fs/ext4/ext4.ko.xz  \r\n\
            kernel/fs/fat/vfat.ko.zst # for /boot\n\
            kernel/fs/squashfs/squashfs.ko.gz";
        assert_eq!(
            all(list),
            [
                Ok(&b"kernel/drivers/virtio/virtio.ko"[..]),
                Ok(b"kernel/fs/ext4/ext4.ko.xz"),
                Ok(b"kernel/fs/fat/vfat.ko.zst"),
                Ok(b"kernel/fs/squashfs/squashfs.ko.gz"),
            ]
        );
        assert!(all(b"").is_empty());
        assert!(all(b"\n\n  \n# only comments\n#x.ko\n").is_empty());
    }

    #[test]
    fn rejects_escapes_and_non_modules() {
        let rejected = |line: &'static [u8]| {
            all(line)
                .first()
                .copied()
                .and_then(Result::err)
                .map(|r| r.reason)
        };
        assert_eq!(Reason::Absolute.text(), b"an absolute path: ");
        assert_eq!(
            Reason::OutOfFolder.text(),
            b"a path out of the modules folder: "
        );
        assert_eq!(Reason::Nul.text(), b"a NUL byte in ");
        assert_eq!(Reason::NotModule.text(), b"not a .ko file: ");
        assert_eq!(rejected(b"/lib/modules/x.ko"), Some(Reason::Absolute));
        assert_eq!(rejected(b"../../etc/x.ko"), Some(Reason::OutOfFolder));
        assert_eq!(rejected(b"kernel/../../x.ko"), Some(Reason::OutOfFolder));
        assert_eq!(rejected(b"kernel/..\n"), Some(Reason::OutOfFolder));
        assert_eq!(rejected(b"a\0b.ko"), Some(Reason::Nul));
        assert_eq!(rejected(b"kernel/fs/"), Some(Reason::NotModule));
        assert_eq!(rejected(b"modules.dep"), Some(Reason::NotModule));
        assert_eq!(
            rejected(b"kernel/..ko/x.ko"),
            None,
            "'..ko' is a plain name"
        );
        // A rejected line does not stop the list.
        assert_eq!(all(b"/x.ko\ny.ko\n").get(1), Some(&Ok(&b"y.ko"[..])));
    }

    #[test]
    fn reads_the_init_s_own_lists() {
        assert_eq!(
            all(BOOT_PARTITION_MODULES.to_bytes()),
            [Ok(&b"squashfs.ko"[..]), Ok(b"loop.ko")]
        );
        assert_eq!(
            all(IMAGE_MODULES.to_bytes()),
            [Ok(&b"kernel/fs/overlayfs/overlay.ko"[..])]
        );
    }

    #[test]
    fn knows_compressed_modules() {
        assert!(is_compressed(b"a/b.ko.xz"));
        assert!(is_compressed(b"b.ko.zst"));
        assert!(is_compressed(b"b.ko.gz"));
        assert!(!is_compressed(b"b.ko"));
        assert!(!is_compressed(b"b.xz"));
        assert!(!is_compressed(b""));
        assert!(!is_compressed(b"b.ko."));
        for (path, kind) in [
            (&b"b.ko"[..], Some(false)),
            (b".ko", Some(false)),
            (b"b.ko.gz", Some(true)),
            (b"b.gz", None),
            (b".gz", None),
            (b"ko", None),
            (b"", None),
        ] {
            assert_eq!(module_file(path), kind, "{path:?}");
        }
        assert_eq!(SUFFIX_COUNT, 4);
        assert_eq!(crate::nth(SUFFIXES, 0), b"");
        assert_eq!(crate::nth(SUFFIXES, SUFFIX_COUNT - 1), b".gz");
    }

    #[test]
    fn finds_paths_as_splitting_would() {
        // Each line cut at its `#` and trimmed; blank results skipped.
        let by_split = |list: &[u8]| -> Vec<Vec<u8>> {
            list.split(|&b| b == b'\n')
                .map(|line| line.split(|&b| b == b'#').next().unwrap().trim_ascii())
                .filter(|path| !path.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        };
        let mut x = 0x9E37_79B9u32;
        for len in 0..2000 {
            let list: Vec<u8> = (0..len % 40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    b" \t\n\r\x0b\x0c#a.ko/"[(x % 12) as usize]
                })
                .collect();
            let found: Vec<Vec<u8>> = entries(&list)
                .map(|e| e.unwrap_or_else(|r| r.line).to_vec())
                .collect();
            assert_eq!(found, by_split(&list), "{list:?}");
        }
    }

    #[test]
    fn survives_garbage() {
        let mut garbage = Vec::new();
        for i in 0..4096u32 {
            garbage.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
        }
        for end in (0..garbage.len()).step_by(97) {
            for entry in entries(&garbage[..end]) {
                let line = entry.unwrap_or_else(|r| r.line);
                assert!(!line.contains(&b'\n') && !line.is_empty());
            }
        }
    }
}
