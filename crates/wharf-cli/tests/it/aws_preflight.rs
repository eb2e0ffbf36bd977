//! `wharf validate --remote`: the account's preflight against the moto server (through the
//! recording proxy), the environment up, then broken the ways accounts break: a parameter,
//! a secret's key and an image missing, a private subnet's default route deleted, a service's
//! ingress revoked; quotas from a replayed DescribeAccountLimits; the account guard; the
//! certificate (pending and not covering the domain; imported and about to expire).

use serde_json::Value;
use wharf_testkit::{moto, TestDir};

use crate::aws::aws_wharf;
use crate::aws_deploy::UpEnv;

const MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
egress = "nat"

[services.api]
image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ext/api:7"
port = 8000
count = 2
routing = { paths = ["/api/*"], priority = 1 }
secrets = { DB_URL = "ssm:/pulse/db-url", TOKEN = "secretsmanager:pulse/api:token" }
talks_to = ["worker"]

[services.worker]
image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ext/worker:1"
port = 9000
internal = true

[notify]
webhook = "ssm:/pulse/hook"
sns = "deploys"
"#;

/// The account's side of a healthy environment: the images, the parameter, the secret; and
/// the load balancer's egress rule to the public service, which moto's CloudFormation skips
/// (it has no AWS::EC2::SecurityGroupEgress).
const HEALTHY: &str = r#"
import json
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": "sha256:" + "0" * 64},
    "layers": []})
ecr = client('ecr')
for repo, tag in [('ext/api', '7'), ('ext/worker', '1')]:
    ecr.create_repository(repositoryName=repo)
    ecr.put_image(repositoryName=repo, imageTag=tag, imageManifest=manifest)
client('ssm').put_parameter(Name='/pulse/db-url', Value='postgres://db', Type='SecureString')
client('secretsmanager').create_secret(Name='pulse/api', SecretString=json.dumps({'token': 't'}))
client('ssm').put_parameter(Name='/pulse/hook', Value='https://hooks.example/T1/B2', Type='SecureString')
client('sns').create_topic(Name='deploys')
"#;

/// Outputs of the baseline as `out`, the security groups as `api` and `alb`; and the subnets'
/// route-table associations, which moto's CloudFormation records as resources but does not
/// make (the subnets would otherwise use the VPC's main table).
const OUTPUTS: &str = r#"
out = {o['OutputKey']: o['OutputValue'] for o in client('cloudformation').describe_stacks(StackName='pulse-test-baseline')['Stacks'][0]['Outputs']}
api = [v for k, v in out.items() if k.endswith('SecurityGroup') and 'Api' in k][0]
alb = out['LoadBalancerSecurityGroup']
ids = {r['LogicalResourceId']: r['PhysicalResourceId'] for r in client('cloudformation').list_stack_resources(StackName='pulse-test-baseline')['StackResourceSummaries']}
for i in (1, 2):
    client('ec2').associate_route_table(RouteTableId=ids[f'PrivateRouteTable{i}'], SubnetId=ids[f'PrivateSubnet{i}'])
"#;

const ALB_EGRESS: &str = r#"
client('ec2').authorize_security_group_egress(GroupId=alb, IpPermissions=[{'IpProtocol': 'tcp', 'FromPort': 8000, 'ToPort': 8000, 'UserIdGroupPairs': [{'GroupId': api}]}])
worker = [v for k, v in out.items() if k.endswith('SecurityGroup') and 'Worker' in k][0]
client('ec2').authorize_security_group_egress(GroupId=out['InternalLoadBalancerSecurityGroup'], IpPermissions=[{'IpProtocol': 'tcp', 'FromPort': 9000, 'ToPort': 9000, 'UserIdGroupPairs': [{'GroupId': worker}]}])
"#;

/// IAM's policy simulator (which moto lacks) deciding every question with `decision`, as the
/// IAM API reference shapes SimulatePrincipalPolicy's answer.
fn simulator(env: &UpEnv, decision: &str) {
    env.proxy.xml(
        "SimulatePrincipalPolicy",
        200,
        format!(
            r#"<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <SimulatePrincipalPolicyResult>
    <IsTruncated>false</IsTruncated>
    <EvaluationResults>
      <member>
        <MatchedStatements/>
        <MissingContextValues/>
        <EvalResourceName>*</EvalResourceName>
        <EvalDecision>{decision}</EvalDecision>
        <EvalActionName>ssm:GetParameters</EvalActionName>
      </member>
    </EvaluationResults>
  </SimulatePrincipalPolicyResult>
  <ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata>
</SimulatePrincipalPolicyResponse>"#
        ),
    );
}

