//! The kernel command line (`/proc/cmdline`): the kernel options we honour and our own `iovl.*` ones.
//! It is split the way the kernel's `next_arg` splits it, so we see the same parameters the kernel saw.

use crate::devspec::{self, Spec};
use crate::log::Log;
use crate::numfmt::parse_dec;

/// How long to wait for the required partitions, in milliseconds; `Wait::FOREVER` for `rootwait`. A
/// plain number, no enum tag: the search compares what it waited with `ms`, and never reaches FOREVER.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Wait {
    pub ms: u64,
}

impl Wait {
    /// Beyond any number of seconds `iovl.wait=` takes (`seconds_ms` keeps below 2^54 s).
    pub const FOREVER: Wait = Wait { ms: u64::MAX };
}

/// What to do after a fatal error.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum FailAction {
    /// Exit PID 1, so the kernel panics and `panic=N` can reboot.
    Panic,
    Reboot,
    Poweroff,
    Halt,
}

#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
// In this order (repr(C)): the one-byte fields first, then the often used image name and specs, so
// that in the boot's frame they sit within a short offset of the stack pointer, not past the specs.
// The four flags of `iovl.<flag>` stay together in the parser's order (its stores compute the address).
#[repr(C)]
pub struct Config<'a> {
    pub onerror: FailAction,
    pub rw: bool,
    pub quiet: bool,
    pub keep_upper: bool,
    pub no_persistent: bool,
    pub no_overlay: bool,
    pub noshell: bool,
    /// The image file name on `img` and `newimg`: a plain name, never a path.
    pub image: &'a [u8],
    /// How to find each partition, by role (see `role`; `iovl.img=` and so on). An array, so the
    /// parser stores and the search reads them by index.
    pub specs: [Spec<'a>; role::COUNT],
    /// The real init, an absolute path.
    pub init: &'a [u8],
    pub wait: Wait,
    pub rootdelay_ms: u64,
}

/// The partition roles, in their fixed order: indices into `Config::specs` and the boot's partitions.
pub mod role {
    pub const IMG: usize = 0;
    pub const OVERLAY: usize = 1;
    pub const BOOT: usize = 2;
    pub const NEWIMG: usize = 3;
    pub const COUNT: usize = 4;
    /// Their names, in that order: the default labels, and how messages name the partitions. The
    /// bytes of C strings, which the linker stores as the end of a longer one when it can (`overlay`
    /// of `/run/initramfs-overlay/overlay`, `img` of `newimg`), where a
    /// byte string gets bytes of its own.
    pub const NAMES: [&[u8]; COUNT] = [
        c"img".to_bytes(),
        c"overlay".to_bytes(),
        c"boot".to_bytes(),
        c"newimg".to_bytes(),
    ];
}

impl Config<'_> {
    /// The defaults the README documents.
    pub const DEFAULT: Config<'static> = Config {
        init: b"/sbin/init",
        rw: false,
        quiet: false,
        wait: Wait { ms: 10_000 },
        rootdelay_ms: 0,
        specs: [
            Spec::Label(role::NAMES[role::IMG]),
            Spec::Label(role::NAMES[role::OVERLAY]),
            Spec::Label(role::NAMES[role::BOOT]),
            Spec::Label(role::NAMES[role::NEWIMG]),
        ],
        image: b"root-squashfs.img",
        onerror: FailAction::Panic,
        keep_upper: false,
        no_persistent: false,
        no_overlay: false,
        noshell: false,
    };
}

/// A malformed option: which one (the parameter name as written) and what is wrong with its value.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Error<'a> {
    pub option: &'a [u8],
    pub problem: &'static [u8],
    /// The failure action the rest of the line asks for, so even this error honours `iovl.onerror`.
    pub onerror: FailAction,
}

