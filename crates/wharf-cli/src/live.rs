//! The live progress view on a terminal: what happened (steps, rollbacks, results) scrolls
//! above, and a block at the bottom — the current step and how long it has run, the traffic
//! split as a bar, the new version's health, the alarm gate's 5xx share and the current
//! bounded wait — is redrawn in place after every event. Each line of the block is cut to the
//! terminal's width: a line the terminal wrapped would take two rows, and erasing the block by
//! its line count would then leave one behind. Elsewhere the same events are plain lines (see
//! `progress::Render`).

use std::io::Write;

use wharf_engine::Event;

/// The bottom block's state, built from events.
#[derive(Debug, Default)]
struct State {
    id: String,
    step: Option<(usize, usize, String)>,
    step_since_ms: i64,
    weights: Vec<(String, u32)>,
    health: Option<(u32, u32, u32)>,
    gate: Option<(String, f64, f64, u64)>,
    waiting: Option<(String, i64, i64)>,
}

/// The live view, writing to a terminal (or any writer, in tests).
pub struct Live<W: Write> {
    out: W,
    state: State,
    /// Lines of the block drawn last, erased before the next draw.
    drawn: usize,
    color: bool,
    /// The terminal's width in columns (None: unknown, nothing is cut).
    width: Option<usize>,
    /// Milliseconds since the view started, from the caller (the wall clock in use).
    now_ms: Box<dyn Fn() -> i64 + Send>,
}

const BAR: usize = 24;

impl<W: Write> Live<W> {
    pub fn new(
        out: W,
        color: bool,
        width: Option<usize>,
        now_ms: Box<dyn Fn() -> i64 + Send>,
    ) -> Self {
        Live {
            out,
            state: State::default(),
            drawn: 0,
            color,
            width,
            now_ms,
        }
    }

    /// A block line cut to the terminal's width (one column spare: some terminals wrap a line
    /// that fills the last column), its first `bold` characters in bold on a colour terminal.
    fn fit(&self, line: &str, bold: usize) -> String {
        let max = self
            .width
            .map_or(usize::MAX, |w| w.saturating_sub(1).max(1));
        let cut: String = line.chars().take(max).collect();
        if !self.color || bold == 0 {
            return cut;
        }
        let split = cut.char_indices().nth(bold).map_or(cut.len(), |(i, _)| i);
        let style = anstyle::Style::new().bold();
        format!(
            "{}{}{}{}",
            style.render(),
            &cut[..split],
            style.render_reset(),
            &cut[split..]
        )
    }

    /// The line an event leaves in the scrolling part, if any.
    fn permanent(&self, e: &Event) -> Option<String> {
        match e {
            Event::Started { .. }
            | Event::Resumed { .. }
            | Event::Step { .. }
            | Event::AwaitingApproval { .. }
            | Event::RollingBack { .. }
            | Event::Retired { .. }
            | Event::Drained { .. }
            | Event::Finished { .. }
            | Event::LockReleased { .. }
            | Event::Progress { .. }
            | Event::JobStarted { .. } => Some(e.to_string()),
            Event::Weights { .. } => Some(e.to_string()),
            Event::Waiting { .. } | Event::Health { .. } | Event::Gate { .. } => None,
        }
    }