fn findings(json: &Value) -> Vec<Value> {
    json["remote"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {json}"))
        .clone()
}

/// The findings of `check` at `level`.
fn at(json: &Value, check: &str, level: &str) -> Vec<Value> {
    findings(json)
        .into_iter()
        .filter(|f| f["check"] == check && f["level"] == level)
        .collect()
}

fn text(f: &Value) -> String {
    format!("{} {} {}", f["subject"], f["message"], f["fix"])
}

#[test]
fn a_healthy_environment_passes_every_check() {
    let env = UpEnv::new(MANIFEST);
    env.moto.boto3(HEALTHY);
    env.moto.boto3(&format!("{OUTPUTS}{ALB_EGRESS}"));
    simulator(&env, "allowed");
    let before = env.proxy.operations().len();
    // `wharf exec`'s client, the Session Manager plugin, on the PATH (a stand-in).
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let plugin = bin.join("session-manager-plugin");
    std::fs::write(&plugin, "#!/bin/sh\n").unwrap();
    let out = env
        .wharf()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .args(["--output", "json", "validate", "--remote"])
        .run();
    let json = out.success().json();
    let all = findings(&json);
    let failing: Vec<&Value> = all
        .iter()
        .filter(|f| f["level"] == "error" || f["level"] == "warning")
        .collect();
    assert!(failing.is_empty(), "findings: {failing:#?}");
    assert_eq!(json["remote"]["errors"], 0);
    assert_eq!(json["remote"]["identity"]["account"], "123456789012");
    for check in [
        "identity",
        "stacks",
        "image",
        "role",
        "secret",
        "egress",
        "security-group",
        "quota",
        "exec",
        "notify",
    ] {
        assert!(
            !at(&json, check, "ok").is_empty(),
            "no passing {check} finding: {all:#?}"
        );
    }
    // Both private subnets leave through their NAT gateway; both images are in ECR; the
    // execution role and each task role trust ECS tasks; both secrets resolve.
    let egress = at(&json, "egress", "ok");
    assert_eq!(egress.len(), 2, "{egress:#?}");
    assert!(
        egress
            .iter()
            .all(|f| text(f).contains("through NAT gateway nat-")),
        "{egress:#?}"
    );
    assert_eq!(at(&json, "image", "ok").len(), 2);
    assert_eq!(at(&json, "role", "ok").len(), 3);
    assert_eq!(at(&json, "secret", "ok").len(), 2);
    // The webhook's URL reads, the topic is there.
    assert_eq!(at(&json, "notify", "ok").len(), 2, "{all:#?}");
    assert!(at(&json, "secret", "ok")
        .iter()
        .any(|f| text(f).contains("holds key token")));
    // The internal worker is reached through the internal load balancer, whose listener
    // admits api (checked too: a missing caller rule would be an error).
    let sg = at(&json, "security-group", "ok");
    assert!(
        sg.iter().any(|f| f["subject"] == "service worker"
            && text(f).contains("from the internal load balancer")),
        "{sg:#?}"
    );
    // The certificate: no domain, so not checked.
    assert_eq!(at(&json, "certificate", "skipped").len(), 1);
    // The preflight only reads.
    let sent = env.proxy.operations()[before..].to_vec();
    assert!(sent.contains(&"DescribeRouteTables".to_owned()), "{sent:?}");
    let writes: Vec<&String> = sent
        .iter()
        .filter(|o| {
            !["Describe", "Get", "List", "Simulate"]
                .iter()
                .any(|r| o.starts_with(r))
        })
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn a_secret_the_execution_role_may_not_read_fails_the_preflight() {
    let env = UpEnv::new(MANIFEST);
    env.moto.boto3(HEALTHY);
    env.moto.boto3(&format!("{OUTPUTS}{ALB_EGRESS}"));
    simulator(&env, "implicitDeny");
    let out = env
        .wharf()
        .args(["--output", "json", "validate", "--remote"])
        .run();
    let json = out.code(1).json();
    let denied = at(&json, "secret", "error");
    assert_eq!(denied.len(), 2, "{:#?}", findings(&json));
    for f in &denied {
        assert!(
            text(f).contains("the execution role may not read it"),
            "{f:#}"
        );
        assert!(text(f).contains("implicitDeny"), "{f:#}");
        assert!(
            f["fix"]
                .as_str()
                .is_some_and(|x| x.contains("wharf up --env test")),
            "{f:#}"
        );
    }
}

#[test]
fn each_broken_reference_is_named_with_its_fix() {
    let env = UpEnv::new(MANIFEST);
    // The api's image is there; the worker's repository holds no tag 1; no parameter; the
    // secret lacks key `token`.
    env.moto.boto3(
        r#"
import json
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": "sha256:" + "0" * 64},
    "layers": []})
client('ecr').create_repository(repositoryName='ext/api')
client('ecr').put_image(repositoryName='ext/api', imageTag='7', imageManifest=manifest)
client('ecr').create_repository(repositoryName='ext/worker')
client('secretsmanager').create_secret(Name='pulse/api', SecretString=json.dumps({'other': 1}))
"#,
    );
    // The first private subnet loses its default route; the api's ingress from the load
    // balancer is revoked.
    env.moto.boto3(&format!(
        r#"{OUTPUTS}{ALB_EGRESS}
ec2 = client('ec2')
subnet = out['PrivateSubnets'].split(',')[0]
tables = ec2.describe_route_tables()['RouteTables']
table = [t for t in tables if any(a.get('SubnetId') == subnet for a in t.get('Associations', []))][0]
ec2.delete_route(RouteTableId=table['RouteTableId'], DestinationCidrBlock='0.0.0.0/0')
ec2.revoke_security_group_ingress(GroupId=api, IpPermissions=[{{'IpProtocol': 'tcp', 'FromPort': 8000, 'ToPort': 8000, 'UserIdGroupPairs': [{{'GroupId': alb}}]}}])
print(subnet)
"#
    ));
    // The account allows one target group per load balancer (DescribeAccountLimits as AWS
    // shapes it): a deployment of both services needs two.
    // and EC2 throttles the first route-table read (the hand-signed client retries).
    env.proxy.xml(
        "DescribeAccountLimits",
        200,
        r#"<DescribeAccountLimitsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeAccountLimitsResult><Limits><member><Name>rules-per-application-load-balancer</Name><Max>2</Max></member><member><Name>target-groups-per-application-load-balancer</Name><Max>1</Max></member></Limits></DescribeAccountLimitsResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeAccountLimitsResponse>"#,
    );
    env.proxy.throttle_burst("DescribeRouteTables", 1, false);
    let out = env
        .wharf()
        .args(["--output", "json", "validate", "--remote"])
        .run();
    let json = out.code(1).json();
    let errors = |check: &str| at(&json, check, "error");
    let one = |check: &str, needle: &str, fix: &str| {
        let hit = errors(check)
            .into_iter()
            .find(|f| text(f).contains(needle))
            .unwrap_or_else(|| panic!("no {check} error about {needle}: {:#?}", findings(&json)));
        assert!(
            hit["fix"].as_str().is_some_and(|f| f.contains(fix)),
            "{check} fix should say {fix:?}: {hit:#}"
        );
    };
    one(
        "image",
        "ext/worker:1 is not in repository ext/worker",
        "push the image",
    );
    one(
        "secret",
        "parameter /pulse/db-url does not exist",
        "aws ssm put-parameter",
    );
    one("secret", "not a JSON object with key token", "add token");
    one("egress", "has no default route", "wharf up --env test");
    one(
        "security-group",
        "does not admit port 8000",
        "wharf up --env test",
    );
    one(
        "quota",
        "0 of 1 used; a deployment of every service adds up to 2",
        "wharf gc",
    );
    // No webhook parameter, no topic: warnings, since a notice never fails a deploy.
    let notify = at(&json, "notify", "warning");
    assert_eq!(notify.len(), 2, "{notify:#?}");
    assert!(
        text(&notify[0]).contains("its URL cannot be read")
            && text(&notify[0])
                .contains("aws ssm put-parameter --region us-east-1 --name /pulse/hook"),
        "{notify:#?}"
    );
    assert!(
        text(&notify[1]).contains("sns topic arn:aws:sns:us-east-1:123456789012:deploys")
            && text(&notify[1]).contains("aws sns create-topic --region us-east-1 --name deploys"),
        "{notify:#?}"
    );
    // What was not broken still passes: the api's image, the second subnet, the roles.
    assert_eq!(at(&json, "image", "ok").len(), 1);
    assert_eq!(at(&json, "egress", "ok").len(), 1);
    assert_eq!(at(&json, "role", "ok").len(), 3);
    // Every error and warning carries a fix.
    for f in findings(&json) {
        if f["level"] == "error" || f["level"] == "warning" {
            assert!(
                f["fix"].as_str().is_some_and(|s| !s.is_empty()),
                "no fix: {f:#}"
            );
        }
    }
    // The throttled read was retried, and answered.
    let ops = env.proxy.log();
    let tables: Vec<_> = ops
        .iter()
        .filter(|r| r.operation == "DescribeRouteTables")
        .collect();
    assert_eq!(
        tables.len(),
        2,
        "one throttled, one answered (the preflight reads once)"
    );
    // The text form says the same, each failure with its fix.
    let text_out = env.wharf().args(["validate", "--remote"]).run();
    let stdout = text_out.code(1).stdout.clone();
    assert!(stdout.contains("FAIL egress"), "{stdout}");
    assert!(
        stdout.contains("fix: run `wharf up --env test`"),
        "{stdout}"
    );
}

