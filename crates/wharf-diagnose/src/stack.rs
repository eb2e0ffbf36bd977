//! A failed stack resource's reason, classified into a cause and the action that fixes it
//! (`wharf up`'s and `wharf recover`'s reports, and the stack rules of the catalog).
//!
//! CloudFormation gives a failed resource's reason only as text (`ResourceStatusReason`); each
//! pattern is covered by a test below.

use std::fmt;

use serde::Serialize;

/// Why a stack operation failed, as far as the reason tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A resource with the same name exists outside this stack.
    NameTaken,
    /// The deploying credentials lack a permission.
    Permissions,
    /// A service quota is reached.
    Quota,
    /// A property value AWS refused.
    InvalidProperty,
    /// A certificate is missing, not issued, or does not cover the domain.
    Certificate,
    /// A value this stack imports is not exported (another stack is missing).
    MissingExport,
    /// Something outside the stack still uses the resource or the export.
    InUse,
    /// A bucket or repository still holds objects or images.
    NotEmpty,
    /// The resource did not become ready in time (an ECS service that never stabilised, say).
    NotStabilized,
    /// AWS throttled CloudFormation's own calls.
    Throttled,
    /// Nothing in the reason matched a known pattern.
    Unknown,
}

impl Cause {
    /// What to do about it.
    pub const fn action(self) -> &'static str {
        match self {
            Cause::NameTaken => "delete or rename the existing resource (it is not part of this stack), or import it; then run `wharf up` again",
            Cause::Permissions => "grant the deploying role the action named in the reason (or deploy with --profile of a role that has it), then run `wharf up` again",
            Cause::Quota => "remove unused resources of that type or request a quota increase in the Service Quotas console, then run `wharf up` again",
            Cause::InvalidProperty => "correct the manifest setting behind this property (the reason names the value AWS refused); `wharf plan` shows the change",
            Cause::Certificate => "request or import the certificate in ACM in the environment's region, complete its DNS validation so it is ISSUED and covers the domain, then run `wharf up` again",
            Cause::MissingExport => "create the stack that exports this value first: `wharf up` creates baseline, data and edge in order",
            Cause::InUse => "remove what still uses it (another stack's import, a service or a network interface named in the reason), then run the command again",
            Cause::NotEmpty => "run `wharf down --purge` to empty wharf's own buckets and repositories, or empty them yourself",
            Cause::NotStabilized => "the resource never became ready: look at its own events (for ECS, `wharf status` and the stopped tasks' reasons), fix the cause, then `wharf recover`",
            Cause::Throttled => "CloudFormation was throttled: wait a minute and run `wharf recover` or `wharf up` again",
            Cause::Unknown => "read the reason above; `wharf recover --env E` brings the stack back to a state `wharf up` can continue from",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

impl Cause {
    /// The cause in a few words.
    pub const fn title(self) -> &'static str {
        match self {
            Cause::NameTaken => "name already taken",
            Cause::Permissions => "missing permission",
            Cause::Quota => "quota reached",
            Cause::InvalidProperty => "invalid property",
            Cause::Certificate => "certificate problem",
            Cause::MissingExport => "missing export",
            Cause::InUse => "still in use",
            Cause::NotEmpty => "not empty",
            Cause::NotStabilized => "did not stabilize",
            Cause::Throttled => "throttled",
            Cause::Unknown => "unclassified",
        }
    }
}

/// Classifies a failed resource's `ResourceStatusReason`.
pub fn classify(reason: &str) -> Cause {
    let r = reason.to_ascii_lowercase();
    let has = |s: &str| r.contains(s);
    if has("already exists") || has("alreadyexists") {
        Cause::NameTaken
    } else if has("not authorized to perform")
        || has("accessdenied")
        || has("access denied")
        || has("is not authorized")
    {
        Cause::Permissions
    } else if has("rate exceeded") || has("throttl") {
        Cause::Throttled
    } else if has("limitexceeded")
        || has("limit exceeded")
        || has("quota")
        || has("maximum number of")
        || has("too many")
    {
        Cause::Quota
    } else if has("no export named") {
        Cause::MissingExport
    } else if has("cannot be deleted as it is in use by")
        || has("resourceinuse")
        || has("dependencyviolation")
        || has("has a dependent object")
        || has("is currently in use")
    {
        Cause::InUse
    } else if has("bucketnotempty")
        || has("is not empty")
        || has("repositorynotempty")
        || has("still contains images")
    {
        Cause::NotEmpty
    } else if has("certificate") {
        Cause::Certificate
    } else if has("did not stabilize")
        || has("notstabilized")
        || has("timed out")
        || has("failed to stabilize")
    {
        Cause::NotStabilized
    } else if has("invalid") || has("validation") || has("must be") || has("malformed") {
        Cause::InvalidProperty
    } else {
        Cause::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_as_cloudformation_words_them() {
        let cases = [
            ("pulse-prod-web already exists in stack arn:aws:cloudformation:eu-central-1:123456789012:stack/old/1", Cause::NameTaken),
            ("Resource handler returned message: \"User: arn:aws:sts::123456789012:assumed-role/deploy/x is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/pulse-prod-exec\" (Service: Iam, Status Code: 403)", Cause::Permissions),
            ("The maximum number of VPCs has been reached. (Service: Ec2, Status Code: 400, Request ID: x)", Cause::Quota),
            ("Resource handler returned message: \"Rate exceeded (Service: ElasticLoadBalancingV2, Status Code: 400)\"", Cause::Throttled),
            ("No export named pulse-prod-baseline-VpcId found. Rollback requested by user.", Cause::MissingExport),
            ("Export pulse-prod-baseline-VpcId cannot be deleted as it is in use by pulse-prod-data", Cause::InUse),
            ("The bucket you tried to delete is not empty (Service: S3, Status Code: 409)", Cause::NotEmpty),
            ("Resource handler returned message: \"The repository with name 'pulse/web' in registry with id '123456789012' cannot be deleted because it still contains images\"", Cause::NotEmpty),
            ("Certificate 'arn:aws:acm:eu-central-1:123456789012:certificate/abc' not found (Service: ElasticLoadBalancingV2, Status Code: 400)", Cause::Certificate),
            ("Resource handler returned message: \"Exceeded attempts to wait\" (HandlerErrorCode: NotStabilized) ... Service did not stabilize", Cause::NotStabilized),
            ("Resource handler returned message: \"Invalid request provided: Invalid CPU or memory value specified\"", Cause::InvalidProperty),
            ("Something nobody has seen before", Cause::Unknown),
        ];
        for (reason, cause) in cases {
            assert_eq!(classify(reason), cause, "{reason}");
        }
        assert!(Cause::NotEmpty.action().contains("--purge"));
    }
}
