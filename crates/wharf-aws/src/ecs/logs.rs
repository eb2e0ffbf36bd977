//! `wharf logs` on AWS: the tasks' CloudWatch Logs streams. awslogs names a stream
//! `{deployment or run}/{container}/{task id}` in the service's (or job's) log group, so a
//! deployment is a stream prefix and a task a stream's last part. The streams are listed
//! (DescribeLogStreams; the 100 written to last when there are more), then read:
//!
//! - the last lines (`--tail`, no `--since`): the end of each stream (GetLogEvents from the
//!   tail), merged by time, the last N kept;
//! - from a moment (`--since`, or `--grep` over the last day): FilterLogEvents over the
//!   streams, every page, interleaved by time;
//! - `--follow`: FilterLogEvents again every [`POLL`], from [`LATE_MS`] before the newest line
//!   seen, so an event CloudWatch ingests late (its timestamp already passed) is still read;
//!   each line is known by its stream, time and text (counted, so a line written twice in the
//!   same millisecond shows twice): no line twice, none skipped.

use std::collections::HashMap;
use std::time::Duration;

use wharf_engine::{Clock, LogLine, LogQuery, LogSource, SystemClock, TargetError};

use crate::ecs::{terr, AwsTarget};
use crate::error::AwsError;

/// How often `--follow` looks for new lines.
pub const POLL: Duration = Duration::from_secs(2);
/// How far before the newest line seen each follow poll reads again.
pub const LATE_MS: i64 = 10_000;
/// How far back `--grep` searches without `--since`.
pub const GREP_WINDOW_MS: i64 = 86_400_000;
/// Lines shown without `--tail` or `--since`.
pub const DEFAULT_TAIL: u32 = 100;
/// The most streams one FilterLogEvents call reads.
const MAX_STREAMS: usize = 100;

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    stream: String,
    ts: i64,
    message: String,
}

impl Event {
    /// What the line is shown as coming from: the task id, shortened.
    fn source(&self) -> &str {
        let task = self.stream.rsplit('/').next().unwrap_or(&self.stream);
        &task[..task.len().min(12)]
    }
}

/// The lines already shown, by (stream, time, text), with how many of each.
#[derive(Default)]
struct Shown {
    seen: HashMap<(String, i64, String), usize>,
    newest: Option<i64>,
    /// Lines older than this were left out on purpose (before the tail): never shown later.
    floor: i64,
}

impl Shown {
    /// Emits the events of one read not shown yet, oldest first.
    fn emit(
        &mut self,
        mut events: Vec<Event>,
        q: &LogQuery<'_>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) {
        events.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.stream.cmp(&b.stream)));
        let mut in_read: HashMap<(String, i64, String), usize> = HashMap::new();
        for e in events.into_iter().filter(|e| e.ts >= self.floor) {
            let key = (e.stream.clone(), e.ts, e.message.clone());
            let n = in_read.entry(key.clone()).or_default();
            *n += 1;
            let shown = self.seen.entry(key).or_default();
            if *n <= *shown {
                continue;
            }
            *shown = *n;
            self.newest = Some(self.newest.map_or(e.ts, |t| t.max(e.ts)));
            for l in e.message.lines().filter(|l| q.keeps(l)) {
                line(LogLine {
                    source: e.source(),
                    line: l,
                    timestamp_ms: Some(e.ts),
                });
            }
        }
        // What no later read can return again.
        if let Some(newest) = self.newest {
            self.seen
                .retain(|(_, ts, _), _| *ts >= newest - 2 * LATE_MS);
        }
    }
}

impl AwsTarget {
    pub(crate) async fn aws_logs(
        &self,
        of: LogSource<'_>,
        q: LogQuery<'_>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<usize, TargetError> {
        let group = match of {
            LogSource::Service(s) => self.out.service(&s.name).map_err(terr)?.log_group.clone(),
            LogSource::Job(j) => self.out.job(&j.name).map_err(terr)?.log_group.clone(),
        };
        let mut streams = self.streams(&group, &q).await.map_err(terr)?;
        let mut shown = Shown::default();
        let now = SystemClock.now_ms();
        let first = match (q.since_ms, q.grep) {
            (None, None) => {
                let n = q.tail.unwrap_or(DEFAULT_TAIL);
                let mut all = Vec::new();
                for s in &streams {
                    all.extend(self.stream_tail(&group, s, n).await.map_err(terr)?);
                }
                all.sort_by_key(|e| e.ts);
                let skip = all.len().saturating_sub(n as usize);
                all.split_off(skip)
            }
            (since, grep) => {
                let since = since.unwrap_or(now - GREP_WINDOW_MS);
                let mut all = self
                    .filter(&group, &streams, since, grep)
                    .await
                    .map_err(terr)?;
                if let Some(n) = q.tail {
                    let keep = matching(&all, &q).saturating_sub(n as usize);
                    all = drop_matching(all, &q, keep);
                }
                all
            }
        };
        // Following on, nothing older than what was shown first (or than the start) is shown.
        let floor = first
            .iter()
            .map(|e| e.ts)
            .min()
            .unwrap_or(q.since_ms.unwrap_or(now));
        shown.emit(first, &q, line);
        shown.floor = floor;
        if !q.follow {
            return Ok(streams.len());
        }
        loop {
            tokio::time::sleep(POLL).await;
            // New tasks start new streams.
            streams = self.streams(&group, &q).await.map_err(terr)?;
            let from = shown
                .newest
                .map_or(q.since_ms.unwrap_or(now), |t| t - LATE_MS);
            let events = self
                .filter(&group, &streams, from, q.grep)
                .await
                .map_err(terr)?;
            shown.emit(events, &q, line);
        }
    }

