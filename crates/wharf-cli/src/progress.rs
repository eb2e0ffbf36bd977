//! Engine events rendered for the user: a live view on a terminal, plain lines on stderr
//! elsewhere, or JSON lines on stdout with `--output json`.

use std::io::Write as _;

use wharf_engine::{Event, EventSink};

use crate::output::Printer;

/// Renders engine events: a live view on a terminal, plain lines on stderr elsewhere, or JSON
/// lines on stdout with --output json.
pub struct Render {
    pub json: bool,
    pub quiet: bool,
    live: Option<std::sync::Mutex<crate::live::Live<std::io::Stderr>>>,
}

impl EventSink for Render {
    fn emit(&self, event: Event) {
        if self.json {
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        } else if let Some(live) = &self.live {
            live.lock().unwrap_or_else(|p| p.into_inner()).event(&event);
        } else if !self.quiet && !matches!(event, Event::Gate { .. } | Event::Health { .. }) {
            // A bounded wait reports every poll; a line every 5 s is enough in a log.
            if let Event::Waiting { elapsed_ms, .. } = &event {
                if elapsed_ms / 1000 % 5 != 0 || elapsed_ms % 1000 >= 500 {
                    return;
                }
            }
            let _ = writeln!(std::io::stderr().lock(), "{event}");
        }
    }
}

impl Render {
    pub fn new(printer: &Printer) -> Self {
        use std::io::IsTerminal;
        let terminal =
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let live = (!printer.json() && !printer.quiet && terminal).then(|| {
            let now = || {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64)
            };
            let width =
                terminal_size::terminal_size_of(std::io::stderr()).map(|(w, _)| w.0 as usize);
            std::sync::Mutex::new(crate::live::Live::new(
                std::io::stderr(),
                printer.color_stderr,
                width,
                Box::new(now),
            ))
        });
        Render {
            json: printer.json(),
            quiet: printer.quiet,
            live,
        }
    }
}

impl Drop for Render {
    /// The block goes before the command's result or error is printed.
    fn drop(&mut self) {
        if let Some(live) = &self.live {
            live.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }
}
