//! `wharf down` on an AWS environment whose repositories (a service's, a built job's) and bucket
//! hold something, against the moto server: without `--purge` it names what they hold and
//! deletes nothing; with it, it empties the repositories (every image) and the versioned bucket (every version and delete
//! marker), then deletes the stacks.

use wharf_testkit::{moto, TestDir};

use crate::aws::{aws_wharf, stack};
use crate::aws_deploy::{config, rt};
use crate::no_panic;

const MANIFEST: &str = crate::aws_env::moto_manifest!(
    r#"

[services.web]
image = "registry.example/pulse/web:1"
port = 8000

[data.uploads]
type = "s3"
versioning = true

[jobs.backfill]
build = { context = "." }
"#
);

/// An image manifest as a registry stores it (schema 2, one layer).
const IMAGE_MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":32654,"digest":"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"}]}"#;

fn s3(c: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(c)
            .force_path_style(true)
            .build(),
    )
}

fn bucket_name(endpoint: &str) -> String {
    rt().block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&config(endpoint).await);
        cfn.list_stack_resources()
            .stack_name("pulse-test-data")
            .send()
            .await
            .expect("data stack resources")
            .stack_resource_summaries()
            .iter()
            .find(|r| r.resource_type() == Some("AWS::S3::Bucket"))
            .and_then(|r| r.physical_resource_id())
            .expect("the uploads bucket")
            .to_owned()
    })
}

/// Puts an image in the repository and three versions (two puts, a delete marker) in the
/// bucket.
fn fill(endpoint: &str, bucket: &str) {
    rt().block_on(async {
        let c = config(endpoint).await;
        // A deployment's image, and a run's of the job built from source.
        for (repo, tag) in [
            ("pulse/test/web", "test-20261123-100000Z"),
            ("pulse/test/backfill", "test-20261123-110000Z-ab12"),
        ] {
            aws_sdk_ecr::Client::new(&c)
                .put_image()
                .repository_name(repo)
                .image_manifest(IMAGE_MANIFEST)
                .image_tag(tag)
                .send()
                .await
                .expect("put image");
        }
        let s3 = s3(&c);
        // The template enables versioning; moto's CloudFormation drops the setting.
        s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning");
        for body in ["one", "two"] {
            s3.put_object()
                .bucket(bucket)
                .key("avatars/1.png")
                .body(aws_sdk_s3::primitives::ByteStream::from_static(
                    body.as_bytes(),
                ))
                .send()
                .await
                .expect("put object");
        }
        s3.delete_object()
            .bucket(bucket)
            .key("avatars/1.png")
            .send()
            .await
            .expect("delete marker");
    });
}

/// Images left in the repository and versions left in the bucket (None when it is gone).
fn left(endpoint: &str, bucket: &str) -> (Option<usize>, Option<usize>) {
    rt().block_on(async {
        let c = config(endpoint).await;
        let images = aws_sdk_ecr::Client::new(&c)
            .list_images()
            .repository_name("pulse/test/web")
            .send()
            .await
            .ok()
            .map(|o| o.image_ids().len());
        let versions = s3(&c)
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .map(|o| o.versions().len() + o.delete_markers().len());
        (images, versions)
    })
}

#[test]
fn down_stops_at_a_non_empty_repository_or_bucket_and_purge_empties_them() {
    let m = moto();
    let endpoint = m.endpoint();
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);
    aws_wharf(&dir, &endpoint)
        .args(["-q", "up"])
        .run()
        .success();
    let bucket = bucket_name(&endpoint);
    fill(&endpoint, &bucket);
    assert_eq!(left(&endpoint, &bucket), (Some(1), Some(3)));

    let out = aws_wharf(&dir, &endpoint)
        .args(["-y", "down"])
        .run()
        .code(1);
    no_panic(&out);
    for repo in ["pulse/test/web", "pulse/test/backfill"] {
        assert!(
            out.stderr
                .contains(&format!("repository {repo} holds 1 image(s)")),
            "{out}"
        );
    }
    assert!(
        out.stderr
            .contains(&format!("bucket {bucket} holds 3 object version(s)")),
        "{out}"
    );
    assert!(
        out.stderr.contains("--purge"),
        "the help names the flag: {out}"
    );
    assert!(
        stack(&endpoint, "pulse-test-baseline").is_some(),
        "nothing deleted"
    );
    assert!(
        stack(&endpoint, "pulse-test-data").is_some(),
        "nothing deleted"
    );
    assert_eq!(
        left(&endpoint, &bucket),
        (Some(1), Some(3)),
        "nothing emptied"
    );

    let out = aws_wharf(&dir, &endpoint)
        .args(["-y", "down", "--purge"])
        .run()
        .success();
    no_panic(&out);
    for repo in ["pulse/test/web", "pulse/test/backfill"] {
        assert!(
            out.stdout
                .contains(&format!("emptied repository {repo} (1 item(s))")),
            "{out}"
        );
    }
    assert!(
        out.stdout
            .contains(&format!("emptied bucket {bucket} (3 item(s))")),
        "{out}"
    );
    assert!(stack(&endpoint, "pulse-test-baseline").is_none(), "{out}");
    assert!(stack(&endpoint, "pulse-test-data").is_none(), "{out}");
    let (images, versions) = left(&endpoint, &bucket);
    assert!(
        images.unwrap_or(0) == 0 && versions.unwrap_or(0) == 0,
        "{images:?} {versions:?}"
    );
}
