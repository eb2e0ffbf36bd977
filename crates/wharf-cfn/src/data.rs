//! The data stack `{app}-{env}-data`: DynamoDB tables, RDS PostgreSQL, ElastiCache Redis, S3
//! buckets, SSM parameter trees and generated secrets — each reachable only from the services
//! bound to it, with the grants for exactly those services' task roles next to the resource.

use serde_json::{json, Value};
use wharf_manifest::{
    Billing, DataKind, DynamoTable, KeyType, Parameters, Postgres, Redis, SecretData,
};

use crate::baseline::deny_insecure_transport;
use crate::ctx::Ctx;
use crate::fns::{get_att, import, r, split, sub};
use crate::iam;
use crate::template::{logical_id, Resource, Template};

pub(crate) fn template(cx: &Ctx<'_>) -> Template {
    let mut t = Template::new(format!(
        "wharf data of {} / {}: stores, parameters and secrets, with their grants",
        cx.app(),
        cx.env.name
    ));
    for (name, kind) in cx.data_kinds() {
        match kind {
            DataKind::Dynamodb(d) => dynamodb(cx, &mut t, name, d),
            DataKind::Postgres(pg) => postgres(cx, &mut t, name, pg),
            DataKind::Redis(rd) => redis(cx, &mut t, name, rd),
            DataKind::S3(b) => bucket(cx, &mut t, name, b.versioning),
            DataKind::Parameters(ps) => parameters(cx, &mut t, name, ps),
            DataKind::Secret(s) => secret(cx, &mut t, name, s),
        }
    }
    crate::kms::encrypt_data(cx, &mut t);
    t
}

fn id(name: &str, suffix: &str) -> String {
    logical_id(&[name, suffix])
}

/// The physical name of a data resource: `{app}-{env}-{name}`.
fn physical(cx: &Ctx<'_>, name: &str) -> String {
    format!("{}-{name}", cx.prefix())
}

/// Attaches `statements` to the task roles of the services and jobs bound to `name` (nothing
/// when none is).
fn grant(cx: &Ctx<'_>, t: &mut Template, name: &str, statements: Vec<Value>) {
    let roles: Vec<Value> = cx.bound_roles(name).into_iter().map(|r| json!(r)).collect();
    if roles.is_empty() {
        return;
    }
    t.add(
        id(name, "Grant"),
        Resource::new(
            "AWS::IAM::Policy",
            json!({ "PolicyName": format!("{}-data-{name}", cx.prefix()), "Roles": roles, "PolicyDocument": iam::document(statements) }),
        ),
    );
}

