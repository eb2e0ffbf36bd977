//! The SDK clients the AWS target uses, made from one configuration, and the endpoint they
//! were pointed at (an emulator's, in tests).

/// The SDK clients the target uses.
#[derive(Debug, Clone)]
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub cw: aws_sdk_cloudwatch::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub scaling: aws_sdk_applicationautoscaling::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    /// SSM, by hand ([`crate::wire`]).
    pub ssm: crate::wire::ssm::Ssm,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Deployment notices to an SNS topic.
    pub sns: aws_sdk_sns::Client,
    /// The environment's stacks, read by `wharf diagnose`.
    pub cfn: aws_sdk_cloudformation::Client,
    /// The endpoint every client was pointed at (an emulator), if not AWS's own.
    pub endpoint: Option<String>,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Clients {
            ecs: aws_sdk_ecs::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            cw: aws_sdk_cloudwatch::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            scaling: aws_sdk_applicationautoscaling::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            scheduler: aws_sdk_scheduler::Client::new(config),
            ssm: crate::wire::ssm::Ssm::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            cfn: aws_sdk_cloudformation::Client::new(config),
            endpoint: config.endpoint_url().map(str::to_owned),
        }
    }
}
