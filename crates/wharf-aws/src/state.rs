//! Deployment records and locks in the environment's DynamoDB state table
//! (`{app}-{env}-wharf`, keys `pk`/`sk`, created by the baseline stack).
//!
//! - a record: `pk = svc#{service}`, `sk = dep#{deployment id}`, the record as JSON in `body`.
//!   Ids are `{env}-{YYYYMMDD-HHMMSS}Z`, so a query in key order lists them oldest first. What
//!   another process asks of it (`wharf promote`, `wharf abort`) is an attribute of the item
//!   beside the body (`approve_asked`, `abort_asked`), set by an update of that attribute
//!   alone; saves update the body and never replace the item, so neither erases the other;
//! - the service's lock: `pk = svc#{service}`, `sk = lock`, with `holder`, `acquired_ms` and
//!   `expires_ms`. It is taken by a conditional put (nobody holds it, its lease ran out, or the
//!   holder is the same), renewed and released by conditional updates on the holder, so two
//!   `wharf` processes on two machines never both hold it.
//!
//! - a job's run: `pk = job#{job}`, `sk = run#{run id}`, the run record as JSON in `body`;
//!   run ids sort like deployment ids, so the last key is the last run.
//!
//! Reads are strongly consistent: a deploy must see the record a crashed one left.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use wharf_engine::{Ask, Holder, Lock, Record, RunRecord, Store, TargetError, Unreadable};

use crate::error::AwsError;
use crate::refs::Refs;

/// Lock items disappear through the table's TTL a day after their lease ends.
const LOCK_TTL_S: i64 = 86_400;

/// The state table of one environment.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub client: Client,
    pub table: String,
    /// The deployments' references ([`Refs`]): written into each record saved, learned from
    /// each record read.
    pub refs: Arc<Refs>,
}

fn pk(service: &str) -> AttributeValue {
    AttributeValue::S(format!("svc#{service}"))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn num(item: &HashMap<String, AttributeValue>, key: &str) -> i64 {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, key: &str) -> &'a str {
    item.get(key).and_then(|v| v.as_s().ok()).map_or("", |v| v)
}

fn lock_of(service: &str, item: &HashMap<String, AttributeValue>) -> Lock {
    Lock {
        service: service.to_owned(),
        holder: Holder::decode(text(item, "holder")),
        acquired_ms: num(item, "acquired_ms"),
        expires_ms: num(item, "expires_ms"),
    }
}

fn is_condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

fn corrupt(service: &str, id: &str, e: serde_json::Error) -> TargetError {
    TargetError::new(format!(
        "the record {id} of {service} in the state table is not one this wharf can read: {e}"
    ))
    .help("a newer wharf may have written it: upgrade wharf")
}

/// A record item as read: its body, with what was asked of it set.
fn record_of(item: &HashMap<String, AttributeValue>) -> Result<Record, serde_json::Error> {
    let mut r: Record = serde_json::from_str(text(item, "body"))?;
    for a in Ask::ALL {
        if matches!(item.get(a.field()), Some(AttributeValue::Bool(true))) {
            a.apply(&mut r);
        }
    }
    Ok(r)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            refs: Arc::default(),
        }
    }

    async fn get_lock(&self, service: &str) -> Result<Option<Lock>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(service))
            .key("sk", s("lock"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read the lock of {service}"), e))?;
        Ok(out.item.map(|i| lock_of(service, &i)))
    }
}

