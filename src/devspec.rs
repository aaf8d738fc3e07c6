//! Which block device the user means (`LABEL=x`, `UUID=x`, `PARTUUID=x`, `PARTLABEL=x`, `/dev/NAME`, or a
//! bare label), and whether a probed device is that one. Identities are compared as the text `blkid`
//! prints, so the hex formatting of every UUID kind lives here, written once.

/// A device spec from the kernel command line.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum Spec<'a> {
    Label(&'a [u8]),
    Uuid(&'a [u8]),
    PartUuid(&'a [u8]),
    PartLabel(&'a [u8]),
    /// `/dev/NAME`: the NAME.
    Path(&'a [u8]),
}

/// The prefixes of the spec kinds, in the order of `Spec`'s variants, each ended by a newline (the
/// table format of `crate::nth`: no pointer and length per entry).
const TAGS: &str = "LABEL=\nUUID=\nPARTUUID=\nPARTLABEL=\n/dev/\n";

/// Parses a spec. `None` for an empty value, an unknown `TAG=` (a typo would otherwise wait for a label
/// that never appears), or a path that is not a plain `/dev/NAME` (there is no udev, so no
/// `/dev/disk/by-*` links).
pub fn parse(value: &[u8]) -> Option<Spec<'_>> {
    let spec = if let Some(name) = value.strip_prefix(b"/dev/") {
        if crate::has(name, b'/') {
            return None;
        }
        Spec::Path(name)
    } else if let Some(eq) = value.iter().position(|&b| b == b'=') {
        // The tag through its '=', as `TAGS` spells it (so never `/dev/`); the value may itself
        // hold '='.
        let (tag, v) = value.split_at_checked(eq + 1)?;
        let v = unquote(v);
        match crate::lookup(TAGS.as_bytes(), tag) {
            LABEL => Spec::Label(v),
            UUID => Spec::Uuid(v),
            PARTUUID => Spec::PartUuid(v),
            PARTLABEL => Spec::PartLabel(v),
            _ => return None,
        }
    } else if value.first() == Some(&b'/') {
        return None;
    } else {
        Spec::Label(value)
    };
    // Every variant needs a non-empty value after its tag (or after "/dev/").
    (!spec.value().is_empty()).then_some(spec)
}

/// `TAG="a b"` means `TAG=a b`, as for blkid (the kernel keeps quotes that do not start the value).
fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

/// What was probed on one block device: one text per spec kind, at the index `Spec::kind` gives; empty
/// where the device has no such identity. A spec's value is never empty (`parse` refuses it), so an
/// empty text matches nothing.
pub type Identity<'a> = [&'a [u8]; KINDS];

/// How many kinds of spec there are, and each one's index in an `Identity`.
pub const KINDS: usize = 5;
pub const LABEL: usize = 0;
/// The filesystem UUID as text (ext4: 36 characters; vfat: `ABCD-EF01`).
pub const UUID: usize = 1;
pub const PARTUUID: usize = 2;
pub const PARTLABEL: usize = 3;
/// The kernel name, e.g. `vda1` or `mmcblk0p2`.
pub const DEV_NAME: usize = 4;

impl<'a> Spec<'a> {
    /// The value after the tag (for a path, the device name after `/dev/`).
    fn value(&self) -> &'a [u8] {
        match *self {
            Spec::Label(v)
            | Spec::Uuid(v)
            | Spec::PartUuid(v)
            | Spec::PartLabel(v)
            | Spec::Path(v) => v,
        }
    }

    /// Which identity this spec names: its index in an `Identity`.
    pub fn kind(&self) -> usize {
        match *self {
            Spec::Label(_) => LABEL,
            Spec::Uuid(_) => UUID,
            Spec::PartUuid(_) => PARTUUID,
            Spec::PartLabel(_) => PARTLABEL,
            Spec::Path(_) => DEV_NAME,
        }
    }

    /// Whether the probed device is the one this spec names. UUIDs are hex, so their case is ignored;
    /// labels are compared exactly, as blkid does.
    pub fn matches(&self, id: &Identity) -> bool {
        let kind = self.kind();
        let fold_case = kind == UUID || kind == PARTUUID;
        id.get(kind)
            .is_some_and(|have| same(have, self.value(), fold_case))
    }

    /// The spec as the user wrote it, in two parts for a log line: `("LABEL=", b"img")`.
    pub fn describe(&self) -> (&'static [u8], &'a [u8]) {
        (crate::nth(TAGS, self.kind()), self.value())
    }
}

/// Byte equality, ASCII case-insensitive with `fold_case`: one plain loop for every kind of spec
/// (`eq_ignore_ascii_case` in core is larger, and `==` on slices is a memcmp call per site).
fn same(a: &[u8], b: &[u8], fold_case: bool) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| x == y || fold_case && x ^ y == 0x20 && (x | 0x20).is_ascii_lowercase())
}

