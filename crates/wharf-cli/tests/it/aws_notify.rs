//! Deployment notices to an SNS topic on the moto server, read back from SQS queues subscribed
//! to it (set up and read with boto3): one queue gets every notice in SNS's envelope, a second
//! with raw delivery and a filter policy on the `event` attribute only the rolled-back one.
//! Called from the rollback test ([`crate::aws_rollback`]), whose deployments they are.

use serde_json::Value;

use crate::aws_deploy::UpEnv;

/// The `[notify]` the rollback test's manifest carries: the topic by its bare name.
pub const NOTIFY: &str = "\n[notify]\nsns = \"deploys\"\n";

/// The topic's ARN in moto's account and the manifest's region.
pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:deploys";

/// Creates the topic and the two subscribed queues.
pub fn subscribe(env: &UpEnv) {
    env.moto.boto3(
        "import json\n\
         sns = client('sns'); sqs = client('sqs')\n\
         t = sns.create_topic(Name='deploys')['TopicArn']\n\
         for q, attrs in [('all', {}), ('pager', {'RawMessageDelivery': 'true', \
         'FilterPolicy': json.dumps({'event': ['rolled-back']})})]:\n    \
         url = sqs.create_queue(QueueName='notices-' + q)['QueueUrl']\n    \
         arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n    \
         sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=arn, Attributes=attrs)\n",
    );
}

/// Every message body each queue holds, removed from it: `(all, pager)`.
pub fn received(env: &UpEnv) -> (Vec<Value>, Vec<Value>) {
    let out = env.moto.boto3(
        "import json\n\
         sqs = client('sqs'); out = {}\n\
         for q in ['all', 'pager']:\n    \
         url = sqs.get_queue_url(QueueName='notices-' + q)['QueueUrl']; bodies = []\n    \
         for _ in range(20):\n        \
         r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get('Messages', [])\n        \
         if not r: break\n        \
         for m in r:\n            \
         bodies.append(json.loads(m['Body']))\n            \
         sqs.delete_message(QueueUrl=url, ReceiptHandle=m['ReceiptHandle'])\n    \
         out[q] = bodies\n\
         print(json.dumps(out))\n",
    );
    let v: Value = serde_json::from_str(out.trim()).expect("the queues as JSON");
    let list = |q: &str| v[q].as_array().cloned().unwrap_or_default();
    (list("all"), list("pager"))
}

/// The notices of the rolled-back deployment `id`: `started` and `rolled-back` in SNS's
/// envelope (subject for e-mail, the notice's JSON for a queue, attributes to filter on), and
/// only `rolled-back`, raw, with the diagnosis's headline, where the filter asks for it.
pub fn rolled_back_was_published(env: &UpEnv, id: &str) {
    let (all, pager) = received(env);
    let events: Vec<(String, String)> = all
        .iter()
        .map(|e| {
            let notice: Value =
                serde_json::from_str(e["Message"].as_str().unwrap_or_default()).expect("JSON");
            assert_eq!(notice["deployment"], id, "{e}");
            assert_eq!(e["TopicArn"], TOPIC, "{e}");
            assert_eq!(
                e["MessageAttributes"]["event"]["Value"], notice["event"],
                "{e}"
            );
            assert_eq!(e["MessageAttributes"]["service"]["Value"], "web", "{e}");
            (
                notice["event"].as_str().unwrap_or_default().to_owned(),
                e["Subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (
                "started".to_owned(),
                "wharf: pulse/test web started".to_owned()
            ),
            (
                "rolled-back".to_owned(),
                "wharf: pulse/test web rolled-back".to_owned()
            ),
        ],
        "{all:?}"
    );
    assert_eq!(
        pager.len(),
        1,
        "only the rolled-back notice passes the filter: {pager:?}"
    );
    let notice = &pager[0];
    assert_eq!(notice["event"], "rolled-back", "{notice}");
    assert_eq!(notice["app"], "pulse", "{notice}");
    assert!(
        notice["reason"]
            .as_str()
            .is_some_and(|r| r.contains("web-canary-5xx")),
        "{notice}"
    );
    assert!(
        notice["diagnosis"]
            .as_str()
            .is_some_and(|h| h.contains("[alarm-5xx]")),
        "the diagnosis's headline: {notice}"
    );
    assert!(
        notice["text"]
            .as_str()
            .is_some_and(|t| t.contains("likely cause")),
        "{notice}"
    );
}
