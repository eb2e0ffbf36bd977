//! Problems found in a manifest: what rule they break, where, and how to fix them; rendered
//! rustc-style (file:line:column, the source line, a caret under the spot) or as JSON.

use std::fmt;
use std::ops::Range;

use serde::Serialize;

/// Every rule the manifest is checked against. Each has a stable code (`wharf::<code>`) that
/// the tests, the JSON output and the documentation refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The file is not valid TOML.
    TomlSyntax,
    /// A key the schema does not know (with a did-you-mean).
    UnknownKey,
    /// A value of the wrong TOML type.
    WrongType,
    /// A required key is absent.
    MissingKey,
    /// A value outside its allowed set or range.
    InvalidValue,
    /// An app, environment, service, data or job name that AWS resource names cannot carry.
    InvalidName,
    /// A duration that is not written like `"5s"`, `"2m"`, `"1h30m"`.
    Duration,
    /// A cpu/memory pair Fargate does not offer.
    FargateSize,
    /// A port outside 1–65535 (or a reserved one).
    PortRange,
    /// A CIDR block that does not parse or has host bits set.
    CidrSyntax,
    /// A VPC block too large or too small for wharf's subnet layout.
    CidrSize,
    /// Subnets outside the VPC block or overlapping each other.
    SubnetOverlap,
    /// An AZ count other than 2 or 3.
    AzCount,
    /// A deployment's target-group name (or another AWS name) longer than AWS allows.
    NameLength,
    /// A strategy parameter out of range (canary percent, linear step, bakes).
    StrategyParams,
    /// Two services of one environment claiming the same listener-rule priority.
    RulePriority,
    /// A secret that is not a well-formed `ssm:` / `secretsmanager:` reference.
    SecretRef,
    /// A service or job binding a data resource that does not exist.
    DataBinding,
    /// An AWS-only setting in a local environment (or the reverse).
    TargetMismatch,
    /// The AWS account guard or region is missing or malformed.
    AwsAccount,
    /// Health-check settings ALB would refuse (timeout ≥ interval, thresholds, matcher).
    HealthCheck,
    /// A log retention CloudWatch Logs does not offer.
    LogRetention,
    /// TLS settings: certificate ARN form, plain HTTP without a domain.
    Tls,
    /// Autoscaling bounds that contradict each other or the count.
    Autoscaling,
    /// Build and image both given, or neither.
    ImageSource,
    /// Environment variable names, or an env var that is also a secret.
    EnvVar,
    /// Overrides in an environment that name a service, job or data resource that does not exist.
    UnknownOverride,
    /// A job schedule that is neither `cron(...)` nor `rate(...)`.
    Schedule,
    /// A data resource's settings that contradict each other (keys, capacity, engine).
    DataSettings,
    /// Settings of another strategy than the one chosen (ignored: a warning).
    UnusedSetting,
    /// A local `state_dir` that is not a relative path below the manifest's directory
    /// (`down` removes it: `.`, `..`, `src` or `/home` must never be one).
    StateDir,
    /// Internal services and their callers: a `talks_to` naming a service that is missing or
    /// not internal, two internal services on one listener port, smoke checks the internal
    /// load balancer would keep from wharf.
    Reach,
}

