//! The calls wharf signs by hand instead of building their SDK crates ([`wharf_aws::wire`]),
//! against the moto server: SSM's GetParameter (JSON API, decrypted or not, a missing one
//! classified as not found) and RDS's DescribeDBInstances (Query API, the master secret's ARN
//! of an instance whose password RDS manages, none for one without).

use wharf_aws::error::ErrorKind;
use wharf_aws::wire::rds::Rds;
use wharf_aws::wire::ssm::Ssm;
use wharf_testkit::moto;

use crate::common::moto_config as config;

#[tokio::test]
async fn parameters_are_read_decrypted_and_a_missing_one_is_not_found() {
    let m = moto();
    m.boto3(
        "c = client('ssm')\n\
         c.put_parameter(Name='/pulse/test/db-password', Value='s3cr3t & more', Type='SecureString')\n\
         c.put_parameter(Name='/pulse/test/plain', Value='v1', Type='String')\n",
    );
    let ssm = Ssm::new(&config(&m.endpoint()).await);
    let got = ssm
        .get_parameter("/pulse/test/db-password", true, "read it")
        .await
        .expect("read");
    assert_eq!(got.as_deref(), Some("s3cr3t & more"));
    let got = ssm
        .get_parameter("/pulse/test/plain", false, "read it")
        .await
        .expect("read");
    assert_eq!(got.as_deref(), Some("v1"));
    let err = ssm
        .get_parameter("/pulse/test/nope", true, "read the secret /pulse/test/nope")
        .await
        .expect_err("missing");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
    assert_eq!(err.code.as_deref(), Some("ParameterNotFound"));
    assert_eq!(err.action, "read the secret /pulse/test/nope");
}

#[tokio::test]
async fn the_master_secret_of_an_instance_comes_from_describe_db_instances() {
    let m = moto();
    m.boto3(
        "c = client('rds')\n\
         c.create_db_instance(DBInstanceIdentifier='pulse-test-main', DBInstanceClass='db.t4g.micro', Engine='postgres', MasterUsername='wharf', ManageMasterUserPassword=True, AllocatedStorage=20)\n\
         c.create_db_instance(DBInstanceIdentifier='pulse-test-own', DBInstanceClass='db.t4g.micro', Engine='postgres', MasterUsername='wharf', MasterUserPassword='password1234', AllocatedStorage=20)\n",
    );
    let rds = Rds::new(&config(&m.endpoint()).await);
    let arn = rds
        .master_secret_arn("pulse-test-main")
        .await
        .expect("described")
        .expect("a managed secret");
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{arn}"
    );
    assert_eq!(
        rds.master_secret_arn("pulse-test-own")
            .await
            .expect("described"),
        None
    );
    let err = rds
        .master_secret_arn("pulse-test-nope")
        .await
        .expect_err("no such instance");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
}