/// A short text built without allocation, e.g. a UUID in the form blkid prints it.
#[derive(Clone, Copy)]
pub struct Text<const N: usize> {
    bytes: [u8; N],
    /// A `u32`: shorter instructions on x86_64 than a `usize`, and every `N` here is small.
    len: u32,
}

/// Every identity text has this one type, so that its methods exist once in the binary. 108 bytes hold
/// the longest: a GPT name of 36 UTF-16 units in UTF-8 (a UUID needs 36).
pub type IdText = Text<108>;

impl<const N: usize> Text<N> {
    #[inline(never)]
    pub const fn new() -> Self {
        Text {
            bytes: [0; N],
            len: 0,
        }
    }

    #[inline(never)]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .split_at_checked(self.len as usize)
            .map_or(&[], |(text, _)| text)
    }

    /// Empties the text.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `b` if it fits; callers size `N` for the longest possible text, so nothing is ever cut.
    // Out of line on ARM: measured 8 B smaller there.
    #[cfg_attr(target_arch = "arm", inline(never))]
    pub fn push_byte(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len as usize) {
            *slot = b;
            self.len += 1;
        }
    }
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// How `IdText::push_hex` writes an identity's bytes: a dash after byte `i` where bit `i` of `dashes` is set,
/// and `ten`, the digit written for ten: `b'a'` or `b'A'` (the case of every hex letter).
#[derive(Clone, Copy)]
pub struct HexForm {
    pub dashes: u32,
    pub ten: u8,
}

/// A UUID: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub const UUID_FORM: HexForm = HexForm {
    dashes: 1 << 3 | 1 << 5 | 1 << 7 | 1 << 9,
    ten: b'a',
};

impl IdText {
    /// Appends `bytes` as hex in `form`: the one formatter behind every UUID kind (ext4, GPT, MBR
    /// `SSSSSSSS-PP`, vfat `ABCD-EF01`). What does not fit is cut. Into the caller's text, not
    /// returned: a returned text was built in a local copy and copied out.
    pub fn push_hex(&mut self, mut bytes: &[u8], form: HexForm) {
        let letters = form.ten - 10;
        let mut dashes = form.dashes;
        let digit = |nibble: u8| nibble + if nibble < 10 { b'0' } else { letters };
        // A slice pattern, not a byte iterator (on ARM that is an out-of-line core helper).
        while let [b, rest @ ..] = bytes {
            bytes = rest;
            // The byte's two digits and its dash, if any, queued lowest first in one word (none of
            // them is 0): one append site, not three.
            let mut queued = u32::from(digit(b >> 4))
                | u32::from(digit(b & 15)) << 8
                | ((dashes & 1) * u32::from(b'-')) << 16;
            while queued != 0 {
                self.push_byte(queued as u8);
                queued >>= 8;
            }
            dashes >>= 1;
        }
    }
}

/// `bytes` as hex in `form` (see `IdText::push_hex`), as a text of its own.
pub fn hex_text(bytes: &[u8], form: HexForm) -> IdText {
    let mut text = IdText::new();
    text.push_hex(bytes, form);
    text
}

