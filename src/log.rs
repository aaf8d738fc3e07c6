//! The logging interface shared by the boot and the pure logic (e.g. the update planner), so that
//! host tests can capture exactly what the init would write to /dev/kmsg.

/// Kernel log levels used in `<N>` prefixes of /dev/kmsg lines.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Level {
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
}

/// One log line is the concatenation of `parts` (bytes: labels and paths need not be UTF-8), written at once (kmsg needs a single write per line).
/// The implementation adds the `initramfs-overlay: ` prefix and the newline.
pub trait Log {
    fn line(&mut self, level: Level, parts: &[&[u8]]);

    /// The warning about an `iovl.` option that no version knows. The init's log names the step
    /// before it (`cmdline: unknown option iovl.x`), from the step it has set; a plain `line` without one.
    fn unknown_option(&mut self, name: &[u8]) {
        self.line(Level::Warning, &[b"unknown option ", name]);
    }
}