impl Store for DynamoStore {
    async fn save_run(&self, run: &RunRecord) -> Result<(), TargetError> {
        let body = serde_json::to_string(run).map_err(|e| TargetError::new(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("job#{}", run.job)))
            .item("sk", s(format!("run#{}", run.run)))
            .item("body", s(body))
            .item("started_ms", n(run.started_ms))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("save the record of run {}", run.run), e))?;
        Ok(())
    }

    async fn last_run(&self, job: &str) -> Result<Option<RunRecord>, TargetError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :run)")
            .expression_attribute_values(":pk", s(format!("job#{job}")))
            .expression_attribute_values(":run", s("run#"))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read the runs of job {job}"), e))?;
        out.items
            .unwrap_or_default()
            .first()
            .map(|item| {
                serde_json::from_str(text(item, "body")).map_err(|e| {
                    TargetError::new(format!("the last run of job {job} does not read: {e}"))
                        .help("a newer wharf may have written it (upgrade wharf)")
                })
            })
            .transpose()
    }

    async fn save(&self, record: &Record) -> Result<(), TargetError> {
        let filled = self.refs.fill(record);
        let record = filled.as_ref().unwrap_or(record);
        let body = serde_json::to_string(record).map_err(|e| TargetError::new(e.to_string()))?;
        // An update, not a put: the item's other attributes (what was asked of it) stay.
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(&record.service))
            .key("sk", s(format!("dep#{}", record.id)))
            .update_expression("SET body = :body, #status = :status, updated_ms = :updated")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":body", s(body))
            .expression_attribute_values(":status", s(record.phase()))
            .expression_attribute_values(":updated", n(record.updated_ms))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("save the record {}", record.id), e))?;
        Ok(())
    }

    async fn load(&self, service: &str, id: &str) -> Result<Option<Record>, TargetError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(service))
            .key("sk", s(format!("dep#{id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read the record {id}"), e))?;
        let r = out
            .item
            .map(|i| record_of(&i).map_err(|e| corrupt(service, id, e)))
            .transpose()?;
        if let Some(r) = &r {
            self.refs.learn(r);
        }
        Ok(r)
    }

    async fn list_readable(
        &self,
        service: &str,
    ) -> Result<(Vec<Record>, Vec<Unreadable>), TargetError> {
        let (mut records, mut unreadable) = (Vec::new(), Vec::new());
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :dep)")
                .expression_attribute_values(":pk", pk(service))
                .expression_attribute_values(":dep", s("dep#"))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("list the records of {service}"), e))?;
            for item in out.items.unwrap_or_default() {
                let id = text(&item, "sk").trim_start_matches("dep#").to_owned();
                match record_of(&item) {
                    Ok(r) => {
                        self.refs.learn(&r);
                        records.push(r);
                    }
                    Err(e) => unreadable.push(Unreadable {
                        service: service.to_owned(),
                        id,
                        error: e.to_string(),
                    }),
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        records.sort_by(|a, b| (a.started_ms, &a.id).cmp(&(b.started_ms, &b.id)));
        Ok((records, unreadable))
    }

    async fn ask(&self, service: &str, id: &str, ask: Ask) -> Result<bool, TargetError> {
        let attribute = ask.field();
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(service))
            .key("sk", s(format!("dep#{id}")))
            .update_expression(format!("SET {attribute} = :yes"))
            .condition_expression("attribute_exists(body)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(false),
            Err(e) => Err(AwsError::from_sdk(format!("ask {id} to {attribute}"), e).into()),
        }
    }

    async fn lock(
        &self,
        service: &str,
        holder: &Holder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Result<Lock, Lock>, TargetError> {
        let lock = Lock {
            service: service.to_owned(),
            holder: holder.clone(),
            acquired_ms: now_ms,
            expires_ms: now_ms + lease_ms,
        };
        let holder = holder.encode();
        // The lock released between a refused put and the read: try again (a few times).
        for _ in 0..3 {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", pk(service))
                .item("sk", s("lock"))
                .item("holder", s(&holder))
                .item("acquired_ms", n(now_ms))
                .item("expires_ms", n(lock.expires_ms))
                .item("expires_at", n(lock.expires_ms / 1000 + LOCK_TTL_S))
                .condition_expression(
                    "attribute_not_exists(pk) OR expires_ms < :now OR holder = :holder",
                )
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":holder", s(&holder))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(Ok(lock)),
                Err(e) if e.as_service_error().is_some_and(is_condition_failed) => {
                    if let Some(theirs) = self.get_lock(service).await? {
                        return Ok(Err(theirs));
                    }
                }
                Err(e) => {
                    return Err(AwsError::from_sdk(format!("take the lock of {service}"), e).into())
                }
            }
        }
        Err(TargetError::new(format!(
            "the lock of {service} kept changing hands while wharf tried to take it"
        ))
        .help("another wharf is deploying this service right now: run the command again"))
    }

    async fn renew(
        &self,
        service: &str,
        holder: &Holder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, TargetError> {
        let expires = now_ms + lease_ms;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(service))
            .key("sk", s("lock"))
            .update_expression("SET expires_ms = :e, expires_at = :ttl")
            .condition_expression("holder = :holder")
            .expression_attribute_values(":e", n(expires))
            .expression_attribute_values(":ttl", n(expires / 1000 + LOCK_TTL_S))
            .expression_attribute_values(":holder", s(holder.encode()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(false),
            Err(e) => Err(AwsError::from_sdk(format!("renew the lock of {service}"), e).into()),
        }
    }

    async fn unlock(&self, service: &str, holder: &Holder) -> Result<(), TargetError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", pk(service))
            .key("sk", s("lock"))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder.encode()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            // Someone else's now (our lease ran out and they took it): not ours to release.
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(()),
            Err(e) => Err(AwsError::from_sdk(format!("release the lock of {service}"), e).into()),
        }
    }

    async fn current_lock(&self, service: &str) -> Result<Option<Lock>, TargetError> {
        Ok(self.get_lock(service).await?)
    }

    async fn force_unlock(&self, service: &str) -> Result<Option<Lock>, TargetError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", pk(service))
            .key("sk", s("lock"))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("break the lock of {service}"), e))?;
        Ok(out.attributes.map(|i| lock_of(service, &i)))
    }
}
