//! The DynamoDB record store and lock against the moto server with the real SDK: the lock is
//! exclusive while its lease runs, taken over once it has expired, renewed and released only by
//! its holder, broken by force; records round-trip and list oldest first.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use wharf_aws::DynamoStore;
use wharf_engine::{Holder, Record, Status, Store};
use wharf_testkit::moto;

async fn store(endpoint: &str) -> DynamoStore {
    DynamoStore::new(table(endpoint).await, "pulse-test-wharf")
}

/// A client of the moto server with the state table made.
async fn table(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let client = aws_sdk_dynamodb::Client::new(&crate::common::moto_config(endpoint).await);
    let mut create = client
        .create_table()
        .table_name("pulse-test-wharf")
        .billing_mode(BillingMode::PayPerRequest);
    for (name, kind) in [("pk", KeyType::Hash), ("sk", KeyType::Range)] {
        create = create
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
                    .expect("key"),
            );
    }
    create.send().await.expect("the state table");
    client
}

fn record(id: &str, started_ms: i64) -> Record {
    let (m, _) = wharf_manifest::parse_str(
        "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"local\"\n[services.web]\nimage = \"x:1\"\nport = 80\n",
        "wharf.toml",
        std::path::Path::new("."),
    );
    let service = m.expect("valid").services["web"].clone();
    Record {
        id: id.into(),
        app: "pulse".into(),
        env: "test".into(),
        service: "web".into(),
        image: "x:1".into(),
        digest: None,
        platform: None,
        strategy: service.deploy.strategy,
        previous: None,
        steps: wharf_engine::plan(&service, 0),
        step: 0,
        step_started_ms: started_ms,
        status: Status::InProgress,
        weight: 0,
        started_ms,
        updated_ms: started_ms,
        finished_ms: None,
        outcome: None,
        reason: None,
        approved: false,
        abort_requested: false,
        drained: None,
        service_digest: None,
        marks: Vec::new(),
        refs: Default::default(),
    }
}

#[tokio::test]
async fn the_lock_is_exclusive_until_its_lease_ends() {
    let m = moto();
    let s = store(&m.endpoint()).await;
    let (ana, bo) = (
        Holder::named("ana@ci pid 1"),
        Holder::named("bo@laptop pid 2"),
    );
    let a = s.lock("web", &ana, 1_000, 60_000).await.expect("call");
    assert_eq!(a.as_ref().map(|l| l.expires_ms), Ok(61_000));
    // Someone else, within the lease: refused, told who holds it.
    let b = s.lock("web", &bo, 30_000, 60_000).await.expect("call");
    assert_eq!(b.map_err(|l| l.holder), Err(ana.clone()));
    // The holder again: fine (a resumed deploy).
    assert!(s
        .lock("web", &ana, 30_000, 60_000)
        .await
        .expect("call")
        .is_ok());
    // Only the holder renews or releases.
    assert!(!s.renew("web", &bo, 40_000, 60_000).await.expect("call"));
    assert!(s.renew("web", &ana, 40_000, 60_000).await.expect("call"));
    s.unlock("web", &bo).await.expect("call");
    assert_eq!(
        s.current_lock("web")
            .await
            .expect("call")
            .map(|l| l.expires_ms),
        Some(100_000)
    );
    // After the lease: taken over.
    let c = s.lock("web", &bo, 100_001, 60_000).await.expect("call");
    assert_eq!(c.map(|l| l.holder), Ok(bo.clone()));
    let broken = s.force_unlock("web").await.expect("call");
    assert_eq!(broken.map(|l| l.holder), Some(bo.clone()));
    assert_eq!(s.current_lock("web").await.expect("call"), None);
    // Other services have their own locks.
    assert!(s.lock("api", &ana, 0, 60_000).await.expect("call").is_ok());
    assert!(s.lock("web", &bo, 0, 60_000).await.expect("call").is_ok());
}

#[tokio::test]
async fn records_round_trip_and_list_oldest_first() {
    let m = moto();
    let s = store(&m.endpoint()).await;
    let (older, newer) = (
        record("test-20261123-100000Z", 1_000),
        record("test-20261123-110000Z", 2_000),
    );
    s.save(&newer).await.expect("save");
    s.save(&older).await.expect("save");
    let mut changed = older.clone();
    changed.status = Status::Finished;
    s.save(&changed).await.expect("save again");
    assert_eq!(
        s.load("web", &older.id).await.expect("load"),
        Some(changed.clone())
    );
    assert_eq!(
        s.load("web", "test-20991231-000000Z").await.expect("load"),
        None
    );
    let ids: Vec<String> = s
        .list("web")
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [older.id.clone(), newer.id.clone()]);
    assert!(s.list("api").await.expect("list").is_empty());
}

