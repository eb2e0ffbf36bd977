//! Records and locks in `{state_dir}/state.db`. Several `wharf` processes may use it at once:
//! every change is one SQLite transaction, and taking a lock is atomic (BEGIN IMMEDIATE).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use wharf_engine::{Ask, Holder, Lock, Record, RunRecord, Store, TargetError, Unreadable};

/// The schema this wharf writes. A database from a newer wharf is refused, not rewritten; one
/// from an older wharf is brought up to date (2: what was asked of a deployment, beside it).
pub const SCHEMA_VERSION: i64 = 2;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StoreError {
    #[error("failed to open the local state {}", path.display())]
    #[diagnostic(code(wharf::local::state_open), help("check the state dir's permissions; if the file is damaged, move it away (the containers keep running) and run `wharf up --env local`"))]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("the local state {} is not a wharf state database", path.display())]
    #[diagnostic(code(wharf::local::state_corrupt), help("move the file away and run `wharf up --env local`; the containers keep running and `wharf down` still finds them by their labels"))]
    Corrupt { path: PathBuf },

    #[error("the local state {} was written by a newer wharf (schema {found}, this wharf knows {SCHEMA_VERSION})", path.display())]
    #[diagnostic(
        code(wharf::local::state_newer),
        help("upgrade wharf; this one will not change state it does not understand")
    )]
    Newer { path: PathBuf, found: i64 },
}

/// The environment's state database.
pub struct LocalStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl LocalStore {
    /// Opens (creating) `{dir}/state.db`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("state.db");
        let open = |e| StoreError::Open {
            path: path.clone(),
            source: e,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| open(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        let mut conn = Connection::open(&path).map_err(open)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(open)?;
        let corrupt = || StoreError::Corrupt { path: path.clone() };
        conn.execute_batch("PRAGMA journal_mode = WAL;")
            .map_err(|_| corrupt())?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS records (service TEXT NOT NULL, id TEXT NOT NULL, started_ms INTEGER NOT NULL, body TEXT NOT NULL, approve_asked INTEGER NOT NULL DEFAULT 0, abort_asked INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (service, id));
             CREATE TABLE IF NOT EXISTS locks (service TEXT PRIMARY KEY, holder TEXT NOT NULL, acquired_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS runs (job TEXT NOT NULL, run TEXT NOT NULL, started_ms INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (job, run));",
        )
        .map_err(|_| corrupt())?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|_| corrupt())?;
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(|_| corrupt())?;
            }
            Some(Ok(v)) if v > SCHEMA_VERSION => return Err(StoreError::Newer { path, found: v }),
            Some(Ok(1)) => migrate_1_to_2(&mut conn).map_err(|_| corrupt())?,
            Some(Ok(_)) => {}
            Some(Err(_)) => return Err(corrupt()),
        }
        Ok(LocalStore {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The service's lock row, if any.
fn current_lock(tx: &rusqlite::Transaction<'_>, service: &str) -> rusqlite::Result<Option<Lock>> {
    tx.query_row(
        "SELECT holder, acquired_ms, expires_ms FROM locks WHERE service = ?1",
        params![service],
        |r| {
            Ok(Lock {
                service: service.to_owned(),
                holder: Holder::decode(&r.get::<_, String>(0)?),
                acquired_ms: r.get(1)?,
                expires_ms: r.get(2)?,
            })
        },
    )
    .optional()
}

/// Adds the columns of what was asked of a deployment; another process doing the same at the
/// same moment waits for the write lock and then finds it done.
fn migrate_1_to_2(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now: String = tx.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
        r.get(0)
    })?;
    if now == "1" {
        tx.execute_batch(
            "ALTER TABLE records ADD COLUMN approve_asked INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE records ADD COLUMN abort_asked INTEGER NOT NULL DEFAULT 0;
             UPDATE meta SET value = '2' WHERE key = 'schema';",
        )?;
    }
    tx.commit()
}

/// A record's row: its body and what was asked of it.
struct Row {
    id: String,
    body: String,
    approve: bool,
    abort: bool,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        body: r.get(1)?,
        approve: r.get(2)?,
        abort: r.get(3)?,
    })
}

impl Row {
    fn record(self) -> serde_json::Result<Record> {
        let mut r: Record = serde_json::from_str(&self.body)?;
        for (a, asked) in Ask::ALL.into_iter().zip([self.approve, self.abort]) {
            if asked {
                a.apply(&mut r);
            }
        }
        Ok(r)
    }
}

fn err(what: &str) -> impl Fn(rusqlite::Error) -> TargetError + '_ {
    move |e| TargetError::new(format!("local state: failed to {what}: {e}"))
}

impl Store for LocalStore {
    async fn save_run(&self, run: &RunRecord) -> Result<(), TargetError> {
        let body = serde_json::to_string(run)
            .map_err(|e| TargetError::new(format!("run record does not serialize: {e}")))?;
        self.conn()
            .execute(
                "INSERT INTO runs (job, run, started_ms, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (job, run) DO UPDATE SET body = excluded.body",
                params![run.job, run.run, run.started_ms, body],
            )
            .map_err(err("save a run"))?;
        Ok(())
    }