/// A UUID stored in RFC 4122 byte order (ext4) as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn uuid_text(uuid: &[u8; 16]) -> IdText {
    hex_text(uuid, UUID_FORM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spec_kind() {
        assert_eq!(parse(b"LABEL=img"), Some(Spec::Label(b"img")));
        assert_eq!(parse(b"UUID=abc"), Some(Spec::Uuid(b"abc")));
        assert_eq!(
            parse(b"PARTUUID=1234abcd-02"),
            Some(Spec::PartUuid(b"1234abcd-02"))
        );
        assert_eq!(parse(b"PARTLABEL=root a"), Some(Spec::PartLabel(b"root a")));
        assert_eq!(parse(b"/dev/vda1"), Some(Spec::Path(b"vda1")));
        assert_eq!(parse(b"img"), Some(Spec::Label(b"img")));
        // The value may itself hold '=' after a known tag.
        assert_eq!(parse(b"LABEL=a=b"), Some(Spec::Label(b"a=b")));
        // Quotes around a tag's value are dropped, as blkid does; a lone quote is kept.
        assert_eq!(
            parse(b"PARTLABEL=\"EFI system\""),
            Some(Spec::PartLabel(b"EFI system"))
        );
        assert_eq!(parse(b"LABEL=\""), Some(Spec::Label(b"\"")));
        assert_eq!(parse(b"LABEL=\"\""), None);
    }

    #[test]
    fn rejects_empty_unknown_and_nested() {
        for bad in [
            &b""[..],
            b"LABEL=",
            b"UUID=",
            b"PARTUUID=",
            b"PARTLABEL=",
            b"/dev/",
            b"/dev/disk/by-label/img",
            b"/sbin/init",
            b"/",
            b"label=img",
            b"FOO=bar",
            b"=",
        ] {
            assert_eq!(
                parse(bad),
                None,
                "{:?}",
                std::string::String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn describes_as_written() {
        for text in [
            &b"LABEL=img"[..],
            b"UUID=x",
            b"PARTUUID=y",
            b"PARTLABEL=z",
            b"/dev/sda2",
        ] {
            let (tag, value) = parse(text).unwrap().describe();
            assert_eq!([tag, value].concat(), text);
        }
        assert_eq!(
            parse(b"bare").unwrap().describe(),
            (&b"LABEL="[..], &b"bare"[..])
        );
    }

    #[test]
    fn matches_identities() {
        let mut id: Identity = [b""; KINDS];
        id[DEV_NAME] = b"vda1";
        id[LABEL] = b"img";
        id[UUID] = b"0a1b2c3d-0000-4000-8000-00000000abcd";
        id[PARTUUID] = b"1234abcd-01";
        id[PARTLABEL] = b"Root";
        assert!(parse(b"LABEL=img").unwrap().matches(&id));
        assert!(parse(b"img").unwrap().matches(&id));
        assert!(
            !parse(b"LABEL=IMG").unwrap().matches(&id),
            "labels are case-sensitive"
        );
        assert!(
            parse(b"UUID=0A1B2C3D-0000-4000-8000-00000000ABCD")
                .unwrap()
                .matches(&id)
        );
        assert!(!parse(b"UUID=0a1b2c3d").unwrap().matches(&id));
        assert!(parse(b"PARTUUID=1234ABCD-01").unwrap().matches(&id));
        assert!(parse(b"PARTLABEL=Root").unwrap().matches(&id));
        assert!(!parse(b"PARTLABEL=root").unwrap().matches(&id));
        assert!(parse(b"/dev/vda1").unwrap().matches(&id));
        assert!(!parse(b"/dev/vda").unwrap().matches(&id));
        assert!(!parse(b"/dev/vda10").unwrap().matches(&id));
        // A device with nothing probed matches only by path.
        let mut bare: Identity = [b""; KINDS];
        bare[DEV_NAME] = b"sda";
        assert!(!parse(b"LABEL=img").unwrap().matches(&bare));
        assert!(!parse(b"UUID=x").unwrap().matches(&bare));
        assert!(!parse(b"PARTUUID=x").unwrap().matches(&bare));
        assert!(!parse(b"PARTLABEL=x").unwrap().matches(&bare));
        assert!(parse(b"/dev/sda").unwrap().matches(&bare));
        // An empty identity is none: only a spec with an empty value could match it, and parse
        // refuses those.
        assert!(!Spec::Label(b"x").matches(&[b""; KINDS]));
    }

    #[test]
    fn formats_hex_groups() {
        let form = |dashes, upper| HexForm {
            dashes,
            ten: if upper { b'A' } else { b'a' },
        };
        let uuid = [
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10,
        ];
        assert_eq!(
            uuid_text(&uuid).as_bytes(),
            b"01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(
            hex_text(&[0xab, 0xcd, 0x0f, 0x91], form(1 << 1, true)).as_bytes(),
            b"ABCD-0F91"
        );
        assert_eq!(
            hex_text(&[0x1a, 2], form(1 << 0 | 1 << 1, false)).as_bytes(),
            b"1a-02-"
        );
        // Dashes beyond the bytes are never written; a text longer than an IdText is cut.
        assert_eq!(hex_text(&[1], form(1 << 3, false)).as_bytes(), b"01");
        assert_eq!(hex_text(&[], UUID_FORM).as_bytes(), b"");
        assert_eq!(
            hex_text(&[0xff; 30], form(u32::MAX, false)).as_bytes(),
            &b"ff-".repeat(30)[..]
        );
        assert_eq!(
            hex_text(&[0xff; 60], form(0, false)).as_bytes(),
            &b"ff".repeat(60)[..108]
        );
    }

    /// The whole probe of a real GPT disk: partition table, then the filesystem in each partition.
    #[test]
    fn probes_a_real_disk_end_to_end() {
        use super::test_images::{Scratch, read_at, run, sparse};
        use crate::{ext4, partitions, vfat};
        let dir = Scratch::new("e2e");
        let disk = dir.file("disk.img");
        let path = disk.to_str().unwrap();
        sparse(&disk, 40 << 20);
        let table = "label: gpt\n\
            start=2048, size=16MiB, name=os, uuid=6e1f0d2c-1111-4222-8333-944455556666\n\
            start=34816, size=16MiB, name=\"EFI system\"\n";
        run("sfdisk", &["-q", path], table);
        let uuid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        run(
            "mke2fs",
            &[
                "-q",
                "-F",
                "-t",
                "ext4",
                "-L",
                "img",
                "-U",
                uuid,
                "-E",
                "offset=1048576",
                path,
                "16M",
            ],
            "",
        );
        run(
            "mkfs.vfat",
            &[
                "--offset", "34816", "-n", "BOOT", "-i", "c0ffee42", path, "16384",
            ],
            "",
        );

        let head = read_at(&disk, 0, partitions::HEAD_LEN);
        let mut os = partitions::Partition::EMPTY;
        partitions::find(&head, partitions::SECTOR, 1, &mut os).unwrap();
        let sb = read_at(
            &disk,
            (1 << 20) + ext4::SUPERBLOCK_OFFSET,
            ext4::SUPERBLOCK_NEEDED,
        );
        let fs = ext4::parse(&sb).unwrap();
        let fs_uuid = ext4::uuid_text(&fs);
        let mut vda1: Identity = [b""; KINDS];
        vda1[DEV_NAME] = b"vda1";
        vda1[LABEL] = fs.label;
        vda1[UUID] = fs_uuid.as_bytes();
        vda1[PARTUUID] = os.uuid.as_bytes();
        vda1[PARTLABEL] = os.label.as_bytes();
        let mut esp = partitions::Partition::EMPTY;
        partitions::find(&head, partitions::SECTOR, 2, &mut esp).unwrap();
        let boot_offset = 34816 * 512;
        let boot_sector = read_at(&disk, boot_offset, vfat::BOOT_SECTOR_LEN);
        let boot = vfat::parse(&boot_sector).unwrap();
        let root_dir = read_at(
            &disk,
            boot_offset + boot.root_dir.offset,
            boot.root_dir.len as usize,
        );
        let serial = vfat::serial_text(boot.serial.unwrap());
        let mut vda2: Identity = [b""; KINDS];
        vda2[DEV_NAME] = b"vda2";
        vda2[LABEL] = vfat::label(&boot, vfat::volume_label(&root_dir));
        vda2[UUID] = serial.as_bytes();
        vda2[PARTUUID] = esp.uuid.as_bytes();
        vda2[PARTLABEL] = esp.label.as_bytes();
        let which = |spec: &[u8]| {
            let spec = parse(spec).unwrap();
            [&vda1, &vda2]
                .iter()
                .position(|id| spec.matches(id))
                .map(|i| i + 1)
        };
        assert_eq!(which(b"LABEL=img"), Some(1));
        assert_eq!(which(b"UUID=0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"), Some(1));
        assert_eq!(
            which(b"PARTUUID=6e1f0d2c-1111-4222-8333-944455556666"),
            Some(1)
        );
        assert_eq!(which(b"PARTLABEL=os"), Some(1));
        assert_eq!(which(b"BOOT"), Some(2));
        assert_eq!(which(b"UUID=c0ff-ee42"), Some(2));
        assert_eq!(which(b"PARTLABEL=\"EFI system\""), Some(2));
        assert_eq!(which(b"/dev/vda2"), Some(2));
        assert_eq!(which(b"LABEL=overlay"), None);
    }

    #[test]
    fn text_never_overflows() {
        let mut t = Text::<3>::new();
        for &b in b"abcdef" {
            t.push_byte(b);
        }
        assert_eq!(t.as_bytes(), b"abc");
    }
}

/// Shared by the parser tests: real images made by the real tools in a scratch folder. A missing tool
/// fails the test with a message; it never skips.
#[cfg(test)]
pub(crate) mod test_images {
    use std::format;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    /// A scratch folder removed on drop.
    pub struct Scratch(PathBuf);

    impl Scratch {
        pub fn new(name: &str) -> Scratch {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("iovl-parsers-{}-{name}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch folder");
            Scratch(dir)
        }

        pub fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Runs `tool` (also looked up in the sbin folders, which a non-root PATH lacks) and returns stdout.
    pub fn run(tool: &str, args: &[&str], stdin: &str) -> String {
        let found = ["", "/usr/sbin/", "/sbin/"]
            .iter()
            .map(|dir| format!("{dir}{tool}"))
            .find(|p| !p.contains('/') && which(p) || Path::new(p).is_file())
            .unwrap_or_else(|| {
                panic!("`{tool}` is needed by this test and is not installed (see .ci/setup)")
            });
        let mut child = Command::new(&found)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{tool}`: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "`{tool} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn which(tool: &str) -> bool {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
    }

    /// `blkid -p` (low-level probe, no cache) of one tag, for cross-checking our parsers.
    pub fn blkid(image: &Path, tag: &str) -> String {
        run(
            "blkid",
            &["-p", "-o", "value", "-s", tag, image.to_str().unwrap()],
            "",
        )
        .trim_end()
        .into()
    }

    pub fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
        let mut file = std::fs::File::open(path).unwrap();
        file.seek(SeekFrom::Start(offset)).unwrap();
        let mut buf = vec![0; len];
        let n = file.read(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    /// A sparse file of `len` bytes.
    pub fn sparse(path: &Path, len: u64) {
        std::fs::File::create(path).unwrap().set_len(len).unwrap();
    }

    /// Every prefix-truncation and a set of single-byte corruptions must not panic; returns nothing,
    /// the point is to run the parser on them.
    pub fn mangled(image: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
        let truncated = (0..image.len()).step_by(7).map(|n| image[..n].to_vec());
        let corrupted = (0..image.len()).step_by(3).flat_map(move |i| {
            [0x00u8, 0xff, 0x80].map(|v| {
                let mut copy = image.to_vec();
                copy[i] = v;
                copy
            })
        });
        truncated.chain(corrupted)
    }
}
