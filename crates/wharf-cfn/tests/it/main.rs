//! The synthesized stacks: a matrix of manifests through cfn-lint and checkov, every IAM policy
//! walked for least privilege, snapshots, and the stacks created on the moto server.

mod iam;
mod kms;
mod lint;
mod matrix;
mod moto;
mod snapshots;
mod structure;