    async fn last_run(&self, job: &str) -> Result<Option<RunRecord>, TargetError> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM runs WHERE job = ?1 ORDER BY started_ms DESC, run DESC LIMIT 1",
                params![job],
                |r| r.get(0),
            )
            .optional()
            .map_err(err("read the runs"))?;
        body.map(|b| {
            serde_json::from_str(&b).map_err(|e| {
                TargetError::new(format!("the last run of {job} does not read: {e}"))
                    .help("a newer wharf may have written it (upgrade wharf)")
            })
        })
        .transpose()
    }

    async fn save(&self, record: &Record) -> Result<(), TargetError> {
        let body = serde_json::to_string(record)
            .map_err(|e| TargetError::new(format!("record does not serialize: {e}")))?;
        self.conn()
            .execute(
                "INSERT INTO records (service, id, started_ms, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (service, id) DO UPDATE SET body = excluded.body",
                params![record.service, record.id, record.started_ms, body],
            )
            .map_err(err("save a record"))?;
        Ok(())
    }

    async fn load(&self, service: &str, id: &str) -> Result<Option<Record>, TargetError> {
        let row: Option<Row> = self
            .conn()
            .query_row(
                "SELECT id, body, approve_asked, abort_asked FROM records WHERE service = ?1 AND id = ?2",
                params![service, id],
                row,
            )
            .optional()
            .map_err(err("read a record"))?;
        row.map(|r| {
            r.record()
                .map_err(|e| TargetError::new(format!("record {id} is unreadable: {e}")))
        })
        .transpose()
    }

    async fn list_readable(
        &self,
        service: &str,
    ) -> Result<(Vec<Record>, Vec<Unreadable>), TargetError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, body, approve_asked, abort_asked FROM records WHERE service = ?1 ORDER BY started_ms, id")
            .map_err(err("list records"))?;
        let rows = stmt
            .query_map(params![service], row)
            .map_err(err("list records"))?;
        let (mut out, mut unreadable) = (Vec::new(), Vec::new());
        for r in rows {
            let r = r.map_err(err("list records"))?;
            let id = r.id.clone();
            match r.record() {
                Ok(record) => out.push(record),
                Err(e) => unreadable.push(Unreadable {
                    service: service.to_owned(),
                    id,
                    error: e.to_string(),
                }),
            }
        }
        Ok((out, unreadable))
    }

    async fn ask(&self, service: &str, id: &str, ask: Ask) -> Result<bool, TargetError> {
        let column = ask.field();
        let changed = self
            .conn()
            .execute(
                &format!("UPDATE records SET {column} = 1 WHERE service = ?1 AND id = ?2"),
                params![service, id],
            )
            .map_err(err("ask a deployment"))?;
        Ok(changed > 0)
    }

    async fn lock(
        &self,
        service: &str,
        holder: &Holder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Result<Lock, Lock>, TargetError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("take the lock"))?;
        let current = current_lock(&tx, service).map_err(err("take the lock"))?;
        if let Some(l) = current {
            if l.holder != *holder && l.expires_ms > now_ms {
                return Ok(Err(l));
            }
        }
        let lock = Lock {
            service: service.to_owned(),
            holder: holder.clone(),
            acquired_ms: now_ms,
            expires_ms: now_ms + lease_ms,
        };
        tx.execute(
            "INSERT OR REPLACE INTO locks (service, holder, acquired_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            params![service, holder.encode(), now_ms, lock.expires_ms],
        )
        .map_err(err("take the lock"))?;
        tx.commit().map_err(err("take the lock"))?;
        Ok(Ok(lock))
    }

    async fn renew(
        &self,
        service: &str,
        holder: &Holder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, TargetError> {
        let n = self
            .conn()
            .execute(
                "UPDATE locks SET expires_ms = ?3 WHERE service = ?1 AND holder = ?2",
                params![service, holder.encode(), now_ms + lease_ms],
            )
            .map_err(err("renew the lock"))?;
        Ok(n == 1)
    }

    async fn unlock(&self, service: &str, holder: &Holder) -> Result<(), TargetError> {
        self.conn()
            .execute(
                "DELETE FROM locks WHERE service = ?1 AND holder = ?2",
                params![service, holder.encode()],
            )
            .map_err(err("release the lock"))?;
        Ok(())
    }

    async fn current_lock(&self, service: &str) -> Result<Option<Lock>, TargetError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err("read the lock"))?;
        current_lock(&tx, service).map_err(err("read the lock"))
    }

    async fn force_unlock(&self, service: &str) -> Result<Option<Lock>, TargetError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("break the lock"))?;
        let current = current_lock(&tx, service).map_err(err("break the lock"))?;
        tx.execute("DELETE FROM locks WHERE service = ?1", params![service])
            .map_err(err("break the lock"))?;
        tx.commit().map_err(err("break the lock"))?;
        Ok(current)
    }
}