    fn update(&mut self, e: &Event) {
        let now = (self.now_ms)();
        let s = &mut self.state;
        match e {
            Event::Started { id, steps, .. } => {
                *s = State {
                    id: id.clone(),
                    step: steps.first().map(|f| (0, steps.len(), f.clone())),
                    step_since_ms: now,
                    ..State::default()
                };
            }
            Event::Resumed { id, step } => {
                s.id = id.clone();
                s.step = Some((0, 0, step.clone()));
                s.step_since_ms = now;
            }
            Event::Step {
                id,
                index,
                total,
                step,
            } => {
                s.id = id.clone();
                s.step = Some((*index, *total, step.clone()));
                s.step_since_ms = now;
                s.waiting = None;
            }
            Event::Waiting {
                what,
                elapsed_ms,
                limit_ms,
                ..
            } => s.waiting = Some((what.clone(), *elapsed_ms, *limit_ms)),
            Event::Health {
                healthy,
                running,
                wanted,
                ..
            } => s.health = Some((*healthy, *running, *wanted)),
            Event::Weights { weights } => s.weights = weights.clone(),
            Event::Gate {
                gate,
                value,
                threshold,
                requests,
                ..
            } => s.gate = Some((gate.clone(), *value, *threshold, *requests)),
            Event::AwaitingApproval { .. }
            | Event::Retired { .. }
            | Event::Drained { .. }
            | Event::LockReleased { .. }
            | Event::Progress { .. }
            | Event::JobStarted { .. } => {}
            Event::RollingBack { .. } => s.waiting = None,
            Event::Finished { .. } => *s = State::default(),
        }
    }