#[test]
fn another_account_stops_the_preflight_at_the_guard() {
    let moto = moto();
    let dir = TestDir::new();
    dir.write(
        "wharf.toml",
        MANIFEST.replace("account = \"123456789012\"", "account = \"111111111111\""),
    );
    let out = aws_wharf(&dir, &moto.endpoint())
        .args(["--output", "json", "validate", "--remote"])
        .run();
    let json = out.code(8).json();
    let all = findings(&json);
    assert_eq!(all.len(), 1, "nothing is checked past the guard: {all:#?}");
    assert_eq!(all[0]["check"], "identity");
    assert_eq!(all[0]["level"], "error");
    assert!(text(&all[0]).contains("111111111111"), "{all:#?}");
    assert!(text(&all[0]).contains("--profile"), "{all:#?}");
}

/// The manifest with a domain (and a routed host) served with certificate `arn`.
fn with_certificate(arn: &str) -> TestDir {
    let dir = TestDir::new();
    dir.write(
        "wharf.toml",
        MANIFEST
            .replace(
                "egress = \"nat\"",
                &format!(
                    "egress = \"nat\"\ndomain = \"pulse.example.com\"\ncertificate = \"{arn}\""
                ),
            )
            .replace(
                "routing = { paths = [\"/api/*\"], priority = 1 }",
                "routing = { hosts = [\"api.example.com\"], paths = [\"/api/*\"], priority = 1 }",
            ),
    );
    dir
}

