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

impl Level {
    /// The level whose `<N>` is `number`; any other number is Notice (last: measured smallest).
    #[inline(always)]
    pub fn from_number(number: u8) -> Level {
        match number {
            n if n == Level::Error as u8 => Level::Error,
            n if n == Level::Warning as u8 => Level::Warning,
            n if n == Level::Info as u8 => Level::Info,
            _ => Level::Notice,
        }
    }
}

/// One log line is the concatenation of `parts` (bytes: labels and paths need not be UTF-8), written at once (kmsg needs a single write per line).
/// The implementation adds the `initramfs-overlay: ` prefix and the newline.
pub trait Log {
    fn line(&mut self, level: Level, parts: &[&[u8]]);
}

#[cfg(test)]
mod tests {
    use super::Level;

    #[test]
    fn levels_come_back_from_their_numbers() {
        for level in [Level::Error, Level::Warning, Level::Notice, Level::Info] {
            assert_eq!(Level::from_number(level as u8), level);
        }
        assert_eq!(Level::from_number(0), Level::Notice);
    }
}