    /// The streams the query selects, the 100 written to last.
    async fn streams(&self, group: &str, q: &LogQuery<'_>) -> Result<Vec<String>, AwsError> {
        let action = format!("list the log streams of {group}");
        let mut found: Vec<(i64, String)> = Vec::new();
        let mut token = None;
        loop {
            let mut req = self
                .clients
                .logs
                .describe_log_streams()
                .log_group_name(group)
                .set_next_token(token);
            if let Some(d) = q.deployment {
                req = req.log_stream_name_prefix(format!("{d}/"));
            }
            let page = match req.send().await {
                Ok(p) => p,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(Vec::new())
                }
                Err(e) => return Err(AwsError::from_sdk(&action, e)),
            };
            for s in page.log_streams() {
                let Some(name) = s.log_stream_name() else {
                    continue;
                };
                let task = name.rsplit('/').next().unwrap_or(name);
                if q.task
                    .is_some_and(|t| !task.starts_with(t) && !task.ends_with(t))
                {
                    continue;
                }
                let last = s.last_event_timestamp().or(s.creation_time()).unwrap_or(0);
                found.push((last, name.to_owned()));
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        found.truncate(MAX_STREAMS);
        Ok(found.into_iter().map(|(_, n)| n).collect())
    }

    /// The last `n` events of a stream.
    async fn stream_tail(&self, group: &str, stream: &str, n: u32) -> Result<Vec<Event>, AwsError> {
        let out = self
            .clients
            .logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(false)
            .limit(n.clamp(1, 10_000) as i32)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read log stream {stream}"), e))?;
        Ok(out
            .events()
            .iter()
            .map(|e| Event {
                stream: stream.to_owned(),
                ts: e.timestamp().unwrap_or(0),
                message: e.message().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// Every event of the streams from `since` on (with the text, when given), all pages.
    async fn filter(
        &self,
        group: &str,
        streams: &[String],
        since: i64,
        grep: Option<&str>,
    ) -> Result<Vec<Event>, AwsError> {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let action = format!("read the log group {group}");
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let mut req = self
                .clients
                .logs
                .filter_log_events()
                .log_group_name(group)
                .set_log_stream_names(Some(streams.to_vec()))
                .start_time(since)
                .set_next_token(token);
            if let Some(g) = grep {
                // An exact phrase in CloudWatch's filter syntax; wharf checks each line too.
                req = req.filter_pattern(format!("\"{}\"", g.replace('"', "\\\"")));
            }
            let page = req
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(&action, e))?;
            out.extend(page.events().iter().map(|e| Event {
                stream: e.log_stream_name().unwrap_or_default().to_owned(),
                ts: e.timestamp().unwrap_or(0),
                message: e.message().unwrap_or_default().to_owned(),
            }));
            token = page.next_token().map(str::to_owned);
            if token.is_none() || page.events().is_empty() {
                return Ok(out);
            }
        }
    }
}

/// How many lines of the events the query keeps.
fn matching(events: &[Event], q: &LogQuery<'_>) -> usize {
    events
        .iter()
        .map(|e| e.message.lines().filter(|l| q.keeps(l)).count())
        .sum()
}

/// The events without their first `skip` kept lines (sorted by time first).
fn drop_matching(mut events: Vec<Event>, q: &LogQuery<'_>, mut skip: usize) -> Vec<Event> {
    events.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.stream.cmp(&b.stream)));
    let mut out = Vec::new();
    for mut e in events {
        if skip == 0 {
            out.push(e);
            continue;
        }
        let lines: Vec<&str> = e.message.lines().filter(|l| q.keeps(l)).collect();
        if lines.len() <= skip {
            skip -= lines.len();
            continue;
        }
        e.message = lines[skip..].join("\n");
        skip = 0;
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(stream: &str, ts: i64, m: &str) -> Event {
        Event {
            stream: stream.into(),
            ts,
            message: m.into(),
        }
    }

    #[test]
    fn a_line_read_again_is_not_shown_twice_and_a_repeated_one_is() {
        let out = std::sync::Mutex::new(Vec::new());
        let push = |l: LogLine<'_>| out.lock().unwrap().push(l.line.to_owned());
        let q = LogQuery::default();
        let mut shown = Shown::default();
        shown.emit(
            vec![ev("d/web/a", 1, "one"), ev("d/web/a", 2, "two")],
            &q,
            &push,
        );
        // The next read overlaps the first, brings a late line, and the same text twice.
        shown.emit(
            vec![
                ev("d/web/a", 2, "two"),
                ev("d/web/b", 1, "late"),
                ev("d/web/a", 3, "same"),
                ev("d/web/a", 3, "same"),
            ],
            &q,
            &push,
        );
        assert_eq!(*out.lock().unwrap(), ["one", "two", "late", "same", "same"]);
    }

    #[test]
    fn tail_keeps_the_last_matching_lines() {
        let q = LogQuery {
            grep: Some("x"),
            ..LogQuery::default()
        };
        let events = vec![ev("s", 1, "x1\ny"), ev("s", 2, "x2\nx3")];
        assert_eq!(matching(&events, &q), 3);
        let kept = drop_matching(events, &q, 2);
        assert_eq!(kept, [ev("s", 2, "x3")]);
    }
}
