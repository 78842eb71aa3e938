//! Progress of long waits on stderr: a live line per resource on a terminal, plain timestamped
//! lines otherwise (CI logs, pipes). Data never goes here; it goes to stdout.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ids::ResourceId;

#[derive(Clone)]
pub struct Progress {
    inner: Arc<Mutex<Inner>>,
}

enum Inner {
    Live {
        bars: MultiProgress,
        lines: HashMap<ResourceId, ProgressBar>,
        /// What a resource's work prints (a bake's console), under its line.
        tails: HashMap<ResourceId, ProgressBar>,
    },
    Lines {
        last: HashMap<ResourceId, String>,
    },
    Quiet,
}

impl Progress {
    /// Live lines when stderr is a terminal (and TERM is not dumb), plain lines otherwise.
    pub fn for_stderr() -> Self {
        let live = std::io::stderr().is_terminal()
            && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true);
        let inner = if live {
            let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            if let Ok(mut active) = ACTIVE.lock() {
                *active = Some(bars.clone());
            }
            Inner::Live {
                bars,
                lines: HashMap::new(),
                tails: HashMap::new(),
            }
        } else {
            Inner::Lines {
                last: HashMap::new(),
            }
        };
        Progress {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// No output at all (JSON mode keeps stderr for errors only).
    pub fn quiet() -> Self {
        Progress {
            inner: Arc::new(Mutex::new(Inner::Quiet)),
        }
    }

    /// A resource's work began, or moved to a new phase.
    pub fn status(&self, id: &ResourceId, text: &str) {
        let mut inner = self.inner.lock().expect("progress lock");
        match &mut *inner {
            Inner::Live { bars, lines, .. } => {
                let bar = lines.entry(id.clone()).or_insert_with(|| {
                    let bar = bars.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} ({elapsed})")
                            .expect("valid template")
                            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
                    );
                    bar.set_prefix(id.to_string());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_message(text.to_string());
            }
            Inner::Lines { last } => {
                if last.get(id).map(String::as_str) != Some(text) {
                    last.insert(id.clone(), text.to_string());
                    line(&format!("{id}: {text}"));
                }
            }
            Inner::Quiet => {}
        }
    }

    /// A resource's work ended (successfully or not).
    pub fn finish(&self, id: &ResourceId, text: &str, ok: bool) {
        let mut inner = self.inner.lock().expect("progress lock");
        match &mut *inner {
            Inner::Live { bars, lines, tails } => {
                if let Some(tail) = tails.remove(id) {
                    tail.finish_and_clear();
                }
                let mark = if ok { "✓" } else { "✗" };
                let bar = lines
                    .remove(id)
                    .unwrap_or_else(|| bars.add(ProgressBar::new_spinner()));
                bar.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
                bar.finish_with_message(format!("{mark} {id}: {text}"));
            }
            Inner::Lines { last } => {
                last.remove(id);
                line(&format!("{id}: {text}"));
            }
            Inner::Quiet => {}
        }
    }

    /// New lines of what a resource's work prints (a bake's console output): on a terminal, the
    /// last few under the resource's line; otherwise each as a line of its own.
    pub fn output(&self, id: &ResourceId, new: &[String]) {
        if new.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().expect("progress lock");
        match &mut *inner {
            Inner::Live { bars, lines, tails } => {
                let tail = tails.entry(id.clone()).or_insert_with(|| {
                    let bar = match lines.get(id) {
                        Some(line) => bars.insert_after(line, ProgressBar::new_spinner()),
                        None => bars.add(ProgressBar::new_spinner()),
                    };
                    bar.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
                    bar
                });
                let mut shown: Vec<String> = tail
                    .message()
                    .lines()
                    .map(|l| l.trim_start_matches("    │ ").to_string())
                    .chain(new.iter().cloned())
                    .collect();
                let keep = shown.len().saturating_sub(TAIL_LINES);
                shown.drain(..keep);
                let text: Vec<String> = shown
                    .iter()
                    .map(|l| format!("    │ {}", console::truncate_str(l, 150, "…")))
                    .collect();
                tail.set_message(text.join("\n"));
            }
            Inner::Lines { .. } => {
                for text in new {
                    line(&format!("{id}: │ {text}"));
                }
            }
            Inner::Quiet => {}
        }
    }

    /// A line about the run as a whole.
    pub fn note(&self, text: &str) {
        let inner = self.inner.lock().expect("progress lock");
        match &*inner {
            Inner::Live { bars, .. } => {
                let _ = bars.println(text);
            }
            Inner::Lines { .. } => line(text),
            Inner::Quiet => {}
        }
    }
}

/// How many lines of a resource's output stay under its live line.
const TAIL_LINES: usize = 5;

/// The live lines on the terminal, if any: what else is written to stderr goes above them.
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Write `text` to stderr without breaking live progress lines (an interrupt notice, a
/// warning): the lines are cleared, the text written, the lines drawn again below it.
pub fn above(text: &str) {
    let write = || {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    };
    let active = ACTIVE.lock().ok().and_then(|active| active.clone());
    match active {
        Some(bars) => bars.suspend(write),
        None => write(),
    }
}

fn line(text: &str) {
    let time = chrono::Local::now().format("%H:%M:%S");
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{time} {text}");
}
