//! `wharf exec`: a session in a running task. The runtime's own client does the terminal work
//! (`docker exec` locally; the Session Manager plugin on AWS, after ECS's ExecuteCommand opened
//! the session), so a target answers with the [`Session`] to start: the program, its arguments
//! and where to get it when it is missing. Only the CLI starts it, with the user's terminal.

use std::fmt;

use serde::Serialize;

use crate::target::LogSource;

/// The command of an interactive session when none is given.
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// Which task to enter and what to run there.
#[derive(Debug, Clone, Copy)]
pub struct ExecRequest<'a> {
    /// A service's tasks or a job's runs'.
    pub of: LogSource<'a>,
    /// Only this deployment's tasks (a job: this run's); None: any of them.
    pub deployment: Option<&'a str>,
    /// This task: its id or the start of it (locally: part of a container's name).
    pub task: Option<&'a str>,
    /// The command (empty: [`DEFAULT_SHELL`]).
    pub command: &'a [String],
    /// Standard input is a terminal: give the session one.
    pub tty: bool,
}

impl ExecRequest<'_> {
    /// The command to run: the one given, or the shell.
    pub fn argv(&self) -> Vec<String> {
        if self.command.is_empty() {
            vec![DEFAULT_SHELL.to_owned()]
        } else {
            self.command.to_vec()
        }
    }
}

/// The client to start for the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub program: String,
    pub args: Vec<String>,
    /// The task (container) entered.
    pub task: String,
    /// How to install `program` when it is not on the PATH.
    pub install: String,
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.program, self.args.join(" "))
    }
}

/// A command line as one string, each word quoted for a POSIX shell when it needs it (ECS's
/// ExecuteCommand takes the command as one string).
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_join_into_one_shell_line() {
        let argv = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(shell_join(&argv(&["ls", "-la", "/app"])), "ls -la /app");
        assert_eq!(
            shell_join(&argv(&["sh", "-c", "echo it's $HOME"])),
            r"sh -c 'echo it'\''s $HOME'"
        );
        assert_eq!(shell_join(&argv(&["printf", ""])), "printf ''");
    }
}
