//! The images of deployments still present stay out of the ECR lifecycle count, on the moto
//! server: each deployment's image (here pushed to the service's own repository by "CI" and
//! deployed by tag) is tagged `keep-{deployment}` while the deployment is present, and the
//! tag goes when it is retired — the image itself stays, with its own tag.

use serde_json::Value;

use crate::aws_deploy::UpEnv;
use crate::no_panic;

const REPO: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pulse/test/web";

fn manifest(tag: &str) -> String {
    format!(
        r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
egress = "endpoints"
keep_images = 10

[services.web]
image = "{REPO}:{tag}"
port = 8000
routing = {{ paths = ["/*"], priority = 1 }}
deploy = {{ strategy = "canary", canary = {{ percent = 20, bake = "1s" }} }}
"#
    )
}

/// Puts an image tagged `tag` in the repository, its config digest made of `n`.
fn push(env: &UpEnv, tag: &str, n: u32) {
    env.moto.boto3(&format!(
        "import json\n\
         m = json.dumps({{'schemaVersion': 2, 'mediaType': 'application/vnd.docker.distribution.manifest.v2+json', \
         'config': {{'mediaType': 'application/vnd.docker.container.image.v1+json', 'size': 2, 'digest': 'sha256:' + '{n}' * 64}}, 'layers': []}})\n\
         client('ecr').put_image(repositoryName='pulse/test/web', imageTag='{tag}', imageManifest=m)\n"
    ));
}

/// Every image's tags, sorted, by the tag the test pushed it with.
fn tags(env: &UpEnv) -> Value {
    let out = env.moto.boto3(
        "import json\n\
         d = client('ecr').describe_images(repositoryName='pulse/test/web')['imageDetails']\n\
         out = {}\n\
         for i in d:\n    \
         t = sorted(i.get('imageTags', []))\n    \
         out[[x for x in t if not x.startswith('keep-')][0]] = t\n\
         print(json.dumps(out))\n",
    );
    serde_json::from_str(out.trim()).expect("JSON")
}

#[test]
fn a_present_deployments_image_is_tagged_to_keep_and_released_when_it_retires() {
    let env = UpEnv::new(&manifest("1"));
    push(&env, "1", 1);
    let out = env.wharf().args(["deploy"]).run().success();
    no_panic(&out);
    let v1 = env.deployments("web")[0].clone();
    assert_eq!(
        tags(&env),
        serde_json::json!({ "1": ["1", format!("keep-{v1}")] })
    );

    push(&env, "2", 2);
    env.dir.write("wharf.toml", manifest("2"));
    let out = env.wharf().args(["deploy"]).run().success();
    no_panic(&out);
    let v2 = env.deployments("web")[1].clone();
    assert_eq!(
        tags(&env),
        serde_json::json!({ "1": ["1"], "2": ["2", format!("keep-{v2}")] }),
        "version 1 retired: its image stays, no longer kept"
    );
}