#[tokio::test]
async fn an_abort_asked_while_the_deployer_saves_a_stale_copy_is_kept() {
    let m = moto();
    let s = store(&m.endpoint()).await;
    s.save(&record("test-20261129-150000Z", 1))
        .await
        .expect("save");
    // The deployer read the record before the ask, and saves its copy after it.
    let mut stale = s
        .load("web", "test-20261129-150000Z")
        .await
        .expect("load")
        .expect("there");
    assert!(s
        .ask("web", "test-20261129-150000Z", wharf_engine::Ask::Abort)
        .await
        .expect("ask"));
    stale.step = 1;
    s.save(&stale).await.expect("save");
    let now = s
        .load("web", "test-20261129-150000Z")
        .await
        .expect("load")
        .expect("there");
    assert!(now.abort_requested, "the ask survived the save");
    assert_eq!(now.step, 1, "and the save landed");
    let listed = s.list("web").await.expect("list");
    assert!(listed[0].abort_requested && !listed[0].approved);
    // Asking about a deployment that does not exist says so and creates nothing.
    assert!(!s
        .ask("web", "test-20990101-000000Z", wharf_engine::Ask::Approve)
        .await
        .expect("ask"));
    assert_eq!(s.list("web").await.expect("list").len(), 1);
}

#[tokio::test]
async fn one_unreadable_record_is_skipped_by_history_and_named() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let m = moto();
    let client = table(&m.endpoint()).await;
    let s = DynamoStore::new(client.clone(), "pulse-test-wharf");
    s.save(&record("test-20261129-150000Z", 1))
        .await
        .expect("save");
    s.save(&record("test-20261129-160000Z", 3))
        .await
        .expect("save");
    client
        .put_item()
        .table_name("pulse-test-wharf")
        .item("pk", AttributeValue::S("svc#web".into()))
        .item("sk", AttributeValue::S("dep#test-20261129-153000Z".into()))
        .item("body", AttributeValue::S("{\"id\": \"half a rec".into()))
        .send()
        .await
        .expect("a damaged item");
    let (m2, _) = wharf_manifest::parse_str(
        "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"local\"\n[services.web]\nimage = \"x:1\"\nport = 80\n",
        "wharf.toml",
        std::path::Path::new("."),
    );
    let m2 = m2.expect("valid");
    let history = wharf_engine::History::of(&s, &[&m2.services["web"]])
        .await
        .expect("history reads past it");
    let ids: Vec<&str> = history.deployments.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["test-20261129-150000Z", "test-20261129-160000Z"]);
    let shown = history.to_string();
    assert!(
        shown.contains("warning: the record test-20261129-153000Z of web does not read"),
        "{shown}"
    );
    // A deploy does not pass over a record it cannot read.
    let err = s.list("web").await.expect_err("strict");
    assert!(err.message.contains("test-20261129-153000Z"), "{err:?}");
}

#[tokio::test]
async fn references_found_once_are_kept_in_the_record_for_the_next_process() {
    use wharf_aws::refs::Kind;
    let m = moto();
    let client = table(&m.endpoint()).await;
    let first = DynamoStore::new(client.clone(), "pulse-test-wharf");
    let r = record("test-20261203-130000Z", 1);
    first.refs.put(
        "web",
        &r.id,
        Kind::TaskDefinition,
        "arn:aws:ecs:td/pulse-test-web:7",
    );
    first
        .refs
        .put("web", &r.id, Kind::TargetGroup, "arn:aws:elb:tg/x");
    // The engine's copy knows nothing of them; the store writes them in.
    first.save(&r).await.expect("save");

    // A resumed deployment (another process) reads them back with the record.
    let second = DynamoStore::new(client.clone(), "pulse-test-wharf");
    let loaded = second
        .load("web", &r.id)
        .await
        .expect("load")
        .expect("there");
    assert_eq!(loaded.refs.len(), 2, "{loaded:?}");
    assert_eq!(
        second
            .refs
            .get("web", &r.id, Kind::TaskDefinition)
            .as_deref(),
        Some("arn:aws:ecs:td/pulse-test-web:7")
    );
    // What is deleted is forgotten, in the process and at the record's next save.
    second.refs.forget_arn("arn:aws:elb:tg/x");
    second.save(&loaded).await.expect("save");
    let third = DynamoStore::new(client, "pulse-test-wharf");
    let listed = third.list("web").await.expect("list");
    assert_eq!(
        listed[0].refs.keys().collect::<Vec<_>>(),
        ["task-definition"]
    );
    assert_eq!(third.refs.get("web", &r.id, Kind::TargetGroup), None);
}
