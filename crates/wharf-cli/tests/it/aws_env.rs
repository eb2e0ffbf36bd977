//! An AWS environment on the moto server for the CLI's tests: the SDK configuration, moto's
//! outputs evaluated after `wharf up`, and [`UpEnv`], an environment up behind a recording
//! proxy.

use wharf_testkit::{moto, Replay, TestDir};

use crate::aws::aws_wharf;

/// A manifest of app `pulse` with an AWS environment `test` on the moto server (us-east-1,
/// two AZs, VPC endpoints), `$rest` after it: the header the AWS tests share.
macro_rules! moto_manifest {
    ($rest:literal) => {
        concat!(
            "\n[app]\nname = \"pulse\"\n\n[environments.test]\ntarget = \"aws\"\nregion = \"us-east-1\"\naccount = \"123456789012\"\nazs = 2\negress = \"endpoints\"\n",
            $rest
        )
    };
}
pub(crate) use moto_manifest;

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub async fn config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// moto's ExecuteChangeSet creates the resources but never evaluates the stack's outputs (its
/// UpdateStack does): after `wharf up`, the same template is applied once more with UpdateStack
/// so moto has the outputs AWS would have. A test-side workaround; wharf itself is unchanged.
pub fn moto_evaluates_outputs(endpoint: &str) {
    rt().block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&config(endpoint).await);
        for stack in ["pulse-test-baseline", "pulse-test-data"] {
            // The data stack exists only when the manifest has data.
            let Ok(got) = cfn.get_template().stack_name(stack).send().await else {
                assert_ne!(stack, "pulse-test-baseline", "the baseline exists");
                continue;
            };
            cfn.update_stack()
                .stack_name(stack)
                .template_body(got.template_body.expect("body"))
                .send()
                .await
                .expect("update");
        }
    });
}

/// An AWS environment up on the moto server, reached through a recording proxy: the
/// manifest written, `wharf up` run, moto's outputs evaluated.
pub struct UpEnv {
    pub moto: wharf_testkit::moto::MotoGuard,
    pub proxy: Replay,
    pub dir: TestDir,
}

impl UpEnv {
    pub fn new(manifest: &str) -> UpEnv {
        let moto = moto();
        let proxy = Replay::start();
        proxy.forward_to(moto.port);
        let dir = TestDir::new();
        dir.write("wharf.toml", manifest);
        aws_wharf(&dir, &proxy.endpoint())
            .args(["-q", "up"])
            .run()
            .success();
        moto_evaluates_outputs(&moto.endpoint());
        UpEnv { moto, proxy, dir }
    }

    /// Sets the VPCs' `EnableDnsHostnames` as AWS would have: moto's CloudFormation ignores
    /// it, and its RunTask needs it (it names the task's network interface by its private DNS
    /// name). wharf is unchanged.
    pub fn with_dns_hostnames(self) -> UpEnv {
        self.moto.boto3(
            "ec2 = client('ec2')\n\
             for v in ec2.describe_vpcs()['Vpcs']:\n    \
             ec2.modify_vpc_attribute(VpcId=v['VpcId'], EnableDnsHostnames={'Value': True})\n",
        );
        self
    }

    /// The ids of `service`'s deployments in the state table, oldest first.
    pub fn deployments(&self, service: &str) -> Vec<String> {
        let history = self
            .wharf()
            .args(["history", "--output", "json"])
            .run()
            .success()
            .json();
        crate::aws_deploy::ids(&history, service)
    }

    /// `wharf` pointed at the proxy.
    pub fn wharf(&self) -> wharf_testkit::Cmd {
        aws_wharf(&self.dir, &self.proxy.endpoint())
    }
}
