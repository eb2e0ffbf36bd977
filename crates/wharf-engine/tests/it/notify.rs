//! Notices to the manifest's destinations on the simulator: the SNS topic resolved and
//! published to for the events asked for only, a webhook whose URL does not read left out
//! with a warning while the topic still gets its notices, a failed publish reported, never
//! raised.

use std::path::Path;

use wharf_engine::sim::{FakeClock, SimTarget};
use wharf_engine::{Notice, Notifier};
use wharf_manifest::{Notify, NotifyEvent};

fn notify(lines: &str) -> Notify {
    let src = format!(
        "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"local\"\n[services.web]\n\
         image = \"x:1\"\nport = 8000\n[notify]\n{lines}"
    );
    let (m, problems) = wharf_manifest::parse_str(&src, "wharf.toml", Path::new("."));
    m.unwrap_or_else(|| panic!("{problems}"))
        .notify
        .expect("[notify]")
}

fn started() -> Notice {
    Notice::started("pulse", "test", "web", "test-1", "canary", "x:1")
}

#[tokio::test]
async fn the_topic_gets_the_events_asked_for_even_when_the_webhook_cannot_be_read() {
    let sim = SimTarget::new(FakeClock::at(0));
    let n = notify(
        "webhook = \"ssm:/pulse/hook\"\nsns = \"deploys\"\nevents = [\"started\", \"rolled-back\"]\n",
    );
    let (notifier, warnings) = Notifier::open(&sim, &n).await;
    assert!(notifier.is_open());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("no notices to the webhook: the URL in ssm:/pulse/hook"),
        "{warnings:?}"
    );

    assert!(notifier.send(&sim, &started()).await.is_empty());
    let mut succeeded = started();
    succeeded.event = NotifyEvent::Succeeded;
    assert!(notifier.send(&sim, &succeeded).await.is_empty());
    let published = sim.published();
    assert_eq!(
        published.len(),
        1,
        "succeeded was not asked for: {published:?}"
    );
    assert_eq!(published[0].0, "arn:aws:sns:sim:000000000000:deploys");
    assert_eq!(published[0].1.event, NotifyEvent::Started);
    assert_eq!(published[0].1.deployment, "test-1");

    // The runtime refuses the next call: reported, and the next notice goes out again.
    sim.inject(&[(0, false)]);
    let failures = notifier.send(&sim, &started()).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].starts_with(
            "the started notice was not published to arn:aws:sns:sim:000000000000:deploys"
        ),
        "{failures:?}"
    );
    assert!(notifier.send(&sim, &started()).await.is_empty());
    assert_eq!(sim.published().len(), 2);
}

#[tokio::test]
async fn a_topic_given_by_its_arn_is_published_to_as_given() {
    let sim = SimTarget::new(FakeClock::at(0));
    let arn = "arn:aws:sns:eu-west-1:123456789012:deploys.fifo";
    let (notifier, warnings) = Notifier::open(&sim, &notify(&format!("sns = \"{arn}\"\n"))).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(notifier.send(&sim, &started()).await.is_empty());
    assert_eq!(sim.published()[0].0, arn);
}