#[test]
fn a_pending_certificate_for_other_names_is_refused_twice() {
    let moto = moto();
    let arn = moto.boto3(
        "print(client('acm').request_certificate(DomainName='other.example.org', ValidationMethod='DNS')['CertificateArn'])",
    );
    let dir = with_certificate(arn.trim());
    let out = aws_wharf(&dir, &moto.endpoint())
        .args(["--output", "json", "validate", "--remote"])
        .run();
    let json = out.code(1).json();
    let errors = at(&json, "certificate", "error");
    assert!(
        errors
            .iter()
            .any(|f| text(f).contains("PENDING_VALIDATION, not ISSUED")),
        "{errors:#?}"
    );
    let uncovered = errors
        .iter()
        .find(|f| text(f).contains("does not cover"))
        .unwrap_or_else(|| panic!("{errors:#?}"));
    assert!(
        text(uncovered).contains("pulse.example.com")
            && text(uncovered).contains("api.example.com")
    );
    // The environment is not up: what needs its stacks is skipped, saying so.
    let skipped = at(&json, "egress", "skipped");
    assert!(
        skipped
            .iter()
            .any(|f| text(f).contains("wharf up --env test")),
        "{skipped:#?}"
    );
}

#[test]
fn an_imported_certificate_covering_every_host_passes_with_its_expiry_warned() {
    let moto = moto();
    // A self-signed certificate for *.example.com and example.com, ten days from expiry.
    let arn = moto.boto3(
        r#"
import datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'example.com')])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
    .not_valid_after(now + datetime.timedelta(days=10))
    .add_extension(x509.SubjectAlternativeName([x509.DNSName('*.example.com'), x509.DNSName('example.com')]), critical=False)
    .sign(key, hashes.SHA256()))