/// A security group admitting `port` only from the services and jobs bound to `name` (its
/// description, which AWS cannot change in place, keeps saying services).
fn store_security_group(
    cx: &Ctx<'_>,
    t: &mut Template,
    name: &str,
    port: u16,
    what: &str,
) -> String {
    let sg = id(name, "SecurityGroup");
    let from = |export: String, who: String| {
        json!({
            "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "SourceSecurityGroupId": import(&cx.baseline_export(&export)),
            "Description": format!("{what} from {who}"),
        })
    };
    let ingress: Vec<Value> = cx
        .bound_services(name)
        .iter()
        .map(|s| {
            from(
                logical_id(&["service", &s.name, "SecurityGroup"]),
                format!("service {}", s.name),
            )
        })
        .chain(cx.bound_jobs(name).iter().map(|j| {
            from(
                logical_id(&["job", &j.name, "SecurityGroup"]),
                format!("job {}", j.name),
            )
        }))
        .collect();
    t.add(
        &sg,
        Resource::new(
            "AWS::EC2::SecurityGroup",
            json!({
                "GroupDescription": format!("{} {what} {name}: only from the services bound to it", cx.prefix()),
                "VpcId": import(&cx.baseline_export("VpcId")),
                "SecurityGroupIngress": ingress,
                "SecurityGroupEgress": [{ "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "CidrIp": "255.255.255.255/32", "Description": "a data store opens no connections" }],
                "Tags": cx.tags(&physical(cx, name)),
            }),
        ),
    );
    sg
}

fn database_subnets(cx: &Ctx<'_>) -> Value {
    split(",", import(&cx.baseline_export("DatabaseSubnets")))
}

/// Production data survives the stack; elsewhere `wharf down` removes it.
fn keep(cx: &Ctx<'_>, r: Resource) -> Resource {
    if cx.aws.prod {
        r.retain()
    } else {
        r.delete()
    }
}

fn key_type(k: KeyType) -> &'static str {
    match k {
        KeyType::S => "S",
        KeyType::N => "N",
        KeyType::B => "B",
    }
}

fn dynamodb(cx: &Ctx<'_>, t: &mut Template, name: &str, d: &DynamoTable) {
    let table = id(name, "Table");
    let mut attrs: Vec<(String, &str)> =
        vec![(d.partition_key.name.clone(), key_type(d.partition_key.ty))];
    let mut schema = vec![json!({ "AttributeName": d.partition_key.name, "KeyType": "HASH" })];
    if let Some(sk) = &d.sort_key {
        attrs.push((sk.name.clone(), key_type(sk.ty)));
        schema.push(json!({ "AttributeName": sk.name, "KeyType": "RANGE" }));
    }
    let throughput = match d.billing {
        Billing::Provisioned { rcu, wcu } => {
            Some(json!({ "ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu }))
        }
        Billing::OnDemand => None,
    };
    let gsis: Vec<Value> = d
        .gsi
        .iter()
        .map(|g| {
            attrs.push((g.partition_key.name.clone(), key_type(g.partition_key.ty)));
            let mut ks = vec![json!({ "AttributeName": g.partition_key.name, "KeyType": "HASH" })];
            if let Some(sk) = &g.sort_key {
                attrs.push((sk.name.clone(), key_type(sk.ty)));
                ks.push(json!({ "AttributeName": sk.name, "KeyType": "RANGE" }));
            }
            let mut gv = json!({
                "IndexName": g.name,
                "KeySchema": ks,
                "Projection": { "ProjectionType": if g.projection == "keys-only" { "KEYS_ONLY" } else { "ALL" } },
            });
            if let Some(tp) = &throughput {
                gv["ProvisionedThroughput"] = tp.clone();
            }
            gv
        })
        .collect();
    attrs.sort();
    attrs.dedup_by(|a, b| a.0 == b.0);
    let mut props = json!({
        "TableName": physical(cx, name),
        "AttributeDefinitions": attrs.iter().map(|(n, ty)| json!({ "AttributeName": n, "AttributeType": ty })).collect::<Vec<_>>(),
        "KeySchema": schema,
        "BillingMode": if throughput.is_some() { "PROVISIONED" } else { "PAY_PER_REQUEST" },
        "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": d.pitr },
        "SSESpecification": { "SSEEnabled": true },
        "DeletionProtectionEnabled": cx.aws.prod,
        "Tags": cx.tags(&physical(cx, name)),
    });
    if let Some(tp) = throughput {
        props["ProvisionedThroughput"] = tp;
    }
    if !gsis.is_empty() {
        props["GlobalSecondaryIndexes"] = json!(gsis);
    }
    if let Some(ttl) = &d.ttl {
        props["TimeToLiveSpecification"] = json!({ "AttributeName": ttl, "Enabled": true });
    }
    let mut res = keep(cx, Resource::new("AWS::DynamoDB::Table", props)).skip_check(
        "CKV_AWS_119",
        "encrypted at rest with the AWS-managed DynamoDB key",
    );
    if !d.pitr {
        res = res.skip_check(
            "CKV_AWS_28",
            "point-in-time recovery is off by the manifest's choice (pitr = false)",
        );
    }
    t.add(&table, res);
    grant(
        cx,
        t,
        name,
        vec![iam::allow(
            "UseTable",
            &[
                "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:ConditionCheckItem",
                "dynamodb:DeleteItem",
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
            ],
            vec![
                get_att(&table, "Arn"),
                sub(&format!("${{{table}.Arn}}/index/*")),
            ],
        )],
    );
    t.output(
        &id(name, "TableName"),
        &format!("DynamoDB table of {name}"),
        r(&table),
        Some(&cx.names.data_stack()),
    );
}

fn postgres(cx: &Ctx<'_>, t: &mut Template, name: &str, pg: &Postgres) {
    let db = id(name, "Database");
    let sg = store_security_group(cx, t, name, 5432, "PostgreSQL");
    let major = pg.version.split('.').next().unwrap_or("16");
    t.add(
        id(name, "SubnetGroup"),
        Resource::new(
            "AWS::RDS::DBSubnetGroup",
            json!({ "DBSubnetGroupDescription": format!("{} {name}: database subnets", cx.prefix()), "SubnetIds": database_subnets(cx), "Tags": cx.tags(&physical(cx, name)) }),
        ),
    );
    t.add(
        id(name, "ParameterGroup"),
        Resource::new(
            "AWS::RDS::DBParameterGroup",
            json!({
                "Description": format!("{} {name}: TLS only, slow statements logged", cx.prefix()),
                "Family": format!("postgres{major}"),
                "Parameters": { "rds.force_ssl": "1", "log_min_duration_statement": "1000" },
                "Tags": cx.tags(&physical(cx, name)),
            }),
        ),
    );
    t.add(
        id(name, "MonitoringRole"),
        Resource::new(
            "AWS::IAM::Role",
            json!({
                "AssumeRolePolicyDocument": iam::assume_role("monitoring.rds.amazonaws.com"),
                "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")],
                "Tags": cx.tags(&format!("{}-monitoring", physical(cx, name))),
            }),
        ),
    );
    let multi_az = pg.multi_az.unwrap_or(cx.aws.prod);
    let mut res = Resource::new(
        "AWS::RDS::DBInstance",
        json!({
            "DBInstanceIdentifier": physical(cx, name),
            "Engine": "postgres",
            "EngineVersion": engine_version(&pg.version),
            "DBInstanceClass": pg.instance,
            "AllocatedStorage": pg.storage.to_string(),
            "StorageType": "gp3",
            "StorageEncrypted": true,
            "DBName": pg.database,
            "MasterUsername": "wharf",
            "ManageMasterUserPassword": true,
            "MultiAZ": multi_az,
            "PubliclyAccessible": false,
            "DBSubnetGroupName": r(&id(name, "SubnetGroup")),
            "DBParameterGroupName": r(&id(name, "ParameterGroup")),
            "VPCSecurityGroups": [get_att(&sg, "GroupId")],
            "BackupRetentionPeriod": 7,
            "CopyTagsToSnapshot": true,
            "DeletionProtection": cx.aws.prod,
            "AutoMinorVersionUpgrade": true,
            "EnableIAMDatabaseAuthentication": true,
            "EnableCloudwatchLogsExports": ["postgresql"],
            "EnablePerformanceInsights": true,
            "MonitoringInterval": 60,
            "MonitoringRoleArn": get_att(&id(name, "MonitoringRole"), "Arn"),
            "Tags": cx.tags(&physical(cx, name)),
        }),
    )
    .snapshot()
    .skip_check(
        "CKV_AWS_354",
        "Performance Insights data is encrypted with the AWS-managed key",
    );
    if !multi_az {
        res = res.skip_check(
            "CKV_AWS_157",
            "single-AZ outside production (prod = false, multi_az not set)",
        );
    }
    if !cx.aws.prod {
        res = res.skip_check(
            "CKV_AWS_293",
            "deletion protection is for prod environments (prod = false); a final snapshot is kept",
        );
    }
    t.add(&db, res);
    // The execution role reads the RDS-managed master secret to hand it to the tasks. Its ARN
    // is only known once RDS made it (the engine reads it from DescribeDBInstances), so the
    // grant names RDS's secrets and narrows them to this instance's by the tag RDS sets.
    secret_grant(
        cx,
        t,
        name,
        "SecretGrant",
        "-secret",
        json!({
            "Sid": "ReadMasterSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [crate::fns::arn("secretsmanager", "secret:rds!db-*")],
            "Condition": { "StringEquals": { "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": crate::fns::arn("rds", &format!("db:{}", physical(cx, name))) } },
        }),
    );
    let ex = cx.names.data_stack();
    t.output(
        &id(name, "Host"),
        &format!("PostgreSQL endpoint of {name}"),
        get_att(&db, "Endpoint.Address"),
        Some(&ex),
    );
    t.output(
        &id(name, "Port"),
        &format!("PostgreSQL port of {name}"),
        get_att(&db, "Endpoint.Port"),
        Some(&ex),
    );
    t.output(
        &id(name, "Instance"),
        &format!("RDS instance of {name} (its master secret: DescribeDBInstances)"),
        r(&db),
        Some(&ex),
    );
}

/// Grants reading a secret to the execution role (which hands it to the tasks) and to the task
/// roles of the services bound to `name`.
fn secret_grant(
    cx: &Ctx<'_>,
    t: &mut Template,
    name: &str,
    id_suffix: &str,
    policy_suffix: &str,
    statement: Value,
) {
    let mut roles = vec![json!(cx.names.execution_role())];
    roles.extend(cx.bound_roles(name).into_iter().map(|r| json!(r)));
    t.add(
        id(name, id_suffix),
        Resource::new(
            "AWS::IAM::Policy",
            json!({
                "PolicyName": format!("{}-data-{name}{policy_suffix}", cx.prefix()),
                "Roles": roles,
                "PolicyDocument": iam::document(vec![statement]),
            }),
        ),
    );
}

/// A major version resolves to the newest minor wharf knows RDS creates (major-only versions
/// are refused for new instances); `major.minor` is used as written.
pub fn engine_version(v: &str) -> String {
    match v {
        "14" => "14.19",
        "15" => "15.14",
        "16" => "16.10",
        "17" => "17.6",
        other => other,
    }
    .to_owned()
}

fn redis(cx: &Ctx<'_>, t: &mut Template, name: &str, rd: &Redis) {
    let group = id(name, "Cache");
    let secret = id(name, "AuthSecret");
    let sg = store_security_group(cx, t, name, 6379, "Redis");
    t.add(
        &secret,
        Resource::new(
            "AWS::SecretsManager::Secret",
            json!({
                "Name": format!("{}/{}/{name}-auth", cx.app(), cx.env.name),
                "Description": format!("Redis AUTH token of {name}"),
                "GenerateSecretString": { "PasswordLength": 64, "ExcludePunctuation": true },
                "Tags": cx.tags(&physical(cx, name)),
            }),
        )
        .skip_check(
            "CKV_AWS_149",
            "encrypted with the AWS-managed Secrets Manager key",
        )
        .skip_check(
            "CKV2_AWS_57",
            "a Redis AUTH token rotates only together with the replication group",
        ),
    );
    t.add(
        id(name, "SubnetGroup"),
        Resource::new(
            "AWS::ElastiCache::SubnetGroup",
            json!({ "Description": format!("{} {name}: database subnets", cx.prefix()), "SubnetIds": database_subnets(cx), "Tags": cx.tags(&physical(cx, name)) }),
        ),
    );
    let failover = rd.replicas > 0;
    t.add(
        &group,
        Resource::new(
            "AWS::ElastiCache::ReplicationGroup",
            json!({
                "ReplicationGroupId": physical(cx, name),
                "ReplicationGroupDescription": format!("{} {name}", cx.prefix()),
                "Engine": "redis",
                "EngineVersion": rd.version,
                "CacheNodeType": rd.node_type,
                "NumCacheClusters": rd.replicas + 1,
                "AutomaticFailoverEnabled": failover,
                "MultiAZEnabled": failover,
                "TransitEncryptionEnabled": true,
                "AtRestEncryptionEnabled": true,
                "AuthToken": sub(&format!("{{{{resolve:secretsmanager:${{{secret}}}}}}}")),
                "CacheSubnetGroupName": r(&id(name, "SubnetGroup")),
                "SecurityGroupIds": [get_att(&sg, "GroupId")],
                "SnapshotRetentionLimit": 1,
                "AutoMinorVersionUpgrade": true,
                "Tags": cx.tags(&physical(cx, name)),
            }),
        )
        .snapshot()
        .skip_check(
            "CKV_AWS_191",
            "encrypted at rest with the AWS-managed ElastiCache key",
        ),
    );
    secret_grant(
        cx,
        t,
        name,
        "SecretGrant",
        "-auth",
        iam::allow(
            "ReadAuthToken",
            &["secretsmanager:GetSecretValue"],
            vec![r(&secret)],
        ),
    );
    let ex = cx.names.data_stack();
    t.output(
        &id(name, "Host"),
        &format!("Redis primary endpoint of {name}"),
        get_att(&group, "PrimaryEndPoint.Address"),
        Some(&ex),
    );
    t.output(
        &id(name, "Port"),
        &format!("Redis port of {name}"),
        get_att(&group, "PrimaryEndPoint.Port"),
        Some(&ex),
    );
    t.output(
        &id(name, "AuthSecretArn"),
        &format!("Redis AUTH token of {name}"),
        r(&secret),
        Some(&ex),
    );
}

fn bucket(cx: &Ctx<'_>, t: &mut Template, name: &str, versioning: bool) {
    let b = id(name, "Bucket");
    let bucket_name = format!("{}-{}", physical(cx, name), cx.aws.account);
    let mut res = keep(
        cx,
        Resource::new(
            "AWS::S3::Bucket",
            json!({
                "BucketName": bucket_name,
                "BucketEncryption": { "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms" }, "BucketKeyEnabled": true }] },
                "PublicAccessBlockConfiguration": { "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true },
                "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
                "VersioningConfiguration": { "Status": if versioning { "Enabled" } else { "Suspended" } },
                "LifecycleConfiguration": { "Rules": [{ "Id": "abort-incomplete-uploads", "Status": "Enabled", "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 7 } }] },
                "Tags": cx.tags(&bucket_name),
            }),
        ),
    )
    .skip_check("CKV_AWS_18", "server access logging is not configured by wharf; CloudTrail data events cover audits")
    .skip_check("CKV2_AWS_62", "nothing in wharf consumes bucket events");
    if !versioning {
        res = res.skip_check(
            "CKV_AWS_21",
            "versioning is off by the manifest's choice (versioning = false)",
        );
    }
    t.add(&b, res);
    t.add(
        id(name, "BucketPolicy"),
        Resource::new("AWS::S3::BucketPolicy", json!({ "Bucket": r(&b), "PolicyDocument": iam::document(vec![deny_insecure_transport(&bucket_name)]) })),
    );
    grant(
        cx,
        t,
        name,
        vec![
            iam::allow("ListBucket", &["s3:ListBucket"], vec![get_att(&b, "Arn")]),
            iam::allow(
                "UseObjects",
                &["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                vec![sub(&format!("${{{b}.Arn}}/*"))],
            ),
        ],
    );
    t.output(
        &id(name, "BucketName"),
        &format!("S3 bucket of {name}"),
        r(&b),
        Some(&cx.names.data_stack()),
    );
}

fn parameters(cx: &Ctx<'_>, t: &mut Template, name: &str, ps: &Parameters) {
    for (key, value) in &ps.values {
        t.add(
            logical_id(&[name, "Parameter", key]),
            Resource::new(
                "AWS::SSM::Parameter",
                json!({
                    "Name": format!("{}/{key}", ps.path),
                    "Type": "String",
                    "Value": value,
                    "Description": format!("{name}: {key}"),
                    "Tags": { "wharf.app": cx.app(), "wharf.env": cx.env.name },
                }),
            ),
        );
    }
    grant(
        cx,
        t,
        name,
        vec![iam::allow(
            "ReadParameterTree",
            &[
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:GetParametersByPath",
            ],
            vec![
                crate::fns::arn("ssm", &format!("parameter{}", ps.path)),
                crate::fns::arn("ssm", &format!("parameter{}/*", ps.path)),
            ],
        )],
    );
    t.output(
        &id(name, "Path"),
        &format!("Parameter tree of {name}"),
        json!(ps.path),
        Some(&cx.names.data_stack()),
    );
}

fn secret(cx: &Ctx<'_>, t: &mut Template, name: &str, s: &SecretData) {
    let sid = id(name, "Secret");
    t.add(
        &sid,
        keep(
            cx,
            Resource::new(
                "AWS::SecretsManager::Secret",
                json!({
                    "Name": format!("{}/{}/{name}", cx.app(), cx.env.name),
                    "Description": s.description.clone().unwrap_or_else(|| format!("{name}, generated by wharf")),
                    "GenerateSecretString": { "PasswordLength": s.length, "ExcludePunctuation": true },
                    "Tags": cx.tags(&physical(cx, name)),
                }),
            ),
        )
        .skip_check("CKV_AWS_149", "encrypted with the AWS-managed Secrets Manager key")
        .skip_check("CKV2_AWS_57", "a generated value the services share; rotate it by replacing the secret"),
    );
    secret_grant(
        cx,
        t,
        name,
        "Grant",
        "",
        iam::allow(
            "ReadSecret",
            &["secretsmanager:GetSecretValue"],
            vec![r(&sid)],
        ),
    );
    t.output(
        &id(name, "SecretArn"),
        &format!("Secret {name}"),
        r(&sid),
        Some(&cx.names.data_stack()),
    );
}