/// Parses the command line. Unknown `iovl.` options are logged as warnings; other unknown parameters
/// belong to the kernel or to the real init and are ignored. Parameters after `--` are the init's
/// arguments, not options, as for the kernel.
#[optimize(size)]
pub fn parse<'a>(cmdline: &'a [u8], log: &mut dyn Log) -> Result<Config<'a>, Error<'a>> {
    let mut config = Config::DEFAULT;
    parse_into(cmdline, &mut config, log).map(|()| config)
}

/// `parse` into `config`, which starts as the defaults: the init fills its config in place, since each
/// move of a `Config` (out of a `Result`, out of a function) is a copy.
#[optimize(size)]
pub fn parse_into<'a>(
    cmdline: &'a [u8],
    config: &mut Config<'a>,
    log: &mut dyn Log,
) -> Result<(), Error<'a>> {
    // The first malformed option is the error; the rest are still read for `iovl.onerror`.
    let mut first_error = None;
    for (name, value) in params(cmdline) {
        if value.is_none() && name == b"--" {
            break;
        }
        if let Err(problem) = apply(config, name, value, log)
            && first_error.is_none()
        {
            first_error = Some((name, problem));
        }
    }
    match first_error {
        None => Ok(()),
        Some((option, problem)) => Err(Error {
            option,
            problem: crate::nth(PROBLEMS, problem as usize),
            onerror: config.onerror,
        }),
    }
}

/// The options we read: the kernel's as their index in `KERNEL_OPTION_NAMES`, our own `iovl.` ones as
/// `OWN` plus their index in `OWN_OPTION_NAMES`. One table lookup instead of a `match` on byte strings,
/// which compiles to a byte-by-byte comparison per pattern. Options handled alike are neighbours:
/// `apply`'s `match` then tests one range per group. (The order within is measured: `ro` and `rw`
/// first compiled smallest.)
mod opt {
    pub const RO: usize = 0;
    pub const RW: usize = 1;
    pub const INIT: usize = 2;
    pub const QUIET: usize = 3;
    pub const ROOT_WAIT: usize = 4;
    pub const ROOT_DELAY: usize = 5;
    /// The first of our own options, after the kernel's.
    pub const OWN: usize = 6;
    pub const WAIT: usize = 6;
    pub const IMAGE: usize = 7;
    pub const ON_ERROR: usize = 8;
    /// `iovl.img` through `iovl.newimg`, the four partition specs in the order of the roles.
    pub const IMG: usize = 9;
    pub const NEW_IMG: usize = 12;
    pub const KEEP_UPPER: usize = 13;
    pub const NO_PERSISTENT: usize = 14;
    pub const NO_OVERLAY: usize = 15;
    // 16, the last: iovl.noshell.
}

/// The option names, each followed by a newline, in the order of `opt`: packed strings instead of a
/// table of slices (16 bytes of pointer and length per entry on 64-bit); ours without their `iovl.`.
const KERNEL_OPTION_NAMES: &[u8] = b"ro\nrw\ninit\nquiet\nrootwait\nrootdelay\n";
/// How many own options there are.
const OWN_OPTIONS: usize = crate::entries(OWN_OPTION_NAMES);
const OWN_OPTION_NAMES: &[u8] = b"wait\nimage\nonerror\nimg\noverlay\nboot\nnewimg\nkeep-upper\n\
    no-persistent\nno-overlay\nnoshell\n";

/// The `iovl.onerror=` words in the order of the enum: read by `lookup` when
/// parsing and by `nth` for messages.
const FAIL_ACTION_NAMES: &str = "panic\nreboot\npoweroff\nhalt\n";

impl FailAction {
    /// The name as `iovl.onerror=` spells it, for messages.
    #[optimize(size)]
    pub fn name(self) -> &'static [u8] {
        crate::nth(FAIL_ACTION_NAMES, self as usize)
    }
}

/// What is wrong with an option's value; `PROBLEMS` has the words, in this order.
#[derive(Clone, Copy)]
enum Problem {
    NeedsValue,
    NotAbsolute,
    NotSeconds,
    NotSpec,
    NotFileName,
    NotAction,
    TakesNoValue,
}

