//! `wharf render --env E`: the CloudFormation templates wharf would deploy, as YAML or JSON.

use std::fmt;

use serde::Serialize;
use wharf_cfn::{Stack, StackKind};

use crate::cli::{Global, RenderArgs, StackArg, TemplateFormat};
use crate::commands::{load, pick_env};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

/// The rendered templates (JSON output: stack name, kind and template object).
#[derive(Debug, Serialize)]
pub struct Rendered {
    pub stacks: Vec<RenderedStack>,
    #[serde(skip)]
    format: TemplateFormat,
    #[serde(skip)]
    written: bool,
}

#[derive(Debug, Serialize)]
pub struct RenderedStack {
    pub name: String,
    pub kind: StackKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub template: serde_json::Value,
    #[serde(skip)]
    text: String,
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.stacks.iter().enumerate() {
            if self.written {
                writeln!(
                    f,
                    "wrote {} ({})",
                    s.file.as_deref().unwrap_or_default(),
                    s.name
                )?;
                continue;
            }
            if self.stacks.len() > 1 {
                match self.format {
                    TemplateFormat::Yaml => {
                        writeln!(f, "{}# stack {}", if i > 0 { "---\n" } else { "" }, s.name)?
                    }
                    TemplateFormat::Json if i > 0 => writeln!(f)?,
                    TemplateFormat::Json => {}
                }
            }
            f.write_str(&s.text)?;
        }
        Ok(())
    }
}

pub fn run(global: &Global, printer: &Printer, args: &RenderArgs) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let env = pick_env(global, &loaded.manifest)?;
    let stacks: Vec<Stack> = match args.stack {
        Some(kind) => vec![wharf_cfn::stack(&loaded.manifest, env, kind_of(kind))?],
        None => wharf_cfn::synthesize(&loaded.manifest, env)?,
    };
    let ext = match args.format {
        TemplateFormat::Json => "json",
        TemplateFormat::Yaml => "yaml",
    };
    let mut out = Rendered {
        stacks: Vec::new(),
        format: args.format,
        written: args.out_dir.is_some(),
    };
    for s in stacks {
        let text = match args.format {
            TemplateFormat::Json => s.template.to_json(),
            TemplateFormat::Yaml => s.template.to_yaml(),
        };
        let file = match &args.out_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
                    path: dir.clone(),
                    source,
                })?;
                let path = dir.join(format!("{}.{ext}", s.name));
                std::fs::write(&path, &text).map_err(|source| CliError::Write {
                    path: path.clone(),
                    source,
                })?;
                Some(path.display().to_string())
            }
            None => None,
        };
        let template =
            serde_json::to_value(&s.template).map_err(|e| CliError::Stdout { source: e.into() })?;
        out.stacks.push(RenderedStack {
            name: s.name,
            kind: s.kind,
            file,
            template,
            text,
        });
    }
    printer.result(&out)?;
    Ok(ExitStatus::Success)
}

fn kind_of(s: StackArg) -> StackKind {
    match s {
        StackArg::Baseline => StackKind::Baseline,
        StackArg::Data => StackKind::Data,
        StackArg::Edge => StackKind::Edge,
    }
}
