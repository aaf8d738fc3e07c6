//! `budgets.toml`: a small TOML subset parsed by hand. Only `[[budget]]` tables with
//! `arch = "..."`, `item = "..."`, `bytes = N` and `reason = "..."`, `#` comments and blank lines.

use std::collections::BTreeMap;

/// What a budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    /// The stripped init binary.
    Init,
    /// The standard image, `target/init-<ver>-<arch>.gz`.
    Image,
    /// The debug image, `target/init-<ver>-<arch>-debug.gz`.
    DebugImage,
}

impl Item {
    pub const ALL: [Item; 3] = [Item::Init, Item::Image, Item::DebugImage];

    pub fn name(self) -> &'static str {
        match self {
            Item::Init => "init",
            Item::Image => "image",
            Item::DebugImage => "debug-image",
        }
    }

    fn parse(s: &str) -> Option<Item> {
        Item::ALL.into_iter().find(|i| i.name() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
    pub reason: String,
}

/// Budgets by (arch name, item).
pub type Budgets = BTreeMap<(String, Item), Budget>;

/// Parses the file. Every entry needs all four keys and a non-empty reason; arch and item must be
/// known; an (arch, item) pair may appear once.
pub fn parse(text: &str, arches: &[&str]) -> Result<Budgets, String> {
    let mut out = Budgets::new();
    let mut cur: Option<(usize, BTreeMap<String, Value>)> = None;
    let lines: Vec<&str> = text.lines().collect();
    for (i, raw) in lines
        .iter()
        .enumerate()
        .chain(std::iter::once((lines.len(), &"[[budget]]")))
    {
        let n = i + 1;
        let line = strip_comment(raw).trim().to_string();
        if line.is_empty() {
            continue;
        }
        if line == "[[budget]]" {
            if let Some((start, fields)) = cur.take() {
                let (key, b) = finish(start, fields, arches)?;
                if out.contains_key(&key) {
                    return Err(format!(
                        "line {start}: a second budget for {} {}",
                        key.0,
                        key.1.name()
                    ));
                }
                out.insert(key, b);
            }
            cur = Some((n, BTreeMap::new()));
            continue;
        }
        let Some((_, fields)) = cur.as_mut() else {
            return Err(format!("line {n}: {line:?} outside a [[budget]] table"));
        };
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {n}: expected key = value, got {line:?}"));
        };
        let k = k.trim().to_string();
        let v = parse_value(v.trim()).map_err(|e| format!("line {n}: {e}"))?;
        if fields.insert(k.clone(), v).is_some() {
            return Err(format!("line {n}: {k} given twice"));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    Int(u64),
}

/// Drops a `#` comment that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
    }
    line
}

fn parse_value(v: &str) -> Result<Value, String> {
    if let Some(body) = v.strip_prefix('"') {
        let Some(body) = body.strip_suffix('"') else {
            return Err(format!("unterminated string {v}"));
        };
        let mut s = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('n') => s.push('\n'),
                    other => {
                        return Err(format!(
                            "unsupported escape \\{}",
                            other.map(String::from).unwrap_or_default()
                        ));
                    }
                },
                '"' => return Err(format!("stray quote in {v}")),
                c => s.push(c),
            }
        }
        Ok(Value::Str(s))
    } else {
        let digits: String = v.chars().filter(|c| *c != '_').collect();
        digits
            .parse()
            .map(Value::Int)
            .map_err(|_| format!("expected a number or a \"string\", got {v}"))
    }
}

fn finish(
    start: usize,
    mut f: BTreeMap<String, Value>,
    arches: &[&str],
) -> Result<((String, Item), Budget), String> {
    let mut take_str = |k: &str| match f.remove(k) {
        Some(Value::Str(s)) => Ok(s),
        Some(Value::Int(_)) => Err(format!("budget at line {start}: {k} must be a string")),
        None => Err(format!("budget at line {start}: no {k}")),
    };
    let arch = take_str("arch")?;
    let item = take_str("item")?;
    let reason = take_str("reason")?;
    let bytes = match f.remove("bytes") {
        Some(Value::Int(b)) => b,
        Some(_) => return Err(format!("budget at line {start}: bytes must be a number")),
        None => return Err(format!("budget at line {start}: no bytes")),
    };
    if let Some(k) = f.keys().next() {
        return Err(format!("budget at line {start}: unknown key {k}"));
    }
    if !arches.contains(&arch.as_str()) {
        return Err(format!(
            "budget at line {start}: unknown arch {arch:?} (expected {})",
            arches.join(", ")
        ));
    }
    let Some(item) = Item::parse(&item) else {
        return Err(format!(
            "budget at line {start}: unknown item {item:?} (expected init, image or debug-image)"
        ));
    };
    if reason.trim().is_empty() {
        return Err(format!(
            "budget at line {start}: the reason is empty; every budget needs a written reason"
        ));
    }
    Ok(((arch, item), Budget { bytes, reason }))
}

/// The verdict for one measured item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok { bytes: u64, budget: u64 },
    Over { bytes: u64, budget: u64 },
    Missing { what: String },
    NoBudget { bytes: u64 },
}