const PROBLEMS: &str = "needs a value
must be an absolute path
is not a number of seconds
is not a device spec (LABEL=, UUID=, PARTUUID=, PARTLABEL=, /dev/NAME)
must be a file name, not a path
must be panic, reboot, poweroff or halt
takes no value
";

#[optimize(size)]
// Out of line (measured smaller): inlined into `boot`, every store into the config is a long
// reference into boot's large frame.
#[inline(never)]
fn apply<'a>(
    config: &mut Config<'a>,
    name: &'a [u8],
    value: Option<&'a [u8]>,
    log: &mut dyn Log,
) -> Result<(), Problem> {
    let opt = match lookup_option(name) {
        Ok(opt) => opt,
        // Other unknown parameters belong to the kernel or the real init.
        Err(ours) => {
            if ours {
                log.unknown_option(name);
            }
            return Ok(());
        }
    };
    // `quiet` takes any value or none; the other options are read in two groups, without a value
    // and with one, so each tests for the value once.
    if opt == opt::QUIET {
        config.quiet = true;
        return Ok(());
    }
    let Some(value) = value else {
        match opt {
            opt::RO | opt::RW => config.rw = opt == opt::RW,
            opt::ROOT_WAIT => config.wait = Wait::FOREVER,
            // KEEP_UPPER and after: the flags (`lookup_option` gives no index beyond them).
            opt::KEEP_UPPER.. => {
                *match opt {
                    opt::KEEP_UPPER => &mut config.keep_upper,
                    opt::NO_PERSISTENT => &mut config.no_persistent,
                    opt::NO_OVERLAY => &mut config.no_overlay,
                    _ => &mut config.noshell,
                } = true
            }
            _ => return Err(Problem::NeedsValue),
        }
        return Ok(());
    };
    match opt {
        opt::INIT => {
            if value.first() != Some(&b'/') {
                return Err(Problem::NotAbsolute);
            }
            config.init = value;
        }
        // As the kernel: it ignores `ro=x` and `rw=x`.
        opt::RO | opt::RW => {}
        opt::ROOT_WAIT | opt::WAIT | opt::ROOT_DELAY => {
            *if opt == opt::ROOT_DELAY {
                &mut config.rootdelay_ms
            } else {
                &mut config.wait.ms
            } = seconds_ms(value)?;
        }
        opt::IMG..=opt::NEW_IMG => {
            let Some(spec) = devspec::parse(value) else {
                return Err(Problem::NotSpec);
            };
            if let Some(slot) = config.specs.get_mut(opt - opt::IMG) {
                *slot = spec;
            }
        }
        opt::IMAGE => config.image = file_name(value)?,
        opt::ON_ERROR => {
            config.onerror = match crate::lookup(FAIL_ACTION_NAMES.as_bytes(), value) {
                0 => FailAction::Panic,
                1 => FailAction::Reboot,
                2 => FailAction::Poweroff,
                3 => FailAction::Halt,
                _ => return Err(Problem::NotAction),
            }
        }
        _ => return Err(Problem::TakesNoValue),
    }
    Ok(())
}

/// The `opt` index of the option `name`. For an unknown option, `Err(ours)`: whether it is one of
/// ours (`iovl.`), which earns a warning. Ours are looked up without their prefix.
#[optimize(size)]
fn lookup_option(name: &[u8]) -> Result<usize, bool> {
    let (names, count, key, first) = match name.strip_prefix(b"iovl.") {
        Some(own) => (OWN_OPTION_NAMES, OWN_OPTIONS, own, opt::OWN),
        None => (KERNEL_OPTION_NAMES, opt::OWN, name, 0),
    };
    let index = crate::lookup(names, key);
    if index < count {
        Ok(first + index)
    } else {
        Err(first == opt::OWN)
    }
}

