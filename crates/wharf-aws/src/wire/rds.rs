//! RDS's DescribeDBInstances, the one RDS call wharf makes: the ARN of the master secret RDS
//! keeps for an instance (`ManageMasterUserPassword`), which a data binding hands to the
//! service's containers.

use serde::Deserialize;

use super::{read, Wire, RDS};
use crate::error::{AwsError, ErrorKind};

/// The Query API version every call names.
const VERSION: &str = "2014-10-31";

/// An RDS client.
#[derive(Debug, Clone)]
pub struct Rds {
    wire: Wire,
}

#[derive(Debug, Deserialize)]
struct Response {
    #[serde(rename = "DescribeDBInstancesResult")]
    result: Instances,
}

#[derive(Debug, Default, Deserialize)]
struct Instances {
    #[serde(rename = "DBInstances", default)]
    instances: List,
}

#[derive(Debug, Default, Deserialize)]
struct List {
    #[serde(rename = "DBInstance", default)]
    items: Vec<Instance>,
}

#[derive(Debug, Deserialize)]
struct Instance {
    #[serde(rename = "MasterUserSecret")]
    secret: Option<Secret>,
}

#[derive(Debug, Deserialize)]
struct Secret {
    #[serde(rename = "SecretArn")]
    arn: Option<String>,
}

impl Rds {
    pub fn new(config: &aws_config::SdkConfig) -> Rds {
        Rds {
            wire: Wire::new(config, RDS),
        }
    }

    /// The ARN of the instance's RDS-managed master secret, `None` when it has none.
    pub async fn master_secret_arn(&self, instance: &str) -> Result<Option<String>, AwsError> {
        let what = format!("describe database {instance}");
        let text = self
            .wire
            .query(
                "DescribeDBInstances",
                VERSION,
                &what,
                &[("DBInstanceIdentifier".into(), instance.to_owned())],
            )
            .await?;
        let r: Response = read(&text).map_err(|e| {
            AwsError::new(
                &what,
                ErrorKind::Other,
                format!("an answer wharf cannot read ({e})"),
            )
        })?;
        Ok(master_arn(r))
    }
}

fn master_arn(r: Response) -> Option<String> {
    r.result
        .instances
        .items
        .into_iter()
        .next()?
        .secret?
        .arn
        .filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_secret_reads_from_the_answer_aws_documents() {
        let xml = r#"<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeDBInstancesResult>
    <DBInstances>
      <DBInstance>
        <DBInstanceIdentifier>pulse-test-main</DBInstanceIdentifier>
        <Engine>postgres</Engine>
        <Endpoint><Address>db.example</Address><Port>5432</Port></Endpoint>
        <MasterUserSecret>
          <SecretArn>arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf</SecretArn>
          <SecretStatus>active</SecretStatus>
          <KmsKeyId>arn:aws:kms:eu-west-1:123456789012:key/k</KmsKeyId>
        </MasterUserSecret>
      </DBInstance>
    </DBInstances>
  </DescribeDBInstancesResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</DescribeDBInstancesResponse>"#;
        assert_eq!(
            master_arn(read(xml).expect("reads")).as_deref(),
            Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf")
        );
        let none = r#"<DescribeDBInstancesResponse><DescribeDBInstancesResult><DBInstances><DBInstance><DBInstanceIdentifier>x</DBInstanceIdentifier></DBInstance></DBInstances></DescribeDBInstancesResult></DescribeDBInstancesResponse>"#;
        assert_eq!(master_arn(read(none).expect("reads")), None);
    }
}