impl Rule {
    /// All rules, for documentation and for the test that each has a failing and a passing case.
    pub const ALL: &'static [Rule] = &[
        Rule::TomlSyntax,
        Rule::UnknownKey,
        Rule::WrongType,
        Rule::MissingKey,
        Rule::InvalidValue,
        Rule::InvalidName,
        Rule::Duration,
        Rule::FargateSize,
        Rule::PortRange,
        Rule::CidrSyntax,
        Rule::CidrSize,
        Rule::SubnetOverlap,
        Rule::AzCount,
        Rule::NameLength,
        Rule::StrategyParams,
        Rule::RulePriority,
        Rule::SecretRef,
        Rule::DataBinding,
        Rule::TargetMismatch,
        Rule::AwsAccount,
        Rule::HealthCheck,
        Rule::LogRetention,
        Rule::Tls,
        Rule::Autoscaling,
        Rule::ImageSource,
        Rule::EnvVar,
        Rule::UnknownOverride,
        Rule::Schedule,
        Rule::DataSettings,
        Rule::UnusedSetting,
        Rule::StateDir,
        Rule::Reach,
    ];

    /// The stable code, e.g. `fargate-size`.
    pub fn code(self) -> &'static str {
        match self {
            Rule::TomlSyntax => "toml-syntax",
            Rule::UnknownKey => "unknown-key",
            Rule::WrongType => "wrong-type",
            Rule::MissingKey => "missing-key",
            Rule::InvalidValue => "invalid-value",
            Rule::InvalidName => "invalid-name",
            Rule::Duration => "duration",
            Rule::FargateSize => "fargate-size",
            Rule::PortRange => "port-range",
            Rule::CidrSyntax => "cidr-syntax",
            Rule::CidrSize => "cidr-size",
            Rule::SubnetOverlap => "subnet-overlap",
            Rule::AzCount => "az-count",
            Rule::NameLength => "name-length",
            Rule::StrategyParams => "strategy-params",
            Rule::RulePriority => "rule-priority",
            Rule::SecretRef => "secret-ref",
            Rule::DataBinding => "data-binding",
            Rule::TargetMismatch => "target-mismatch",
            Rule::AwsAccount => "aws-account",
            Rule::HealthCheck => "health-check",
            Rule::LogRetention => "log-retention",
            Rule::Tls => "tls",
            Rule::Autoscaling => "autoscaling",
            Rule::ImageSource => "image-source",
            Rule::EnvVar => "env-var",
            Rule::UnknownOverride => "unknown-override",
            Rule::Schedule => "schedule",
            Rule::DataSettings => "data-settings",
            Rule::UnusedSetting => "unused-setting",
            Rule::StateDir => "state-dir",
            Rule::Reach => "reach",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How bad a problem is: errors make the manifest unusable, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub rule: Rule,
    /// The dotted key path, e.g. `services.web.deploy.canary.percent`.
    pub key: String,
    pub message: String,
    /// What was expected there, when it can be said in a few words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What to do about it (including did-you-mean suggestions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Byte range in the source.
    #[serde(skip)]
    pub span: Range<usize>,
    /// 1-based line and column of the span's start, filled in by [`Problems::locate`].
    pub line: usize,
    pub column: usize,
}

impl Problem {
    pub fn error(
        rule: Rule,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            severity: Severity::Error,
            rule,
            key: key.into(),
            message: message.into(),
            expected: None,
            help: None,
            span,
            line: 0,
            column: 0,
        }
    }

    pub fn warning(
        rule: Rule,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(rule, span, key, message)
        }
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}[{}]: {}", self.rule, self.message)
    }
}

impl std::error::Error for Problem {}

impl miette::Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("wharf::{}", self.rule)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let label = self.expected.as_ref().map(|e| format!("expected {e}"));
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(label, self.span.clone()),
        )))
    }
}

/// All problems of one manifest, with the source they point into.
#[derive(Debug, Clone, Serialize)]
pub struct Problems {
    pub file: String,
    pub problems: Vec<Problem>,
    #[serde(skip)]
    source: String,
}

impl Problems {
    /// Sorts by position, removes duplicates (the same problem found through an environment's
    /// merged view of a service) and fills in line and column.
    pub fn new(file: impl Into<String>, source: &str, mut problems: Vec<Problem>) -> Self {
        problems.sort_by(|a, b| {
            (a.span.start, a.severity, a.rule, &a.message).cmp(&(
                b.span.start,
                b.severity,
                b.rule,
                &b.message,
            ))
        });
        problems.dedup_by(|a, b| a.span == b.span && a.rule == b.rule && a.severity == b.severity);
        let mut this = Problems {
            file: file.into(),
            problems,
            source: source.to_owned(),
        };
        this.locate();
        this
    }