#[optimize(size)]
fn seconds_ms(value: &[u8]) -> Result<u64, Problem> {
    // Below 2^54 seconds (570 million years), so that the milliseconds fit with room to spare: one
    // test of the high word on 32-bit targets, not a 64-bit compare with `u64::MAX / 1000`. Tested
    // first, not `checked_mul`, whose overflow test costs ARM a second 64-bit multiply.
    parse_dec(value)
        .filter(|&s| s >> 54 == 0)
        .map(|s| s * 1000)
        .ok_or(Problem::NotSeconds)
}

#[optimize(size)]
fn file_name(value: &[u8]) -> Result<&[u8], Problem> {
    // No limit: the update checks its own (a NUL ends the command line, so none is found here).
    if crate::bad_file_name(value, usize::MAX) {
        Err(Problem::NotFileName)
    } else {
        Ok(value)
    }
}

/// The kernel's `isspace`, which counts Latin-1 NBSP (0xA0) too.
#[optimize(size)]
// Out of line but on i686, where inlined at its two uses it measured 12 B smaller.
#[cfg_attr(target_arch = "x86", inline(always))]
#[cfg_attr(not(target_arch = "x86"), inline(never))]
fn is_space(b: u8) -> bool {
    // ' ' and 0xA0 differ only in the top bit; '\t', '\n', 0x0B, 0x0C and '\r' are 9 through 13.
    b & 0x7F == b' ' || (9..=13).contains(&b)
}

