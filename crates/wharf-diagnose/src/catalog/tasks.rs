//! Tasks that never start or stop at once: the image pull, the resources a task needs before
//! it starts (secrets, the log group), the command, memory, the process ending.

use wharf_engine::Source::{self, *};

use super::detail::{exit_code, missing_action};
use crate::rule::{Matcher, Rule};

/// Where a task's fate is told: its stop reason, the scheduler's events, the record's reason
/// (which quotes the last stop reason). Not ECS giving up: that quotes one too, and is its own
/// rule.
pub const TASK: &[Source] = &[Stopped, Event, Record];

const fn task(all: &'static [&'static str], any: &'static [&'static str]) -> Matcher {
    Matcher::Text {
        sources: TASK,
        all,
        any,
        none: &[],
    }
}

pub static RULES: &[Rule] = &[
    Rule {
        id: "pull-platform",
        title: "the image has no build for the task's platform",
        cause: "the image was built for another CPU architecture or OS than the task runs on (an arm64 image on x86_64 Fargate, or the reverse)",
        fix: "build the image for linux/amd64, the platform wharf's tasks run on (`docker build --platform linux/amd64`, or build in CI on x86_64), or push a multi-platform image; then `wharf deploy`",
        matcher: task(&[], &["does not contain descriptor matching platform", "no matching manifest for"]),
        example: (Stopped, "CannotPullContainerError: pull image manifest has been retried 5 time(s): image Manifest does not contain descriptor matching platform 'linux/amd64'"),
        detail: None,
    },
    Rule {
        id: "pull-no-route",
        title: "the task cannot reach the image registry",
        cause: "the task's subnets have no route to ECR: private subnets without a NAT gateway or the ECR and S3 VPC endpoints, or a public subnet without a public IP; a security group without outbound HTTPS does the same",
        fix: "give the environment's private subnets a way out: `egress = \"nat\"` (or `\"endpoints\"`, which adds the ECR, S3, logs and secrets endpoints) in the environment, and keep outbound 443 open in the service's security group; then `wharf up` and `wharf deploy`",
        matcher: Matcher::Text {
            sources: TASK,
            all: &[],
            any: &["i/o timeout", "request canceled while waiting for connection", "client.timeout exceeded", "context deadline exceeded", "dial tcp", "network is unreachable"],
            none: &["asm", "secretsmanager", "ssm", "parameter", "log stream", "logger"],
        },
        example: (Stopped, "CannotPullContainerError: Error response from daemon: Get https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/: net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)"),
        detail: None,
    },
    Rule {
        id: "pull-rate-limit",
        title: "the public registry refused the pull: rate limit",
        cause: "Docker Hub limits anonymous pulls per source IP, and every task behind one NAT gateway shares that IP",
        fix: "push the image to ECR (let `wharf deploy` build it, or set up an ECR pull-through cache for Docker Hub) instead of pulling from Docker Hub at every task start",
        matcher: task(&[], &["toomanyrequests", "pull rate limit"]),
        example: (Stopped, "CannotPullContainerError: inspect image has been retried 1 time(s): httpReaderSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/latest: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit."),
        detail: None,
    },
    Rule {
        id: "pull-denied",
        title: "the registry refused the pull: not authorized",
        cause: "the task execution role may not pull from the repository (ecr:GetAuthorizationToken, ecr:BatchGetImage, ecr:GetDownloadUrlForLayer), the repository policy refuses the account, or a private registry needs credentials",
        fix: "let wharf manage the execution role (`wharf up` grants ECR pulls on the app's repositories); for another account's repository add a repository policy allowing this account; an image in a private registry elsewhere: push it to ECR (let `wharf deploy` build it)",
        matcher: task(&[], &["pull access denied", "no basic auth credentials", "403 forbidden", "ecr:getauthorizationtoken", "ecr:batchgetimage", "ecr:getdownloadurlforlayer", "unauthorized: authentication required"]),
        example: (Stopped, "CannotPullContainerError: pull access denied for 123456789012.dkr.ecr.eu-west-1.amazonaws.com/pulse/web, repository does not exist or may require 'docker login': denied: User: arn:aws:sts::123456789012:assumed-role/pulse-prod-exec/abc is not authorized to perform: ecr:BatchGetImage"),
        detail: Some(missing_action),
    },
    Rule {
        id: "pull-not-found",
        title: "the image or its tag does not exist",
        cause: "the repository or the tag the task definition names is not in the registry: never pushed, deleted by a lifecycle rule, or a typo in `image`",
        fix: "check the service's `image` (or let `wharf deploy` build and push it); `aws ecr describe-images --repository-name R` lists what exists",
        matcher: task(&["cannotpullcontainererror"], &["not found", "manifest unknown", "does not exist", "name unknown", "repositorynotfound"]),
        example: (Stopped, "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/pulse/web:20261202: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/pulse/web:20261202: not found"),
        detail: None,
    },
    Rule {
        id: "pull-disk-full",
        title: "the image does not fit on the task's disk",
        cause: "the image unpacked is larger than the task's ephemeral storage (20 GiB by default on Fargate)",
        fix: "make the image smaller: a multi-stage build that leaves build tools, caches and test data out of the final image",
        matcher: task(&[], &["no space left on device"]),
        example: (Stopped, "CannotPullContainerError: failed to register layer: Error processing tar file(exit status 1): write /usr/lib/libLLVM.so: no space left on device"),
        detail: None,
    },
    Rule {
        id: "secret-no-route",
        title: "the task cannot reach Secrets Manager or SSM to read its secrets",
        cause: "the task's subnets have no route to the Secrets Manager or SSM endpoints (no NAT gateway, no interface endpoints)",
        fix: "give the private subnets a way out: `egress = \"nat\"` or `\"endpoints\"` (which adds the Secrets Manager and SSM endpoints) in the environment; then `wharf up` and `wharf deploy`",
        matcher: task(&[], &["unable to retrieve secret", "unable to retrieve secrets", "unable to pull secrets", "retrieve ssm"]).and_any(&["i/o timeout", "dial tcp", "request canceled", "deadline exceeded"]),
        example: (Stopped, "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 5 time(s): RequestError: send request failed caused by: Post \"https://secretsmanager.eu-west-1.amazonaws.com/\": dial tcp 10.0.0.12:443: i/o timeout"),
        detail: None,
    },
    Rule {
        id: "secret-kms",
        title: "the secret's KMS key refuses the execution role",
        cause: "the secret or parameter is encrypted with a customer-managed KMS key whose key policy (or the role's policy) does not allow kms:Decrypt for the task execution role",
        fix: "allow kms:Decrypt on the key for the environment's execution role (its ARN is in `wharf status --output json`), in the key policy; then `wharf deploy`",
        matcher: task(&[], &["kms", "ciphertext refers to a customer master key"]),
        example: (Stopped, "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: Access to KMS is not allowed"),
        detail: Some(missing_action),
    },
    Rule {
        id: "secret-missing",
        title: "a secret the task references does not exist",
        cause: "a `secrets` entry names an SSM parameter or a Secrets Manager secret (or a JSON key in it) that is not there, in this region and account",
        fix: "create it (`aws ssm put-parameter --type SecureString …` or `aws secretsmanager create-secret …`) or correct the reference in `[services.S.secrets]`; `wharf validate --remote` checks every reference",
        matcher: task(&[], &["parameternotfound", "invalid parameters", "secrets manager can't find", "resourcenotfoundexception", "does not exist in secret"]).without(&["log group", "log stream"]),
        example: (Stopped, "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid parameters: /pulse/prod/DATABASE_URL"),
        detail: None,
    },
    Rule {
        id: "secret-denied",
        title: "the execution role may not read a secret",
        cause: "the task execution role lacks ssm:GetParameters or secretsmanager:GetSecretValue on the secret it references (a secret wharf did not grant: another path or another account)",
        fix: "reference secrets under the app's own path (wharf grants `/APP/ENV/*` and the secrets it names), or add the missing permission to the execution role; `wharf validate --remote` checks each reference",
        matcher: task(&[], &["unable to retrieve secret", "unable to retrieve secrets", "unable to pull secrets", "secretsmanager:getsecretvalue", "ssm:getparameters"]).and_any(&["accessdenied", "not authorized"]),
        example: (Stopped, "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/pulse-prod-exec/abc is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-AbCdEf"),
        detail: Some(missing_action),
    },
    Rule {
        id: "log-group",
        title: "the task cannot write to its log group",
        cause: "the awslogs log group does not exist (deleted by hand) or the execution role may not create streams in it",
        fix: "run `wharf up` to put back the environment's log group and the execution role's logs permissions, then `wharf deploy`",
        matcher: task(&[], &["failed to create cloudwatch log stream", "failed to validate logger args", "log group does not exist", "logs:createlogstream"]),
        example: (Stopped, "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist."),
        detail: None,
    },
    Rule {
        id: "exec-format",
        title: "the image's binary is for another CPU architecture",
        cause: "the executable in the image was built for another architecture than the task runs on (typically arm64 from an Apple-silicon laptop on x86_64 Fargate): the kernel cannot run it",
        fix: "build the image for linux/amd64, the platform wharf's tasks run on (`docker build --platform linux/amd64`, or build in CI on x86_64), then `wharf deploy`",
        matcher: Matcher::Text { sources: &[], all: &["exec format error"], any: &[], none: &[] },
        example: (Log, "exec /app/server: exec format error"),
        detail: None,
    },
    Rule {
        id: "command-not-found",
        title: "the container's command does not exist in the image",
        cause: "the entrypoint or command names a file that is not in the image or not on its PATH (a wrong `command`, a binary copied elsewhere, a script without its interpreter)",
        fix: "correct the service's `command` or the image's ENTRYPOINT/CMD; `docker run --rm IMAGE` locally shows the same error",
        matcher: Matcher::Text { sources: &[], all: &[], any: &["executable file not found", "no such file or directory: unknown", "unable to start container process: exec:", "starting container process caused"], none: &["exec format error"] },
        example: (Stopped, "CannotStartContainerError: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/app/serve\": stat /app/serve: no such file or directory: unknown"),
        detail: None,
    },
    Rule {
        id: "out-of-memory",
        title: "the container ran out of memory and was killed",
        cause: "the process used more than the task's memory (the service's `memory`): a leak, a load above what was sized, or a runtime (JVM, Node) sized for a larger machine",
        fix: "raise the service's `memory` (Fargate pairs it with `cpu`), or cap the runtime's heap below it (-Xmx, --max-old-space-size); `wharf logs --deployment ID` shows what it was doing",
        matcher: task(&[], &["outofmemory", "out of memory", "oom killed", "oomkilled"]),
        example: (Stopped, "OutOfMemoryError: Container killed due to memory usage"),
        detail: None,
    },
    Rule {
        id: "exited-zero",
        title: "the essential container ended with exit code 0",
        cause: "the process finished instead of serving: a command that runs once, a server started in the background (daemonised), or a shell script that does not `exec` the server",
        fix: "run the server in the foreground as the container's main process (`exec server` at the end of a script; no `&`, no daemon mode); a task that should end is a job (`[jobs.NAME]`), not a service",
        matcher: task(&[], &["exited with code 0", "exit code 0)", "exit code: 0"]).without(&["hook failed"]),
        example: (Stopped, "Essential container in task exited; web: exited with code 0"),
        detail: None,
    },
    Rule {
        id: "essential-exited",
        title: "the essential container exited",
        cause: "the application stopped with an error: its last log lines say why (a crash at start, a setting it needs, a dependency it cannot reach)",
        fix: "read the last log lines below (`wharf logs --deployment ID` has them all), fix the application or its settings, then `wharf deploy`; `wharf deploy --local` reproduces it on this machine",
        matcher: task(&[], &["essential container", "exited with code", "exit code"]).without(&["hook failed"]),
        example: (Stopped, "Essential container in task exited; web: exited with code 3"),
        detail: Some(exit_code),
    },
];
