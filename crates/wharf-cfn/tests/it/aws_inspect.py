"""Creates stacks on an AWS endpoint (the moto server in tests) and reports what the service
APIs say exists, as JSON on stdout.

usage: aws_inspect.py ENDPOINT REGION STACK=TEMPLATE_FILE...
"""
import json
import sys

import boto3

endpoint, region = sys.argv[1], sys.argv[2]
stacks = [a.split("=", 1) for a in sys.argv[3:]]


def client(name):
    return boto3.client(name, endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")


report = {"stacks": {}}
cfn = client("cloudformation")
for name, path in stacks:
    with open(path) as f:
        cfn.create_stack(StackName=name, TemplateBody=f.read(), Capabilities=["CAPABILITY_NAMED_IAM"])
    s = cfn.describe_stacks(StackName=name)["Stacks"][0]
    report["stacks"][name] = {"status": s["StackStatus"], "outputs": {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}}

ec2 = client("ec2")
report["vpcs"] = [
    {"id": v["VpcId"], "cidr": v["CidrBlock"], "tags": {t["Key"]: t["Value"] for t in v.get("Tags", [])}}
    for v in ec2.describe_vpcs()["Vpcs"]
    if not v.get("IsDefault")
]
vpc_ids = {v["id"] for v in report["vpcs"]}
report["subnets"] = sorted(
    [
        {"cidr": s["CidrBlock"], "az": s["AvailabilityZone"], "public_ip": s["MapPublicIpOnLaunch"], "name": {t["Key"]: t["Value"] for t in s.get("Tags", [])}.get("Name")}
        for s in ec2.describe_subnets()["Subnets"]
        if s["VpcId"] in vpc_ids
    ],
    key=lambda s: s["cidr"],
)
report["security_groups"] = [
    {
        "id": g["GroupId"],
        "description": g["Description"],
        "ingress": [
            {
                "from": p.get("FromPort"),
                "to": p.get("ToPort"),
                "cidrs": [r["CidrIp"] for r in p.get("IpRanges", [])],
                "groups": [r["GroupId"] for r in p.get("UserIdGroupPairs", [])],
                "descriptions": [r.get("Description") for r in p.get("IpRanges", []) + p.get("UserIdGroupPairs", [])],
            }
            for p in g["IpPermissions"]
        ],
    }
    for g in ec2.describe_security_groups()["SecurityGroups"]
    if g.get("VpcId") in vpc_ids and g["GroupName"] != "default"
]
report["nat_gateways"] = len([n for n in ec2.describe_nat_gateways()["NatGateways"] if n["VpcId"] in vpc_ids])

elb = client("elbv2")
report["load_balancers"] = []
for lb in elb.describe_load_balancers()["LoadBalancers"]:
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    listeners = [
        {"port": l["Port"], "protocol": l["Protocol"], "default": [a["Type"] for a in l["DefaultActions"]],
         "status": [a.get("FixedResponseConfig", {}).get("StatusCode") for a in l["DefaultActions"]]}
        for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    ]
    report["load_balancers"].append({"name": lb["LoadBalancerName"], "scheme": lb["Scheme"], "attributes": attrs, "listeners": listeners})

ecs = client("ecs")
report["clusters"] = [
    {"name": c["clusterName"], "settings": c.get("settings", []), "capacity_providers": c.get("capacityProviders", [])}
    for c in ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"], include=["SETTINGS"])["clusters"]
]

ecr = client("ecr")
report["repositories"] = [
    {"name": r["repositoryName"], "mutability": r["imageTagMutability"], "scan_on_push": r.get("imageScanningConfiguration", {}).get("scanOnPush")}
    for r in ecr.describe_repositories()["repositories"]
]

logs = client("logs")
report["log_groups"] = {g["logGroupName"]: g.get("retentionInDays") for g in logs.describe_log_groups()["logGroups"]}

ddb = client("dynamodb")
report["tables"] = {}
for name in ddb.list_tables()["TableNames"]:
    t = ddb.describe_table(TableName=name)["Table"]
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    report["tables"][name] = {
        "keys": {k["AttributeName"]: k["KeyType"] for k in t["KeySchema"]},
        "billing": t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "pitr": pitr,
    }

ssm = client("ssm")
report["parameters"] = {
    p["Name"]: p["Value"] for p in ssm.get_parameters_by_path(Path="/", Recursive=True)["Parameters"]
}

iam = client("iam")
report["roles"] = {
    r["RoleName"]: iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"] for r in iam.list_roles()["Roles"]
}

s3 = client("s3")
report["buckets"] = {}


def maybe(f):
    """What the API answers, or None where it has nothing (moto drops some CloudFormation properties)."""
    try:
        return f()
    except Exception:
        return None


for b in s3.list_buckets()["Buckets"]:
    n = b["Name"]
    report["buckets"][n] = {
        "encryption": maybe(lambda: s3.get_bucket_encryption(Bucket=n)["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]),
        "versioning": maybe(lambda: s3.get_bucket_versioning(Bucket=n).get("Status")),
        "public_access_blocked": maybe(lambda: all(s3.get_public_access_block(Bucket=n)["PublicAccessBlockConfiguration"].values())),
        "policy": maybe(lambda: json.loads(s3.get_bucket_policy(Bucket=n)["Policy"])),
    }

rds = client("rds")
report["databases"] = [
    {"id": d["DBInstanceIdentifier"], "engine": d["Engine"], "encrypted": d["StorageEncrypted"], "multi_az": d["MultiAZ"],
     "backup_retention": d["BackupRetentionPeriod"], "public": d["PubliclyAccessible"], "subnet_group": d.get("DBSubnetGroup", {}).get("DBSubnetGroupName")}
    for d in rds.describe_db_instances()["DBInstances"]
]
report["parameter_groups"] = [g["DBParameterGroupFamily"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"] if not g["DBParameterGroupName"].startswith("default.")]

json.dump(report, sys.stdout, indent=1, sort_keys=True, default=str)