/// The parameters as `(name, value)`, split as the kernel's `next_arg` does: whitespace separates them
/// unless inside double quotes; `name="a b"` and `"name=a b"` both give the value `a b`. A NUL ends it.
/// One difference: an `=` as a parameter's first byte separates here (`=a=b`: an empty name and the
/// value `a=b`), where the kernel looks for one after it (`=a` and `b`). No option of ours begins
/// with `=`, and following the kernel there measured 56 / 88 / 24 B larger.
#[optimize(size)]
pub fn params<'a>(cmdline: &'a [u8]) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> {
    let mut rest = cmdline.split(|&b| b == 0).next().unwrap_or(&[]);
    core::iter::from_fn(move || {
        let start = rest.iter().position(|&b| !is_space(b))?;
        let arg = rest.get(start..)?;
        // A quote opening the parameter is dropped, and the parameter starts inside it (as in the
        // kernel): inside double quotes a space does not end it.
        let (quoted, arg) = match arg {
            [b'"', inner @ ..] => (true, inner),
            _ => (false, arg),
        };
        let mut in_quote = quoted;
        let end = arg
            .iter()
            .position(|&b| {
                in_quote ^= b == b'"';
                is_space(b) && !in_quote
            })
            .unwrap_or(arg.len());
        let (arg, tail) = arg.split_at_checked(end)?;
        rest = tail;
        let (name, value) = match arg.iter().position(|&b| b == b'=') {
            Some(eq) => (arg.get(..eq)?, arg.get(eq + 1..)),
            None => (arg, None),
        };
        // A quote opening the value is dropped too, and so is one closing the parameter.
        let (value_quoted, value) = match value {
            Some([b'"', inner @ ..]) => (true, Some(inner)),
            value => (false, value),
        };
        let unquote = |s: &'a [u8]| match s {
            [inner @ .., b'"'] if quoted || value_quoted => inner,
            _ => s,
        };
        Some(match value {
            None => (unquote(name), None),
            Some(value) => (name, Some(unquote(value))),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Level;
    use std::string::String;
    use std::vec::Vec;

    #[derive(Default)]
    struct Captured(Vec<(Level, String)>);

    impl Log for Captured {
        fn line(&mut self, level: Level, parts: &[&[u8]]) {
            self.0
                .push((level, String::from_utf8_lossy(&parts.concat()).into_owned()));
        }
    }

    fn ok(cmdline: &str) -> Config<'_> {
        parse(cmdline.as_bytes(), &mut Captured::default())
            .unwrap_or_else(|e| panic!("{cmdline}: {e:?}"))
    }

    fn err(cmdline: &str) -> (String, &'static str) {
        let e = parse(cmdline.as_bytes(), &mut Captured::default()).expect_err(cmdline);
        let problem = core::str::from_utf8(e.problem).unwrap();
        (String::from_utf8(e.option.to_vec()).unwrap(), problem)
    }

    fn split(cmdline: &str) -> Vec<(&str, Option<&str>)> {
        fn text(b: &[u8]) -> &str {
            core::str::from_utf8(b).unwrap()
        }
        params(cmdline.as_bytes())
            .map(|(n, v)| (text(n), v.map(text)))
            .collect()
    }

    #[test]
    fn every_problem_has_its_text() {
        assert_eq!(PROBLEMS.lines().count(), Problem::TakesNoValue as usize + 1);
        assert_eq!(
            crate::nth(PROBLEMS, Problem::NotSeconds as usize),
            b"is not a number of seconds"
        );
    }

    #[test]
    fn option_indices_name_their_options() {
        for (name, index) in [
            ("init", opt::INIT),
            ("iovl.image", opt::IMAGE),
            ("iovl.onerror", opt::ON_ERROR),
            ("quiet", opt::QUIET),
            ("ro", opt::RO),
            ("rw", opt::RW),
            ("rootwait", opt::ROOT_WAIT),
            ("iovl.wait", opt::WAIT),
            ("rootdelay", opt::ROOT_DELAY),
            ("iovl.img", opt::IMG),
            ("iovl.newimg", opt::NEW_IMG),
            ("iovl.keep-upper", opt::KEEP_UPPER),
            ("iovl.no-persistent", opt::NO_PERSISTENT),
            ("iovl.no-overlay", opt::NO_OVERLAY),
            ("iovl.noshell", opt::NO_OVERLAY + 1),
        ] {
            assert_eq!(lookup_option(name.as_bytes()), Ok(index), "{name}");
        }
        assert_eq!(crate::entries(KERNEL_OPTION_NAMES), opt::OWN);
        assert_eq!(
            opt::OWN + crate::entries(OWN_OPTION_NAMES),
            opt::NO_OVERLAY + 2,
            "iovl.noshell is the last option"
        );
        for (unknown, ours) in [
            ("iovl.x", true),
            ("iovl.init", true),
            ("image", false),
            ("x", false),
        ] {
            assert_eq!(lookup_option(unknown.as_bytes()), Err(ours), "{unknown}");
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(ok(""), Config::DEFAULT);
        assert_eq!(
            ok("console=ttyS0 root=/dev/sda1 panic=-1\n"),
            Config::DEFAULT
        );
        let c = Config::DEFAULT;
        assert_eq!(
            (c.init, c.image, c.wait),
            (
                &b"/sbin/init"[..],
                &b"root-squashfs.img"[..],
                Wait { ms: 10_000 }
            )
        );
        assert_eq!(
            c.specs,
            [
                Spec::Label(b"img"),
                Spec::Label(b"overlay"),
                Spec::Label(b"boot"),
                Spec::Label(b"newimg")
            ]
        );
        assert_eq!(
            (c.onerror, c.rw, c.quiet, c.rootdelay_ms),
            (FailAction::Panic, false, false, 0)
        );
    }

    #[test]
    fn spaces_are_the_kernels() {
        for b in 0..=255u8 {
            assert_eq!(
                is_space(b),
                matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | 0xA0),
                "{b:#x}"
            );
        }
    }

    #[test]
    fn splits_like_the_kernel() {
        assert_eq!(
            split("  a b=c\td=\"e f\"\n"),
            [("a", None), ("b", Some("c")), ("d", Some("e f"))]
        );
        assert_eq!(split("\"x=y z\" \"w\""), [("x", Some("y z")), ("w", None)]);
        assert_eq!(split("\"a b\" c"), [("a b", None), ("c", None)]);
        assert_eq!(split("\"a\"b c\" d"), [("a\"b", None), ("c\" d", None)]);
        assert_eq!(
            split("k=\"unterminated value"),
            [("k", Some("unterminated value"))]
        );
        assert_eq!(
            split("k=a\"b c\"d e"),
            [("k", Some("a\"b c\"d")), ("e", None)]
        );
        assert_eq!(split("k=v=w ="), [("k", Some("v=w")), ("", Some(""))]);
        assert_eq!(split("k=\" \""), [("k", Some(" "))]);
        assert_eq!(split("\""), [("", None)]);
        assert_eq!(
            split("k=\""),
            [("k", Some(""))],
            "a lone quote opens the value"
        );
        assert_eq!(
            split("\"k=\"v\"\""),
            [("k", Some("v\""))],
            "one closing quote is dropped"
        );
        assert_eq!(split("a\0b c"), [("a", None)], "a NUL ends the line");
        assert!(split(" \n\t ").is_empty());
        // The kernel's isspace counts the byte 0xA0, even inside UTF-8 ("à" is C3 A0).
        let names: Vec<&[u8]> = params("xà b".as_bytes()).map(|(n, _)| n).collect();
        assert_eq!(names, [&b"x\xC3"[..], b"b"]);
    }

    #[test]
    fn kernel_options() {
        let c = ok("init=/lib/systemd/systemd rw quiet rootdelay=2 rootwait");
        assert_eq!(c.init, b"/lib/systemd/systemd");
        assert!(c.rw && c.quiet);
        assert_eq!((c.rootdelay_ms, c.wait), (2000, Wait::FOREVER));
        assert!(!ok("rw ro").rw);
        assert!(ok("ro rw").rw);
        assert!(!ok("rw=1").rw, "the kernel ignores rw=x");
        assert_eq!(ok("rootwait=5").wait, Wait { ms: 5000 });
        // The last wait given wins, whichever its spelling.
        assert_eq!(ok("rootwait iovl.wait=3").wait, Wait { ms: 3000 });
        assert_eq!(ok("iovl.wait=3 rootwait").wait, Wait::FOREVER);
        assert_eq!(ok("iovl.wait=0").wait, Wait { ms: 0 });
    }

    #[test]
    fn own_options() {
        let c = ok(
            "iovl.img=UUID=ab-cd iovl.overlay=/dev/vda2 iovl.boot=\"PARTLABEL=EFI system\" \
            iovl.newimg=PARTUUID=1234abcd-04 iovl.image=os.squashfs iovl.onerror=reboot \
            iovl.keep-upper iovl.no-persistent iovl.no-overlay iovl.noshell",
        );
        assert_eq!(
            c.specs,
            [
                Spec::Uuid(b"ab-cd"),
                Spec::Path(b"vda2"),
                Spec::PartLabel(b"EFI system"),
                Spec::PartUuid(b"1234abcd-04")
            ]
        );
        assert_eq!(c.image, b"os.squashfs");
        assert_eq!(c.onerror, FailAction::Reboot);
        assert!(c.keep_upper && c.no_persistent && c.no_overlay && c.noshell);
        assert_eq!(ok("iovl.img=mylabel").specs[0], Spec::Label(b"mylabel"));
        // The kernel keeps inner quotes; the spec drops them, as blkid does.
        assert_eq!(
            ok("iovl.img=LABEL=\"my os\"").specs[0],
            Spec::Label(b"my os")
        );
        for (word, action) in [
            ("panic", FailAction::Panic),
            ("poweroff", FailAction::Poweroff),
            ("halt", FailAction::Halt),
            ("reboot", FailAction::Reboot),
        ] {
            assert_eq!(ok(&std::format!("iovl.onerror={word}")).onerror, action);
            assert_eq!(action.name(), word.as_bytes());
        }
    }

    #[test]
    fn malformed_values_name_the_option() {
        assert_eq!(
            err("init=sbin/init"),
            ("init".into(), "must be an absolute path")
        );
        assert_eq!(err("init"), ("init".into(), "needs a value"));
        assert_eq!(err("init="), ("init".into(), "must be an absolute path"));
        assert_eq!(err("rootwait=x").1, "is not a number of seconds");
        assert_eq!(err("rootdelay=-1").1, "is not a number of seconds");
        assert_eq!(err("rootdelay").1, "needs a value");
        assert_eq!(
            err("iovl.wait=18446744073709552").1,
            "is not a number of seconds",
            "above 2^54 s"
        );
        // The limit: 2^54 seconds.
        assert_eq!(
            ok("iovl.wait=18014398509481983").wait,
            Wait {
                ms: 18_014_398_509_481_983_000
            }
        );
        assert_eq!(
            err("iovl.wait=18014398509481984").1,
            "is not a number of seconds"
        );
        assert_eq!(err("iovl.wait=").0, "iovl.wait");
        assert_eq!(err("iovl.img=").0, "iovl.img");
        assert_eq!(err("iovl.img").1, "needs a value");
        assert_eq!(err("iovl.boot=/dev/disk/by-label/x").0, "iovl.boot");
        assert_eq!(err("iovl.overlay=label=x").0, "iovl.overlay");
        assert_eq!(err("iovl.newimg=LABEL=").0, "iovl.newimg");
        for bad in ["", "a/b", "/x", ".", ".."] {
            assert_eq!(
                err(&std::format!("iovl.image={bad}")).0,
                "iovl.image",
                "{bad:?}"
            );
        }
        assert_eq!(ok("iovl.image=..img").image, b"..img");
        assert_eq!(err("iovl.onerror=explode").0, "iovl.onerror");
        // A malformed option still reports the failure action asked for anywhere on the line.
        let e = parse(
            b"iovl.wait=x iovl.onerror=poweroff iovl.image=a/b",
            &mut Captured::default(),
        )
        .unwrap_err();
        assert_eq!(
            (e.option, e.onerror),
            (&b"iovl.wait"[..], FailAction::Poweroff)
        );
        let e = parse(
            b"iovl.onerror=halt iovl.onerror=explode",
            &mut Captured::default(),
        )
        .unwrap_err();
        assert_eq!(e.onerror, FailAction::Halt);
        assert_eq!(err("iovl.onerror").0, "iovl.onerror");
        assert_eq!(
            err("iovl.keep-upper=1"),
            ("iovl.keep-upper".into(), "takes no value")
        );
        // The first error is reported.
        assert_eq!(err("iovl.wait=x iovl.img=").0, "iovl.wait");
    }

    #[test]
    fn unknown_own_options_are_warnings() {
        let mut log = Captured::default();
        let c = parse(b"foo=bar iovl.typo=1 iovl.\xff rw", &mut log).unwrap();
        assert!(c.rw);
        assert_eq!(
            log.0,
            [
                (Level::Warning, "unknown option iovl.typo".into()),
                (Level::Warning, "unknown option iovl.\u{fffd}".into()),
            ]
        );
    }

    #[test]
    fn stops_at_double_dash() {
        assert!(!ok("-- rw").rw);
        assert!(ok("rw -- iovl.wait=x").rw);
        assert!(ok("--=x rw").rw, "only a bare -- ends the options");
    }

    #[test]
    fn survives_long_garbage() {
        let mut line = Vec::new();
        let mut x = 0x1234_5678u32;
        for _ in 0..4096 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            line.push(b" =\"\tai.ov/l0\xa0\n"[(x % 14) as usize]);
        }
        for end in (0..line.len()).step_by(61) {
            let _ = parse(&line[..end], &mut Captured::default());
            for (name, value) in params(&line[..end]) {
                assert!(name.len() + value.map_or(0, <[u8]>::len) <= end);
            }
        }
        let long = std::format!(
            "iovl.img=LABEL={} iovl.image={}",
            "x".repeat(5000),
            "y".repeat(5000)
        );
        let c = ok(&long);
        assert_eq!((c.specs[0].describe().1.len(), c.image.len()), (5000, 5000));
    }
}
