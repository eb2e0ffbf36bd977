//! The local state database: records round-trip, locks exclude other processes until their
//! lease ends, an abort asked by another process survives the deployer's saves, a database of
//! the previous schema is brought up to date, and a damaged or newer database is refused with
//! a clear message. The proxy
//! daemon: see `daemon`.

mod daemon;
mod docker;
mod rollout;

use wharf_engine::Store;
use wharf_local::{LocalStore, StoreError};
use wharf_testkit::TestDir;

fn record(id: &str, started_ms: i64) -> wharf_engine::Record {
    serde_json::from_value(serde_json::json!({
        "id": id, "app": "pulse", "env": "local", "service": "web", "image": "img", "strategy": "canary",
        "steps": [{"step": "shift", "percent": 100}], "step": 0, "step_started_ms": started_ms, "status": "in-progress",
        "weight": 0, "started_ms": started_ms, "updated_ms": started_ms
    }))
    .expect("a record")
}

#[tokio::test]
async fn records_round_trip_in_start_order() {
    let d = TestDir::new();
    let s = LocalStore::open(d.path()).expect("opens");
    s.save(&record("b", 2)).await.expect("save");
    s.save(&record("a", 1)).await.expect("save");
    let mut b = record("b", 2);
    b.weight = 40;
    s.save(&b).await.expect("update");
    let ids: Vec<String> = s
        .list("web")
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(
        s.load("web", "b")
            .await
            .expect("load")
            .expect("exists")
            .weight,
        40
    );
    // Another process sees the same state.
    let other = LocalStore::open(d.path()).expect("opens again");
    assert_eq!(other.list("web").await.expect("list").len(), 2);
}

#[tokio::test]
async fn an_abort_asked_while_the_deployer_saves_a_stale_copy_is_kept() {
    let d = TestDir::new();
    let (deployer, asker) = (
        LocalStore::open(d.path()).expect("a"),
        LocalStore::open(d.path()).expect("b"),
    );
    deployer.save(&record("v2", 1)).await.expect("save");
    let mut stale = deployer
        .load("web", "v2")
        .await
        .expect("load")
        .expect("there");
    assert!(asker
        .ask("web", "v2", wharf_engine::Ask::Abort)
        .await
        .expect("ask"));
    stale.weight = 10;
    deployer.save(&stale).await.expect("save");
    let now = asker.load("web", "v2").await.expect("load").expect("there");
    assert!(now.abort_requested, "the ask survived the save");
    assert_eq!(now.weight, 10, "and the save landed");
    assert!(!asker
        .ask("web", "nope", wharf_engine::Ask::Approve)
        .await
        .expect("ask"));
}

#[test]
fn a_database_of_the_previous_schema_is_brought_up_to_date() {
    let d = TestDir::new();
    {
        let c = rusqlite::Connection::open(d.path().join("state.db")).expect("db");
        c.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('schema', '1');
             CREATE TABLE records (service TEXT NOT NULL, id TEXT NOT NULL, started_ms INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (service, id));
             CREATE TABLE locks (service TEXT PRIMARY KEY, holder TEXT NOT NULL, acquired_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);",
        )
        .expect("schema 1");
        c.execute(
            "INSERT INTO records VALUES ('web', 'v1', 1, ?1)",
            [serde_json::to_string(&record("v1", 1)).expect("json")],
        )
        .expect("a record");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let s = LocalStore::open(d.path()).expect("migrates");
    assert!(rt
        .block_on(s.ask("web", "v1", wharf_engine::Ask::Approve))
        .expect("ask"));
    let r = rt
        .block_on(s.load("web", "v1"))
        .expect("load")
        .expect("kept");
    assert!(r.approved);
    drop(s);
    LocalStore::open(d.path()).expect("opens again, already migrated");
}

#[tokio::test]
async fn one_unreadable_record_is_skipped_by_history_and_named() {
    let d = TestDir::new();
    let s = LocalStore::open(d.path()).expect("opens");
    s.save(&record("a", 1)).await.expect("save");
    s.save(&record("c", 3)).await.expect("save");
    rusqlite::Connection::open(d.path().join("state.db"))
        .expect("db")
        .execute(
            "INSERT INTO records (service, id, started_ms, body) VALUES ('web', 'b', 2, '{\"id\": 1')",
            [],
        )
        .expect("a damaged row");
    let (readable, unreadable) = s.list_readable("web").await.expect("reads past it");
    let ids: Vec<&str> = readable.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "c"]);
    assert_eq!(unreadable.len(), 1);
    assert_eq!(
        (unreadable[0].service.as_str(), unreadable[0].id.as_str()),
        ("web", "b")
    );
    assert!(
        s.list("web").await.is_err(),
        "a deploy does not pass over it"
    );
}

#[tokio::test]
async fn a_lock_excludes_other_holders_until_its_lease_ends() {
    let d = TestDir::new();
    // Two processes alike in user, host and pid: the nonce still tells them apart.
    let alice = wharf_engine::Holder::this_process();
    let bob = wharf_engine::Holder::this_process();
    let (a, b) = (
        LocalStore::open(d.path()).expect("a"),
        LocalStore::open(d.path()).expect("b"),
    );
    assert!(a
        .lock("web", &alice, 1_000, 60_000)
        .await
        .expect("db")
        .is_ok());
    let held = b
        .lock("web", &bob, 2_000, 60_000)
        .await
        .expect("db")
        .expect_err("held");
    assert_eq!(held.holder, alice);
    assert!(a.renew("web", &alice, 30_000, 60_000).await.expect("db"));
    assert!(
        b.lock("web", &bob, 80_000, 60_000)
            .await
            .expect("db")
            .is_err(),
        "renewed: still alice's"
    );
    assert!(
        b.lock("web", &bob, 100_000, 60_000)
            .await
            .expect("db")
            .is_ok(),
        "lease over: bob takes it"
    );
    assert!(
        !a.renew("web", &alice, 100_001, 60_000).await.expect("db"),
        "alice lost it"
    );
    assert_eq!(
        a.force_unlock("web").await.expect("db").map(|l| l.holder),
        Some(bob)
    );
}

#[test]
fn a_corrupt_or_newer_database_is_refused() {
    let d = TestDir::new();
    d.write("state.db", "this is not sqlite at all, not even close...........................................................");
    assert!(matches!(
        LocalStore::open(d.path()),
        Err(StoreError::Corrupt { .. })
    ));
    let d = TestDir::new();
    drop(LocalStore::open(d.path()).expect("fresh"));
    let c = rusqlite_like::open(&d.join("state.db"));
    c.execute("UPDATE meta SET value = '99' WHERE key = 'schema'", [])
        .expect("update");
    drop(c);
    let err = LocalStore::open(d.path()).err().expect("refused");
    assert!(matches!(err, StoreError::Newer { found: 99, .. }), "{err}");
}

mod rusqlite_like {
    pub fn open(p: &std::path::Path) -> rusqlite::Connection {
        rusqlite::Connection::open(p).expect("open")
    }
}
