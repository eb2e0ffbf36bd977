//! Opening an AWS environment's target: the environment read from its stacks' outputs, each
//! service's data bindings resolved, the state table and the clients ready.

use std::collections::BTreeMap;

use wharf_manifest::{Environment, Manifest, Names};

use crate::access::{Access, Identity};
use crate::ecs::env::resolve_bindings;
use crate::ecs::{AwsTarget, Clients, EnvOutputs};
use crate::error::AwsError;
use crate::stacks::Stacks;
use crate::state::DynamoStore;

impl AwsTarget {
    /// Reads the environment from its baseline and data stacks (the baseline must exist:
    /// `wharf up` first) as `identity` sees the account.
    pub async fn open(
        access: &Access,
        identity: &Identity,
        manifest: &Manifest,
        env: &Environment,
    ) -> Result<AwsTarget, AwsError> {
        let names = Names::new(&manifest.app.name, &env.name);
        let cfn = access.cloudformation();
        let quiet = |_| {};
        let stacks = Stacks::new(&cfn, &quiet);
        let mut outputs = BTreeMap::new();
        // The data stack's outputs are what data bindings read: none without data.
        let data = (!env.data.is_empty()).then(|| names.data_stack());
        for stack in std::iter::once(names.baseline_stack()).chain(data) {
            if let Some(info) = stacks.describe(&stack).await? {
                outputs.insert(stack, info.outputs.into_iter().collect());
            }
        }
        let services: Vec<&str> = env.services.keys().map(String::as_str).collect();
        let jobs: Vec<&str> = env.jobs.keys().map(String::as_str).collect();
        let region = access.config.region().map_or_else(
            || env.aws().map(|a| a.region.clone()).unwrap_or_default(),
            |r| r.to_string(),
        );
        let out = EnvOutputs::from_outputs(
            &manifest.app.name,
            &env.name,
            &region,
            &identity.account,
            &names.baseline_stack(),
            outputs,
            crate::ecs::env::Workloads {
                services: &services,
                jobs: &jobs,
            },
        )?;
        let rds = crate::wire::rds::Rds::new(&access.config);
        let mut bindings = BTreeMap::new();
        for s in env.services.keys() {
            let b = wharf_cfn::bindings::for_service(manifest, env, s);
            bindings.insert(s.clone(), resolve_bindings(&rds, &out, &b).await?);
        }
        let mut job_bindings = BTreeMap::new();
        for j in env.jobs.keys() {
            let b = wharf_cfn::bindings::for_job(manifest, env, j);
            job_bindings.insert(j.clone(), resolve_bindings(&rds, &out, &b).await?);
        }
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&access.config),
            out.state_table.clone(),
        );
        let mut target = AwsTarget::new(
            out,
            Clients::new(&access.config),
            store,
            manifest.root.clone(),
            bindings,
        );
        target.private = manifest.private_paths();
        target.job_bindings = job_bindings;
        Ok(target)
    }
}
