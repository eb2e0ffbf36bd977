//! Integration tests of the manifest crate: each rule with a failing and a passing manifest,
//! how problems are reported, the examples, and the never-panics property test.

mod ci;
mod examples;
mod properties;
mod reach;
mod reporting;
mod rules;

use std::path::Path;

use wharf_manifest::{Manifest, Problems};

/// Parses `src` as `wharf.toml`.
pub fn parse(src: &str) -> (Option<Manifest>, Problems) {
    wharf_manifest::parse_str(src, "wharf.toml", Path::new("."))
}

/// A minimal valid local manifest; tests append to it.
pub const LOCAL: &str = r#"
[app]
name = "pulse"

[environments.local]
target = "local"
"#;

/// A minimal valid AWS environment, without services.
pub const AWS: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "eu-central-1"
account = "123456789012"
domain = "pulse.example.com"
hosted_zone = "example.com"
"#;

pub const WEB: &str = r#"
[services.web]
image = "hello:1"
port = 8000
"#;
