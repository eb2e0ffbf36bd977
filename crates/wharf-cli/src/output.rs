//! Where and how things are printed: results on stdout (text or JSON), diagnostics and progress
//! on stderr, colour only on a terminal and never with NO_COLOR or --no-color.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::cli::{Global, OutputFormat};
use crate::error::CliError;

#[derive(Debug, Clone)]
pub struct Printer {
    pub format: OutputFormat,
    pub color_stdout: bool,
    pub color_stderr: bool,
    pub quiet: bool,
}

impl Printer {
    pub fn new(g: &Global) -> Self {
        let no_color = g.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            format: g.output,
            color_stdout: !no_color && std::io::stdout().is_terminal(),
            color_stderr: !no_color && std::io::stderr().is_terminal(),
            quiet: g.quiet,
        }
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Prints a command's result: its `Display` as text, or its JSON.
    pub fn result<T: Serialize + std::fmt::Display>(&self, value: &T) -> Result<(), CliError> {
        let mut out = std::io::stdout().lock();
        let written = if self.json() {
            let text = serde_json::to_string_pretty(value)
                .map_err(|e| CliError::Stdout { source: e.into() })?;
            writeln!(out, "{text}")
        } else {
            write!(out, "{value}")
        };
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(|source| CliError::Stdout { source }),
        }
    }

    /// Raw text on stderr, never suppressed (diagnostics).
    pub fn diag(&self, text: &str) {
        let _ = write!(std::io::stderr().lock(), "{text}");
    }
}
