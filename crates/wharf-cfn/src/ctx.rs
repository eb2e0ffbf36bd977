//! What every stack builder needs: the manifest, the AWS environment, names and tags.

use serde_json::Value;
use wharf_manifest::{AwsEnv, DataKind, Environment, Job, Manifest, Names, SecretRef, Service};

use crate::template::tags;

pub(crate) struct Ctx<'a> {
    pub manifest: &'a Manifest,
    pub env: &'a Environment,
    pub aws: &'a AwsEnv,
    pub names: Names<'a>,
}

impl<'a> Ctx<'a> {
    pub fn new(manifest: &'a Manifest, env: &'a Environment) -> Option<Self> {
        let aws = env.aws()?;
        Some(Ctx {
            manifest,
            env,
            aws,
            names: Names::new(&manifest.app.name, &env.name),
        })
    }

    pub fn app(&self) -> &str {
        &self.manifest.app.name
    }

    /// `{app}-{env}`, the prefix of most names.
    pub fn prefix(&self) -> String {
        self.names.cluster()
    }

    /// The tags every taggable resource carries, plus a Name.
    pub fn tags(&self, name: &str) -> Value {
        tags(&[
            ("Name", name),
            ("wharf.app", self.app()),
            ("wharf.env", &self.env.name),
        ])
    }

    /// Tags of a service's resource.
    pub fn service_tags(&self, name: &str, service: &str) -> Value {
        tags(&[
            ("Name", name),
            ("wharf.app", self.app()),
            ("wharf.env", &self.env.name),
            ("wharf.service", service),
        ])
    }

    /// Tags of a job's resource.
    pub fn job_tags(&self, name: &str, job: &str) -> Value {
        tags(&[
            ("Name", name),
            ("wharf.app", self.app()),
            ("wharf.env", &self.env.name),
            ("wharf.job", job),
        ])
    }

    /// Jobs in name order.
    pub fn jobs(&self) -> impl Iterator<Item = &'a Job> {
        self.env.jobs.values()
    }

    /// Services in name order.
    pub fn services(&self) -> impl Iterator<Item = &'a Service> {
        self.env.services.values()
    }

    /// Whether a data store needs the database subnets.
    pub fn has_database_subnets(&self) -> bool {
        self.env
            .data
            .values()
            .any(|d| d.kind.needs_database_subnets())
    }

    /// Export name of a baseline output, for the data and edge stacks to import.
    pub fn baseline_export(&self, output: &str) -> String {
        format!("{}-{output}", self.names.baseline_stack())
    }

    /// The secret references of every service and job (for the execution role).
    pub fn secret_refs(&self) -> Vec<&'a SecretRef> {
        let mut v: Vec<&SecretRef> = self
            .env
            .services
            .values()
            .flat_map(|s| s.secrets.values().chain(s.deploy.drain.secret.iter()))
            .chain(self.env.jobs.values().flat_map(|j| j.secrets.values()))
            .collect();
        v.sort_by_key(|r| r.to_string());
        v.dedup();
        v
    }

    /// Services (and their names) bound to a data resource.
    pub fn bound_services(&self, data: &str) -> Vec<&'a Service> {
        self.env
            .services
            .values()
            .filter(|s| s.data.iter().any(|d| d == data))
            .collect()
    }

    /// Jobs bound to a data resource.
    pub fn bound_jobs(&self, data: &str) -> Vec<&'a Job> {
        self.env
            .jobs
            .values()
            .filter(|j| j.data.iter().any(|d| d == data))
            .collect()
    }

    /// The task roles of the services and jobs bound to a data resource.
    pub fn bound_roles(&self, data: &str) -> Vec<String> {
        self.bound_services(data)
            .iter()
            .map(|s| self.names.task_role(&s.name))
            .chain(
                self.bound_jobs(data)
                    .iter()
                    .map(|j| self.names.task_role(&j.name)),
            )
            .collect()
    }

    pub fn data_kinds(&self) -> impl Iterator<Item = (&'a str, &'a DataKind)> {
        self.env.data.values().map(|d| (d.name.as_str(), &d.kind))
    }
}