    fn locate(&mut self) {
        for p in &mut self.problems {
            let (line, column) = line_col(&self.source, p.span.start);
            p.line = line;
            p.column = column;
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.is_error())
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders every problem rustc-style. `color` adds ANSI colours.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for p in &self.problems {
            render_one(&mut out, &self.file, &self.source, p, color);
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        if errors + warnings > 0 {
            out.push_str(&format!(
                "{}: {} error{}, {} warning{}\n",
                self.file,
                errors,
                if errors == 1 { "" } else { "s" },
                warnings,
                if warnings == 1 { "" } else { "s" }
            ));
        }
        out
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn render_one(out: &mut String, file: &str, source: &str, p: &Problem, color: bool) {
    use anstyle::{AnsiColor, Style};
    let (sev, hue) = match p.severity {
        Severity::Error => ("error", AnsiColor::Red),
        Severity::Warning => ("warning", AnsiColor::Yellow),
    };
    let paint = |style: Style| {
        if color {
            style.render().to_string()
        } else {
            String::new()
        }
    };
    let bold = paint(Style::new().bold());
    let blue = paint(Style::new().bold().fg_color(Some(AnsiColor::Blue.into())));
    let sev_color = paint(Style::new().bold().fg_color(Some(hue.into())));
    let reset = if color {
        anstyle::Reset.render().to_string()
    } else {
        String::new()
    };
    out.push_str(&format!(
        "{sev_color}{sev}[{}]{reset}{bold}: {}{reset}\n",
        p.rule, p.message
    ));
    let gutter = p.line.to_string().len();
    let pad = " ".repeat(gutter);
    out.push_str(&format!(
        "{pad}{blue}-->{reset} {file}:{}:{}\n",
        p.line, p.column
    ));
    if !source.is_empty() {
        let start = floor_char_boundary(source, p.span.start.min(source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let text = source[line_start..line_end].trim_end_matches('\r');
        // A span may start past the line's visible end (inside trailing `\r`s).
        let text_end = line_end.min(line_start + text.len()).max(start);
        let end = floor_char_boundary(source, p.span.end.clamp(start, text_end));
        let lead: String = source[line_start..start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let width = source[start..end].chars().count().max(1);
        let mut label = String::new();
        if let Some(expected) = &p.expected {
            label = format!(" expected {expected}");
        }
        out.push_str(&format!("{pad} {blue}|{reset}\n"));
        let shown = if p.rule == Rule::SecretRef {
            mask_strings(text)
        } else {
            text.to_owned()
        };
        out.push_str(&format!("{blue}{}{reset} {blue}|{reset} {shown}\n", p.line));
        out.push_str(&format!(
            "{pad} {blue}|{reset} {lead}{sev_color}{}{label}{reset}\n",
            "^".repeat(width)
        ));
    }
    out.push_str(&format!(
        "{pad} {blue}={reset} key: {}\n",
        if p.key.is_empty() {
            "(top level)"
        } else {
            &p.key
        }
    ));
    if let Some(help) = &p.help {
        out.push_str(&format!("{pad} {blue}={reset} help: {help}\n"));
    }
    out.push('\n');
}

/// Replaces the characters inside string literals with `*`, keeping the width (so the caret
/// still lines up): a line that may hold a secret is shown without it.
fn mask_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push(c);
            }
            Some(_) => out.push('*'),
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        let pos = src.find("= 2").unwrap();
        assert_eq!(line_col(src, pos), (2, 4));
    }

    #[test]
    fn secret_lines_are_masked() {
        assert_eq!(mask_strings("DB = \"hunter2\" # x"), "DB = \"*******\" # x");
    }

    #[test]
    fn render_puts_a_caret_under_the_span() {
        let src = "[app]\nnmae = \"x\"\n";
        let p = Problem::error(Rule::UnknownKey, 6..10, "app.nmae", "unknown key `nmae`")
            .help("did you mean `name`?");
        let out = Problems::new("wharf.toml", src, vec![p]).render(false);
        assert!(out.contains("--> wharf.toml:2:1"), "{out}");
        assert!(out.contains("2 | nmae = \"x\"\n  | ^^^^\n"), "{out}");
        assert!(out.contains("help: did you mean `name`?"), "{out}");
    }
}