arn = client('acm').import_certificate(
    Certificate=cert.public_bytes(serialization.Encoding.PEM),
    PrivateKey=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))['CertificateArn']
print(arn)
"#,
    );
    let dir = with_certificate(arn.trim());
    let out = aws_wharf(&dir, &moto.endpoint())
        .args(["--output", "json", "validate", "--remote"])
        .run();
    let json = out.json();
    assert!(
        at(&json, "certificate", "error").is_empty(),
        "{:#?}",
        findings(&json)
    );
    let warned = at(&json, "certificate", "warning");
    assert_eq!(warned.len(), 1, "{:#?}", findings(&json));
    assert!(text(&warned[0]).contains("does not renew an imported certificate"));
}

#[test]
fn deploy_checks_first_and_changes_nothing_when_a_parameter_is_missing() {
    let env = UpEnv::new(MANIFEST);
    env.moto.boto3(HEALTHY);
    env.moto.boto3(&format!("{OUTPUTS}{ALB_EGRESS}"));
    env.moto
        .boto3("client('ssm').delete_parameter(Name='/pulse/db-url')\n");
    let before = env.proxy.operations().len();
    let out = env
        .wharf()
        .env_remove("WHARF_SKIP_PREFLIGHT")
        .args(["deploy", "api"])
        .run();
    assert_eq!(out.code, Some(1), "{out}");
    for want in [
        "FAIL secret",
        "parameter /pulse/db-url does not exist",
        "fix: create it: aws ssm put-parameter",
        "the preflight failed (above): nothing was changed",
        "--skip-preflight",
    ] {
        assert!(out.stderr.contains(want), "{want}: {out}");
    }
    // The fast part only: no certificate, role, security-group, quota or notify checks.
    let checks: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| {
            ["ok  ", "skip", "warn", "FAIL"]
                .iter()
                .any(|m| l.starts_with(m))
        })
        .filter_map(|l| l.get(5..).and_then(|r| r.split("  ").next()))
        .collect();
    for not in ["certificate", "role", "security group", "quota", "notify"] {
        assert!(!checks.contains(&not), "{not}: {checks:?} {out}");
    }
    for made in ["identity", "stacks", "image", "secret", "egress"] {
        assert!(checks.contains(&made), "{made}: {checks:?} {out}");
    }
    let sent = env.proxy.operations()[before..].to_vec();
    let writes: Vec<&String> = sent
        .iter()
        .filter(|o| !["Describe", "Get", "List"].iter().any(|r| o.starts_with(r)))
        .collect();
    assert!(writes.is_empty(), "nothing was changed: {writes:?}");
    let history: Value = env
        .wharf()
        .args(["history", "--output", "json"])
        .run()
        .success()
        .json();
    assert_eq!(history["deployments"], serde_json::json!([]), "{history}");

    // Told to go on regardless, it deploys.
    let out = env
        .wharf()
        .env_remove("WHARF_SKIP_PREFLIGHT")
        .args(["deploy", "api", "--skip-preflight"])
        .run();
    assert!(!out.stderr.contains("preflight"), "{out}");
    let history: Value = env
        .wharf()
        .args(["history", "--output", "json"])
        .run()
        .success()
        .json();
    assert_eq!(
        history["deployments"].as_array().map(Vec::len),
        Some(1),
        "{history}\n{out}"
    );

    // `up` checks the account and the stacks only: the missing parameter is not its business.
    let out = env
        .wharf()
        .env_remove("WHARF_SKIP_PREFLIGHT")
        .args(["up"])
        .run()
        .success();
    assert!(!out.stderr.contains("FAIL"), "{out}");
}
