//! Results of the scenarios and the summary table.

use std::sync::Mutex;

#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub arch: String,
    pub pass: bool,
    pub secs: f64,
    pub boots: usize,
    pub note: String,
}

/// One boot's "Run /init" → real init time.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub scenario: String,
    pub kernel: String,
    pub ms: f64,
    /// The init's own step timings, `step=N` joined.
    pub steps: String,
}

static ROWS: Mutex<Vec<Row>> = Mutex::new(Vec::new());
static TIMELINES: Mutex<Vec<Timeline>> = Mutex::new(Vec::new());
static NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub fn record(row: Row) {
    ROWS.lock().unwrap().push(row);
}

pub fn timeline(t: Timeline) {
    TIMELINES.lock().unwrap().push(t);
}

/// A figure worth printing after the table (e.g. the clear-upper time, the power-cut counts).
pub fn note(s: String) {
    eprintln!("e2e: {s}");
    NOTES.lock().unwrap().push(s);
}

/// The summary: scenarios (name, arch, result, seconds, boots), then the timeline figures.
pub fn summary(total_secs: f64) -> String {
    let mut rows = ROWS.lock().unwrap().clone();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    let mut s = String::new();
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    s.push_str(&format!(
        "\n{:w$}  {:7}  {:6}  {:>7}  {:>5}  note\n",
        "scenario", "arch", "result", "seconds", "boots"
    ));
    s.push_str(&format!("{}\n", "-".repeat(w + 40)));
    for r in &rows {
        s.push_str(&format!(
            "{:w$}  {:7}  {:6}  {:>7.1}  {:>5}  {}\n",
            r.name,
            r.arch,
            if r.pass { "pass" } else { "FAIL" },
            r.secs,
            r.boots,
            r.note.lines().next().unwrap_or("")
        ));
    }
    let passed = rows.iter().filter(|r| r.pass).count();
    s.push_str(&format!(
        "{} scenarios: {passed} passed, {} failed; wall time {total_secs:.0} s; boot logs in target/e2e-logs/\n",
        rows.len(),
        rows.len() - passed
    ));
    let tl = TIMELINES.lock().unwrap().clone();
    if !tl.is_empty() {
        s.push_str(
            "\nTimeline, from the kernel's \"Run /init\" to the real init (printk timestamps):\n",
        );
        let mut kernels: Vec<String> = tl.iter().map(|t| t.kernel.clone()).collect();
        kernels.sort();
        kernels.dedup();
        for k in kernels {
            let mut ms: Vec<f64> = tl.iter().filter(|t| t.kernel == k).map(|t| t.ms).collect();
            ms.sort_by(|a, b| a.total_cmp(b));
            s.push_str(&format!(
                "  {k:16} {:3} boots: min {:6.0} ms, median {:6.0} ms, max {:6.0} ms\n",
                ms.len(),
                ms[0],
                ms[ms.len() / 2],
                ms[ms.len() - 1]
            ));
        }
        // One example of the init's own step timings per kernel.
        let mut seen: Vec<String> = Vec::new();
        for t in &tl {
            if !t.steps.is_empty() && !seen.contains(&t.kernel) {
                seen.push(t.kernel.clone());
                s.push_str(&format!(
                    "  {} steps ({}): {}\n",
                    t.kernel, t.scenario, t.steps
                ));
            }
        }
    }
    let notes = NOTES.lock().unwrap().clone();
    if !notes.is_empty() {
        s.push_str("\nFigures:\n");
        for n in notes {
            s.push_str(&format!("  {n}\n"));
        }
    }
    s
}
