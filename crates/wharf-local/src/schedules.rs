//! Scheduled jobs on one machine, a rehearsal of EventBridge Scheduler. `wharf deploy` saves
//! each schedule in `{state_dir}/schedules.json` (the job, its expression, the image it runs
//! — a built image by its id, so later builds do not change it — and when it was made); the
//! environment's daemon (`wharf local serve`) reads the file again whenever it changes and,
//! when a job is due, runs `wharf run JOB --scheduled --image …` itself, its output appended
//! to `{state_dir}/jobs/{job}.log`. That run records itself in the state database like any
//! other, which is where `status` finds the last run. A run still going when the job is due
//! again is not doubled: the turn is skipped and the log says so.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wharf_engine::{Clock, ScheduleSpec, Scheduled, SystemClock, TargetError};
use wharf_manifest::JobImage;

use crate::target::{terr, LocalTarget};

/// What `schedules.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saved {
    pub app: String,
    pub env: String,
    /// The manifest the daemon's runs read (an absolute path).
    pub manifest: PathBuf,
    pub schedules: Vec<Scheduled>,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("schedules.json")
}

/// The saved schedules; none saved is an empty list.
pub fn load(state_dir: &Path) -> Result<Saved, String> {
    match std::fs::read(path(state_dir)) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| format!("{} does not read: {e}", path(state_dir).display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Saved::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path(state_dir).display())),
    }
}

/// Replaces the file whole (a temp file renamed over it): the daemon never reads half.
fn save(state_dir: &Path, saved: &Saved) -> std::io::Result<()> {
    let tmp = state_dir.join(format!("schedules.json.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(saved)?)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path(state_dir))
}

impl LocalTarget {
    pub(crate) fn state_dir(&self) -> PathBuf {
        self.store
            .path()
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    fn edit_schedules(&self, edit: impl FnOnce(&mut Saved)) -> Result<Saved, TargetError> {
        let dir = self.state_dir();
        let mut saved = load(&dir).map_err(terr)?;
        saved.app.clone_from(&self.app);
        saved.env.clone_from(&self.env);
        saved.manifest.clone_from(&self.manifest_file);
        edit(&mut saved);
        save(&dir, &saved)
            .map_err(|e| terr(format!("cannot save {}: {e}", path(&dir).display())))?;
        Ok(saved)
    }

    pub(crate) async fn local_schedule(
        &self,
        spec: &ScheduleSpec<'_>,
    ) -> Result<Scheduled, TargetError> {
        // A built image by its id: the next `wharf run` rebuilds the job's tag, and the
        // schedule must keep running what deploy made, as a task definition does on AWS.
        let runs = match spec.job.image {
            JobImage::Build(_) => self.docker.image_id(spec.image).await.map_err(terr)?,
            _ => spec.image.to_owned(),
        };
        let now = SystemClock.now_ms();
        let mut made = None;
        self.edit_schedules(|saved| {
            let since_ms = saved
                .schedules
                .iter()
                .find(|s| s.job == spec.job.name)
                .map_or(now, |s| s.since_ms);
            saved.schedules.retain(|s| s.job != spec.job.name);
            let s = Scheduled {
                job: spec.job.name.clone(),
                expression: spec.expression.to_owned(),
                runs,
                since_ms,
            };
            saved.schedules.push(s.clone());
            saved.schedules.sort_by(|a, b| a.job.cmp(&b.job));
            made = Some(s);
        })?;
        Ok(made.expect("the edit ran"))
    }

    pub(crate) fn local_schedules(&self) -> Result<Vec<Scheduled>, TargetError> {
        Ok(load(&self.state_dir()).map_err(terr)?.schedules)
    }

    pub(crate) fn local_unschedule(&self, job: &str) -> Result<(), TargetError> {
        if self.local_schedules()?.iter().any(|s| s.job == job) {
            self.edit_schedules(|saved| saved.schedules.retain(|s| s.job != job))?;
        }
        Ok(())
    }
}

/// The daemon's side: every second, reads the file again if it changed and starts the jobs
/// that are due, until `stop` turns true.
pub async fn run_due(state_dir: PathBuf, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut seen = None;
    let mut saved = Saved::default();
    let mut next: HashMap<String, (Scheduled, Option<i64>)> = HashMap::new();
    let mut running: HashMap<String, tokio::process::Child> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        let now = SystemClock.now_ms();
        let stamp = std::fs::metadata(path(&state_dir))
            .ok()
            .map(|m| (m.modified().ok(), m.len()));
        if stamp != seen {
            seen = stamp;
            match load(&state_dir) {
                Ok(s) => saved = s,
                Err(e) => note(
                    &state_dir.join("jobs").join("schedules.log"),
                    &format!("{e}; keeping the schedules read before"),
                ),
            }
            // A schedule read again unchanged keeps its turn; a new or changed one counts
            // from now.
            next = saved
                .schedules
                .iter()
                .map(|s| {
                    let turn = match next.get(&s.job) {
                        Some((old, turn)) if old == s => *turn,
                        _ => s.next_run(now),
                    };
                    (s.job.clone(), (s.clone(), turn))
                })
                .collect();
        }
        running.retain(|_, child| matches!(child.try_wait(), Ok(None)));
        for (job, (s, turn)) in next.iter_mut() {
            if turn.is_none_or(|t| t > now) {
                continue;
            }
            *turn = s.next_run(now);
            let log = log_file(&state_dir, job);
            if running.contains_key(job) {
                note(
                    &log,
                    &format!("skipped: the previous run of {job} still runs"),
                );
                continue;
            }
            match start(&saved, s, &log) {
                Ok(child) => {
                    running.insert(job.clone(), child);
                }
                Err(e) => note(&log, &format!("cannot start the run: {e}")),
            }
        }
    }
}

fn log_file(state_dir: &Path, job: &str) -> PathBuf {
    state_dir.join("jobs").join(format!("{job}.log"))
}

/// The longest a job's log grows before a run starts it afresh.
const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;

fn open_log(log: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let long = std::fs::metadata(log).is_ok_and(|m| m.len() > MAX_LOG_BYTES);
    std::fs::OpenOptions::new()
        .create(true)
        .append(!long)
        .write(true)
        .truncate(long)
        .open(log)
}

fn note(log: &Path, message: &str) {
    if let Ok(mut f) = open_log(log) {
        let _ = writeln!(
            f,
            "--- {} {message}",
            wharf_manifest::names::utc(SystemClock.now_ms())
        );
    }
}

/// Starts `wharf run` for the schedule's job, in its own process group (a Ctrl-C at the
/// terminal that started the daemon does not reach it).
fn start(saved: &Saved, s: &Scheduled, log: &Path) -> std::io::Result<tokio::process::Child> {
    note(
        log,
        &format!("{} runs on its schedule {}", s.job, s.expression),
    );
    let out = open_log(log)?;
    let exe = std::env::current_exe()?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("--manifest")
        .arg(&saved.manifest)
        .args(["--env", &saved.env, "--output", "text", "--no-color"])
        .args(["run", &s.job, "--scheduled", "--image", &s.runs])
        .current_dir(saved.manifest.parent().unwrap_or(Path::new("/")))
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0);
    cmd.spawn()
}
