//! `wharf exec` on the local target: a running container of the service (or the job's run),
//! entered with Docker's own client, `docker exec`, with a terminal when the user has one.

use wharf_engine::{ExecRequest, Session, TargetError};

use crate::target::{terr, LocalTarget};

/// Where to get the client when it is missing.
const INSTALL: &str = "install Docker's command-line client (`docker`, e.g. the docker-ce-cli or docker.io package): wharf hands local sessions to `docker exec`";

impl LocalTarget {
    pub(crate) async fn local_exec(&self, req: ExecRequest<'_>) -> Result<Session, TargetError> {
        let name = req.of.name();
        let labels = self.source_labels(req.of, req.deployment);
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
