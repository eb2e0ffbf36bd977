//! `[ci.github]` on the moto server: `wharf up` makes GitHub's OIDC provider once per account
//! (a second `up` finds it) and the environment's deploy role, trusted only by the repository's
//! branch, with every statement scoped (read back through IAM).

use serde_json::Value;

use crate::aws_env::UpEnv;
use crate::no_panic;

const MANIFEST: &str = crate::aws_env::moto_manifest!(
    r#"
[services.web]
image = "registry.example/pulse/web:1"
port = 8000
secrets = { TOKEN = "ssm:/pulse/token" }

[ci.github]
repository = "acme/pulse"
"#
);

/// The provider, the role's trust and its inline policy (moto gives a CloudFormation-made
/// inline policy back as Python's repr of the document, hence the literal_eval).
fn read_back(env: &UpEnv) -> Value {
    let out = env.moto.boto3(
        "import ast, json, urllib.parse\n\
         def doc(d):\n    \
             return d if isinstance(d, dict) else ast.literal_eval(urllib.parse.unquote(d)) if urllib.parse.unquote(d).startswith(\"{'\") else json.loads(urllib.parse.unquote(d))\n\
         iam = client('iam')\n\
         providers = [p['Arn'] for p in iam.list_open_id_connect_providers()['OpenIDConnectProviderList']]\n\
         p = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=providers[0]) if providers else {}\n\
         role = iam.get_role(RoleName='pulse-test-deploy')['Role']\n\
         names = iam.list_role_policies(RoleName='pulse-test-deploy')['PolicyNames']\n\
         policy = iam.get_role_policy(RoleName='pulse-test-deploy', PolicyName=names[0])['PolicyDocument']\n\
         print(json.dumps({\n    \
             'providers': providers,\n    \
             'url': p.get('Url'), 'clients': p.get('ClientIDList'), 'tags': {t['Key']: t['Value'] for t in p.get('Tags', [])},\n    \
             'trust': doc(role['AssumeRolePolicyDocument']), 'max_session': role.get('MaxSessionDuration'),\n    \
             'policy': doc(policy),\n\
         }))\n",
    );
    serde_json::from_str(out.trim()).expect("JSON")
}

/// A policy field that is one string or a list of them.
fn strs(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        Value::String(x) => vec![x.clone()],
        _ => vec![],
    }
}

#[test]
fn up_makes_the_github_provider_once_and_a_scoped_deploy_role() {
    let env = UpEnv::new(MANIFEST);
    let seen = read_back(&env);
    let providers = seen["providers"].as_array().expect("providers");
    assert_eq!(providers.len(), 1, "{seen}");
    assert!(
        providers[0]
            .as_str()
            .unwrap_or_default()
            .ends_with(":oidc-provider/token.actions.githubusercontent.com"),
        "{seen}"
    );
    assert!(
        seen["url"]
            .as_str()
            .unwrap_or_default()
            .contains("token.actions.githubusercontent.com"),
        "{seen}"
    );
    assert_eq!(seen["clients"], serde_json::json!(["sts.amazonaws.com"]));
    assert_eq!(seen["tags"]["wharf.shared"], "github-oidc");

    let trust = &seen["trust"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["Federated"], providers[0],
        "the role trusts that provider"
    );
    let eq = &trust["Condition"]["StringEquals"];
    assert_eq!(
        eq["token.actions.githubusercontent.com:sub"],
        "repo:acme/pulse:ref:refs/heads/main"
    );
    assert_eq!(
        eq["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    assert_eq!(seen["max_session"], 7200);

    let statements = seen["policy"]["Statement"].as_array().expect("statements");
    assert!(statements.len() >= 15, "{seen}");
    for s in statements {
        let sid = s["Sid"].as_str().unwrap_or_default();
        let actions = strs(&s["Action"]);
        assert!(!actions.is_empty(), "{sid}");
        for a in &actions {
            assert!(!a.contains('*'), "{sid}: {a}");
        }
        let resources = strs(&s["Resource"]);
        for r in &resources {
            if r == "*" {
                assert!(s["Condition"].is_object(), "{sid}: * without a condition");
                continue;
            }
            assert!(
                r.contains(":123456789012:") && r.contains("us-east-1")
                    || r.starts_with("arn:aws:iam::123456789012:role/pulse-test-"),
                "{sid}: {r}"
            );
            assert!(
                [
                    "pulse-test",
                    "pulse/test",
                    "-test-",
                    "scalable-target/",
                    "parameter/pulse/token"
                ]
                .iter()
                .any(|m| r.contains(m)),
                "{sid}: {r} is not this environment's"
            );
        }
    }
    assert!(statements
        .iter()
        .any(|s| s["Sid"] == "ReadReferencedParameters"
            && s["Resource"].to_string().contains("parameter/pulse/token")));

    // A second environment, app or `up` finds the provider and leaves it.
    let out = env.wharf().arg("up").run().success();
    no_panic(&out);
    assert!(
        out.stdout.contains("GitHub OIDC provider: already there"),
        "{out}"
    );
    assert_eq!(
        read_back(&env)["providers"].as_array().map(Vec::len),
        Some(1)
    );
}