impl Status {
    pub fn failed(&self) -> bool {
        !matches!(self, Status::Ok { .. })
    }

    pub fn cell(&self) -> String {
        match self {
            Status::Ok { bytes, budget } => format!("{bytes} / {budget}"),
            Status::Over { bytes, budget } => {
                format!("{bytes} / {budget} OVER by {}", bytes - budget)
            }
            Status::Missing { .. } => "MISSING".into(),
            Status::NoBudget { bytes } => format!("{bytes} / NO BUDGET"),
        }
    }
}

/// Compares a measurement (`None`: the file is missing) with its budget.
pub fn check(budgets: &Budgets, arch: &str, item: Item, measured: Result<u64, String>) -> Status {
    match (measured, budgets.get(&(arch.to_string(), item))) {
        (Err(what), _) => Status::Missing { what },
        (Ok(bytes), None) => Status::NoBudget { bytes },
        (Ok(bytes), Some(b)) if bytes > b.bytes => Status::Over {
            bytes,
            budget: b.bytes,
        },
        (Ok(bytes), Some(b)) => Status::Ok {
            bytes,
            budget: b.bytes,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARCHES: [&str; 3] = ["armv6l", "i686", "x86_64"];

    #[test]
    fn parses_entries() {
        let text = r#"
# budgets
[[budget]]
arch = "x86_64"   # the PC
item = "init"
bytes = 16_384
reason = "initial # not a comment \"quoted\""

[[budget]]
item = "debug-image"
arch = "i686"
bytes = 1179648
reason = "busybox"
"#;
        let b = parse(text, &ARCHES).unwrap();
        assert_eq!(b.len(), 2);
        let x = &b[&("x86_64".to_string(), Item::Init)];
        assert_eq!(x.bytes, 16384);
        assert_eq!(x.reason, "initial # not a comment \"quoted\"");
        assert_eq!(b[&("i686".to_string(), Item::DebugImage)].bytes, 1179648);
    }

    #[test]
    fn rejects_bad_files() {
        let entry = |body: &str| format!("[[budget]]\n{body}\n");
        let ok = "arch = \"i686\"\nitem = \"init\"\nbytes = 1\nreason = \"r\"";
        assert!(parse(&entry(ok), &ARCHES).is_ok());
        for (body, want) in [
            ("arch = \"i686\"\nitem = \"init\"\nbytes = 1", "no reason"),
            (
                "arch = \"i686\"\nitem = \"init\"\nbytes = 1\nreason = \"  \"",
                "reason is empty",
            ),
            (
                "arch = \"mips\"\nitem = \"init\"\nbytes = 1\nreason = \"r\"",
                "unknown arch",
            ),
            (
                "arch = \"i686\"\nitem = \"kernel\"\nbytes = 1\nreason = \"r\"",
                "unknown item",
            ),
            (
                "arch = \"i686\"\nitem = \"init\"\nbytes = \"1\"\nreason = \"r\"",
                "bytes must be a number",
            ),
            (
                "arch = \"i686\"\nitem = \"init\"\nbytes = 1\nreason = \"r\"\ncolour = \"red\"",
                "unknown key colour",
            ),
            ("arch = \"i686\"\narch = \"i686\"", "given twice"),
            ("arch = i686", "expected a number"),
            ("reason = \"open", "unterminated"),
            ("just words", "key = value"),
        ] {
            let e = parse(&entry(body), &ARCHES).unwrap_err();
            assert!(e.contains(want), "{body:?}: {e:?} should contain {want:?}");
        }
        let twice = format!("{}{}", entry(ok), entry(ok));
        assert!(
            parse(&twice, &ARCHES)
                .unwrap_err()
                .contains("second budget")
        );
        assert!(
            parse("bytes = 1\n", &ARCHES)
                .unwrap_err()
                .contains("outside")
        );
    }

    #[test]
    fn verdicts() {
        let b = parse(
            "[[budget]]\narch = \"x86_64\"\nitem = \"init\"\nbytes = 100\nreason = \"r\"\n",
            &ARCHES,
        )
        .unwrap();
        assert_eq!(
            check(&b, "x86_64", Item::Init, Ok(100)),
            Status::Ok {
                bytes: 100,
                budget: 100
            }
        );
        let over = check(&b, "x86_64", Item::Init, Ok(101));
        assert_eq!(
            over,
            Status::Over {
                bytes: 101,
                budget: 100
            }
        );
        assert!(over.failed() && over.cell().contains("OVER by 1"));
        assert!(
            check(&b, "x86_64", Item::Image, Ok(1)).failed(),
            "no budget fails"
        );
        assert!(check(&b, "x86_64", Item::Init, Err("gone".into())).failed());
        assert!(!check(&b, "x86_64", Item::Init, Ok(0)).failed());
    }

    /// The checked-in file parses and covers every arch and item.
    #[test]
    fn checked_in_budgets_are_complete() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/budgets.toml")).unwrap();
        let b = parse(&text, &ARCHES).unwrap();
        for arch in ARCHES {
            for item in Item::ALL {
                assert!(
                    b.contains_key(&(arch.to_string(), item)),
                    "no budget for {arch} {}",
                    item.name()
                );
            }
        }
    }
}