    /// The bottom block for the current state (empty when no deployment is under way).
    fn block(&self) -> Vec<String> {
        let s = &self.state;
        let Some((index, total, step)) = &s.step else {
            return Vec::new();
        };
        let secs = (((self.now_ms)() - s.step_since_ms).max(0)) / 1000;
        let position = if *total > 0 {
            format!("[{}/{total}] ", index + 1)
        } else {
            String::new()
        };
        let head = format!("  ▸ {}", s.id);
        let mut lines = vec![format!("{head} {position}{step} · {secs}s")];
        if !s.weights.is_empty() {
            let new = s
                .weights
                .iter()
                .find(|(d, _)| *d == s.id)
                .map_or(0, |(_, p)| *p) as usize;
            let filled = (new * BAR).div_ceil(100).min(BAR);
            let bar = format!("{}{}", "█".repeat(filled), "░".repeat(BAR - filled));
            let parts: Vec<String> = s
                .weights
                .iter()
                .map(|(d, p)| {
                    if *d == s.id {
                        format!("new {p}%")
                    } else {
                        format!("{d} {p}%")
                    }
                })
                .collect();
            lines.push(format!("    traffic  {bar} {}", parts.join(" · ")));
        }
        if let Some((healthy, running, wanted)) = s.health {
            lines.push(format!(
                "    health   {healthy}/{wanted} healthy, {running} running"
            ));
        }
        if let Some((gate, value, threshold, requests)) = &s.gate {
            lines.push(format!(
                "    {gate:<8} {value:.2} of {requests} requests (limit {threshold:.2})"
            ));
        }
        if let Some((what, elapsed, limit)) = &s.waiting {
            lines.push(format!(
                "    waiting  for {what} ({}s of at most {}s)",
                elapsed / 1000,
                limit / 1000
            ));
        }
        let bold = head.chars().count();
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| self.fit(l, if i == 0 { bold } else { 0 }))
            .collect()
    }

    /// Takes one event: erases the block, prints the event's permanent line, redraws.
    pub fn event(&mut self, e: &Event) {
        self.update(e);
        let line = self.permanent(e);
        let block = self.block();
        let mut buf = String::new();
        if self.drawn > 0 {
            // Up to the block's first line, then clear to the end of the screen.
            buf.push_str(&format!("\x1b[{}F\x1b[J", self.drawn));
        }
        if let Some(line) = line {
            buf.push_str(&line);
            buf.push('\n');
        }
        for l in &block {
            buf.push_str(l);
            buf.push('\n');
        }
        self.drawn = block.len();
        let _ = self.out.write_all(buf.as_bytes());
        let _ = self.out.flush();
    }

    /// Erases the block (before the command prints its result or an error).
    pub fn clear(&mut self) {
        if self.drawn > 0 {
            let _ = write!(self.out, "\x1b[{}F\x1b[J", self.drawn);
            let _ = self.out.flush();
            self.drawn = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    fn view(clock: Arc<AtomicI64>) -> Live<Vec<u8>> {
        Live::new(
            Vec::new(),
            false,
            None,
            Box::new(move || clock.load(Ordering::SeqCst)),
        )
    }

    /// What a terminal shows after interpreting the view's output (cursor-up-and-clear only).
    fn screen(bytes: &[u8]) -> Vec<String> {
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        let mut lines: Vec<String> = Vec::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("\x1b[") {
            lines.extend(rest[..at].lines().map(str::to_owned));
            let after = &rest[at + 2..];
            let f = after.find('F').expect("cursor up");
            let n: usize = after[..f].parse().expect("count");
            lines.truncate(lines.len() - n);
            rest = after[f + 1..].strip_prefix("\x1b[J").expect("clear");
        }
        lines.extend(rest.lines().map(str::to_owned));
        lines
    }

    #[test]
    fn the_block_is_redrawn_in_place_under_the_steps() {
        let clock = Arc::new(AtomicI64::new(0));
        let mut v = view(clock.clone());
        v.event(&Event::Started {
            id: "local-2".into(),
            service: "web".into(),
            strategy: "canary".into(),
            previous: Some("local-1".into()),
            steps: vec!["provision 2 tasks".into(), "wait for 2 healthy".into()],
        });
        v.event(&Event::Step {
            id: "local-2".into(),
            index: 1,
            total: 4,
            step: "wait for 2 healthy".into(),
        });
        for healthy in 0..=2 {
            clock.fetch_add(1_000, Ordering::SeqCst);
            v.event(&Event::Health {
                id: "local-2".into(),
                healthy,
                running: 2,
                wanted: 2,
            });
        }
        v.event(&Event::Weights {
            weights: vec![("local-1".into(), 80), ("local-2".into(), 20)],
        });
        v.event(&Event::Gate {
            id: "local-2".into(),
            gate: "5xx %".into(),
            value: 0.0,
            threshold: 5.0,
            requests: 140,
        });
        let shown = screen(&v.out);
        assert_eq!(
            shown,
            [
                "local-2: deploying web (canary, replacing local-1), 2 steps",
                "local-2: [2/4] wait for 2 healthy",
                "traffic: local-1 80%, local-2 20%",
                "  ▸ local-2 [2/4] wait for 2 healthy · 3s",
                "    traffic  █████░░░░░░░░░░░░░░░░░░░ local-1 80% · new 20%",
                "    health   2/2 healthy, 2 running",
                "    5xx %    0.00 of 140 requests (limit 5.00)",
            ],
            "{shown:#?}"
        );
        // Health updates replaced each other in place: one health line, never three.
        v.event(&Event::Finished {
            id: "local-2".into(),
            outcome: "succeeded".into(),
            reason: None,
        });
        let shown = screen(&v.out);
        assert_eq!(shown.last().map(String::as_str), Some("local-2: succeeded"));
        assert!(!shown.iter().any(|l| l.contains('▸')), "{shown:#?}");
    }

    #[test]
    fn block_lines_fit_the_terminal_so_a_redraw_erases_them_all() {
        let clock = Arc::new(AtomicI64::new(0));
        let mut v = Live::new(
            Vec::new(),
            true,
            Some(24),
            Box::new(move || clock.load(Ordering::SeqCst)),
        );
        v.event(&Event::Step {
            id: "local-20261129-120000Z".into(),
            index: 1,
            total: 4,
            step: "wait for 2 healthy".into(),
        });
        v.event(&Event::Weights {
            weights: vec![
                ("local-1".into(), 80),
                ("local-20261129-120000Z".into(), 20),
            ],
        });
        let block = v.block();
        assert_eq!(block.len(), 2);
        for line in &block {
            let visible: String = anstream::adapter::strip_str(line).to_string();
            assert!(
                visible.chars().count() <= 23,
                "{visible:?} is wider than 23 columns"
            );
        }
        assert!(
            block[0].starts_with("\x1b[1m  ▸ "),
            "the id in bold: {:?}",
            block[0]
        );
    }
}
