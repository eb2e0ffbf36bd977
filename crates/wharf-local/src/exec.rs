//! `wharf exec` on the local target: a running container of the service (or the job's run),
//! entered with Docker's own client, `docker exec`, with a terminal when the user has one.

use wharf_docker::{LABEL_APP, LABEL_DEPLOYMENT, LABEL_ENV, LABEL_JOB, LABEL_SERVICE};
use wharf_engine::{ExecRequest, LogSource, Session, TargetError};

use crate::target::{terr, LocalTarget};

/// Where to get the client when it is missing.
const INSTALL: &str = "install Docker's command-line client (`docker`, e.g. the docker-ce-cli or docker.io package): wharf hands local sessions to `docker exec`";

impl LocalTarget {
    pub(crate) async fn local_exec(&self, req: ExecRequest<'_>) -> Result<Session, TargetError> {
        let (key, name) = match req.of {
            LogSource::Service(s) => (LABEL_SERVICE, s.name.as_str()),
            LogSource::Job(j) => (LABEL_JOB, j.name.as_str()),
        };
        let mut labels = vec![
            (LABEL_APP, self.app.as_str()),
            (LABEL_ENV, self.env.as_str()),
            (key, name),
        ];
        if let Some(d) = req.deployment {
            labels.push((LABEL_DEPLOYMENT, d));
        }
        let mut running: Vec<_> = self
            .docker
            .list(&labels)
            .await
            .map_err(terr)?
            .into_iter()
            .filter(|c| c.running)
            .filter(|c| {
                req.task
                    .is_none_or(|t| c.name.contains(t) || c.id.starts_with(t))
            })
            .collect();
        running.sort_by(|a, b| a.name.cmp(&b.name));
        let Some(c) = running.first() else {
            let which = match (req.deployment, req.task) {
                (_, Some(t)) => format!(" matching task {t}"),
                (Some(d), None) => format!(" in deployment {d}"),
                (None, None) => String::new(),
            };
            return Err(TargetError::new(format!("no running task of {name}{which}"))
                .help("`wharf status` shows what runs; a job runs only while `wharf run` runs it (or with --detach)"));
        };
        let mut args = vec!["exec".to_owned()];
        if req.tty {
            args.extend(["--interactive".to_owned(), "--tty".to_owned()]);
        }
        args.push(c.id.clone());
        args.extend(req.argv());
        Ok(Session {
            program: "docker".into(),
            args,
            task: c.name.clone(),
            install: INSTALL.into(),
        })
    }
}
