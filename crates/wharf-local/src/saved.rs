//! The proxy's routes on disk, `{state_dir}/proxy.json`, so a restarted proxy drops nothing.
//! A save goes to a temp file that is synced, the previous file is kept as
//! `proxy.json.good`, and the rename is synced with its directory: a crash leaves the old
//! routes or the new ones, never half of either. A file that does not read is refused by
//! name, never replaced by an empty configuration.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use wharf_proxy::Config;

use crate::daemon::DaemonError;

pub fn config_path(state_dir: &Path) -> PathBuf {
    state_dir.join("proxy.json")
}

/// The routes before the last change.
pub fn good_path(state_dir: &Path) -> PathBuf {
    state_dir.join("proxy.json.good")
}

/// The saved routes; none saved yet is an empty configuration.
pub fn load(state_dir: &Path) -> Result<Config, DaemonError> {
    let path = config_path(state_dir);
    let corrupt = |message: String| DaemonError::Corrupt {
        path: path.clone(),
        good: good_path(state_dir),
        message,
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(corrupt(e.to_string())),
    };
    let config: Config = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    config.validate().map_err(corrupt)?;
    Ok(config)
}

/// Saves the routes durably (see the module's note).
pub fn save(state_dir: &Path, config: &Config) -> std::io::Result<()> {
    let path = config_path(state_dir);
    let tmp = state_dir.join("proxy.json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(config)?)?;
    f.sync_all()?;
    drop(f);
    if path.exists() {
        std::fs::copy(&path, good_path(state_dir))?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(state_dir)?.sync_all()
}
