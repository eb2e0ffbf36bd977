//! A job's run on one machine: a labelled container on the environment's network (or the
//! host's, when the job asks), with the job's env, its secrets from the secrets file and its
//! data bindings, no port published; followed to its end, explained, and removed. Also the
//! logs of services' and jobs' containers (`wharf logs`).

use std::collections::HashMap;

use wharf_docker::{Exit, RunSpec, LABEL_APP, LABEL_DEPLOYMENT, LABEL_ENV, LABEL_JOB};
use wharf_engine::{Image, JobSpec, JobTask, LogLine, LogQuery, LogSource, RunEnd, TargetError};
use wharf_manifest::{Build, Job};

use crate::target::{terr, LocalTarget};

/// How long a job's container gets between SIGTERM and SIGKILL (ECS's default).
pub const JOB_STOP_TIMEOUT_S: i32 = 30;

impl LocalTarget {
    fn job_labels(&self, job: &str, run: &str) -> HashMap<String, String> {
        [
            (LABEL_APP, self.app.as_str()),
            (LABEL_ENV, self.env.as_str()),
            (LABEL_JOB, job),
            (LABEL_DEPLOYMENT, run),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The job's env, secrets and bindings, then the run's own variables. A binding only the
    /// data stack can resolve (a host, a password) must be given in the job's env here.
    pub(crate) fn job_env(&self, spec: &JobSpec<'_>) -> Result<Vec<String>, TargetError> {
        let job = spec.job;
        let mut env: Vec<String> = job.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for (k, r) in &job.secrets {
            env.push(format!("{k}={}", self.secret(r)?));
        }
        let names = self.names();
        for b in self.job_bindings.get(&job.name).into_iter().flatten() {
            if job.env.contains_key(&b.name) || job.secrets.contains_key(&b.name) {
                continue;
            }
            match b.local_value(&names) {
                Some(v) => env.push(format!("{}={v}", b.name)),
                None => {
                    return Err(terr(format!(
                        "job {} binds {}, whose {} only an AWS data stack provides",
                        job.name, b.data, b.name
                    ))
                    .help(format!(
                        "give it here: env = {{ {} = \"…\" }} (or secrets = {{ … }}) under [environments.{}.jobs.{}]",
                        b.name, self.env, job.name
                    )))
                }
            }
        }
        env.extend(spec.env.iter().map(|(k, v)| format!("{k}={v}")));
        Ok(env)
    }

    pub(crate) async fn local_job_image(
        &self,
        job: &Job,
        build: &Build,
        run: &str,
        events: &dyn wharf_engine::EventSink,
    ) -> Result<Image, wharf_docker::BuildError> {
        // One tag per job and environment: each run's build replaces the last (the build
        // cache makes that cheap), so runs do not pile up images; `down` removes it.
        let tag = format!("{}:{}", self.names().local_job_image(&job.name), self.env);
        let spec = wharf_docker::ServiceBuild {
            root: &self.root,
            app: &self.app,
            env: &self.env,
            name: &job.name,
            build,
            platform: job.platform.as_deref(),
            id: run,
            private: &self.private,
        };
        let platform = wharf_docker::build_service(&self.docker, &spec, &tag, events).await?;
        Ok(Image {
            platform: Some(platform),
            ..Image::unpinned(tag)
        })
    }

    pub(crate) async fn local_start_job(&self, spec: &JobSpec<'_>) -> Result<JobTask, TargetError> {
        let job = spec.job;
        let env = self.job_env(spec)?;
        let network = if job.host_network {
            "host".to_owned()
        } else {
            let n = self.names().network();
            self.docker
                .ensure_network(&n, self.labels("", ""))
                .await
                .map_err(terr)?;
            n
        };
        self.docker.ensure_image(spec.image).await.map_err(terr)?;
        let name = self.names().job_container(&job.name, spec.run);
        self.docker
            .run(
                RunSpec {
                    name: &name,
                    image: spec.image,
                    port: None,
                    env,
                    labels: self.job_labels(&job.name, spec.run),
                    cpu: job.cpu,
                    memory_mib: job.memory,
                    stop_timeout_s: i64::from(JOB_STOP_TIMEOUT_S),
                    command: spec.command.clone().or_else(|| job.command.clone()),
                    health: None,
                    hosts: vec![],
                },
                &network,
            )
            .await
            .map_err(terr)?;
        Ok(JobTask { id: name })
    }

    pub(crate) async fn local_follow_job(
        &self,
        task: &JobTask,
        deadline_ms: Option<i64>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<Option<RunEnd>, TargetError> {
        let deadline = deadline_ms.map(|d| {
            let now = wharf_engine::Clock::now_ms(&wharf_engine::SystemClock);
            tokio::time::Instant::now()
                + std::time::Duration::from_millis(d.saturating_sub(now).max(0) as u64)
        });
        let exit = self
            .docker
            .follow_to_end(&task.id, deadline, |l| {
                line(LogLine {
                    source: &task.id,
                    line: l,
                    timestamp_ms: None,
                })
            })
            .await
            .map_err(terr)?;
        let Some(exit) = exit else {
            return Ok(None);
        };
        self.docker
            .stop_and_remove(&task.id, 1)
            .await
            .map_err(terr)?;
        Ok(Some(explain(exit)))
    }
}

impl LocalTarget {
    /// The logs of a service's containers or a job's runs' (running, or kept after a
    /// detached run), filtered and merged by time; the last `tail` lines of the merge.
    pub(crate) async fn local_logs(
        &self,
        of: LogSource<'_>,
        q: LogQuery<'_>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<usize, TargetError> {
        let labels = self.source_labels(of, q.deployment);
        let mut containers = self.docker.list(&labels).await.map_err(terr)?;
        if let Some(t) = q.task {
            containers.retain(|c| c.name.contains(t) || c.id.starts_with(t));
        }
        if q.follow {
            // Lines as they come; `tail` applies to each container's past.
            self.docker
                .logs(&containers, true, q.tail, q.since_ms, |source, ts, l| {
                    if q.keeps(l) {
                        line(LogLine {
                            source,
                            line: l,
                            timestamp_ms: ts,
                        })
                    }
                })
                .await
                .map_err(terr)?;
            return Ok(containers.len());
        }
        // A grep reads everything, then keeps the last matching lines.
        let per_container = if q.grep.is_some() { None } else { q.tail };
        let mut kept: Vec<(String, Option<i64>, String)> = Vec::new();
        self.docker
            .logs(
                &containers,
                false,
                per_container,
                q.since_ms,
                |source, ts, l| {
                    if q.keeps(l) {
                        kept.push((source.to_owned(), ts, l.to_owned()));
                    }
                },
            )
            .await
            .map_err(terr)?;
        let skip = q.tail.map_or(0, |t| kept.len().saturating_sub(t as usize));
        for (source, ts, l) in &kept[skip..] {
            line(LogLine {
                source,
                line: l,
                timestamp_ms: *ts,
            });
        }
        Ok(containers.len())
    }
}

/// A container's end in the words ECS would use, with what to do about a failure.
fn explain(exit: Exit) -> RunEnd {
    let code = i32::try_from(exit.code).unwrap_or(-1);
    if exit.oom_killed {
        return RunEnd {
            exit_code: Some(code),
            stop_code: "oom-killed".into(),
            reason: "OutOfMemory: the container was killed for exceeding its memory".into(),
            help: Some("raise the job's `memory`, or make it use less".into()),
        };
    }
    if let Some(error) = exit.error {
        return RunEnd {
            exit_code: Some(code),
            stop_code: "failed-to-start".into(),
            help: Some(if error.contains("exec format error") {
                "the image was built for another CPU architecture than this machine's".into()
            } else {
                "check the job's command and image".into()
            }),
            reason: error,
        };
    }
    RunEnd {
        exit_code: Some(code),
        stop_code: if code == 143 || code == 137 {
            "stopped".into()
        } else {
            "exited".into()
        },
        reason: format!("the container exited with code {code}"),
        help: None,
    }
}
