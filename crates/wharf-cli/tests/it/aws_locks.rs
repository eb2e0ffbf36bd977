//! On AWS too (the engine decides, not the target): the lock a killed `wharf` of this machine
//! left in the state table is released at once by the next command, and rollbacks started
//! while their second's deployment id is taken get fresh ids.

use wharf_aws::DynamoStore;
use wharf_engine::{Holder, Outcome, Store};
use wharf_manifest::Names;

use crate::aws_deploy::{config, rt, UpEnv};
use crate::aws_rollback::MANIFEST;
use crate::no_panic;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[test]
fn a_dead_holder_is_released_and_rollbacks_get_fresh_ids() {
    let env = UpEnv::new(MANIFEST);
    no_panic(&env.wharf().args(["deploy"]).run().success());
    let store = rt().block_on(async {
        let cfg = config(&env.moto.endpoint()).await;
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&cfg), "pulse-test-wharf")
    });

    // A wharf of this machine killed while holding the lock: the next deploy goes on.
    let dead = Holder {
        pid: u32::MAX - 1,
        ..Holder::this_process()
    };
    rt().block_on(store.lock("web", &dead, now_ms(), 600_000))
        .expect("call")
        .expect("free");
    env.dir
        .write("wharf.toml", MANIFEST.replace(":1\"", ":2\""));
    let out = env.wharf().args(["deploy"]).run();
    no_panic(&out);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "released the lock of {dead}, which no longer runs"
        )),
        "{out}"
    );

    // This second's ids and the next few are taken (a deploy or rollback a moment ago).
    let names = Names::new("pulse", "test");
    let records = rt().block_on(store.list("web")).expect("records");
    let last = records.last().expect("v2").clone();
    let start = now_ms() / 1000;
    let taken: Vec<String> = (start..start + 4).map(|s| names.deployment_id(s)).collect();
    for id in &taken {
        let mut r = last.clone();
        r.id = id.clone();
        r.outcome = Some(Outcome::Aborted);
        rt().block_on(store.save(&r)).expect("save");
    }
    let rollback = || {
        let out = env.wharf().args(["rollback", "web"]).run();
        no_panic(&out);
        assert_eq!(out.code, Some(0), "{out}");
        // `web {id}: {phase}`
        let id = out.stdout.split_whitespace().nth(1).expect("an id");
        id.trim_end_matches(':').to_owned()
    };
    let first = rollback();
    assert!(!taken.contains(&first), "{first} was taken");
    let second = rollback();
    assert_ne!(first, second);
    assert!(!taken.contains(&second), "{second} was taken");
}
