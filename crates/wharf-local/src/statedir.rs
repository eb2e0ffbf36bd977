//! The state dir holds the control socket, the routes and the records: it is made 0700 for
//! the user alone, and one owned by another user is refused (its socket would take commands
//! from them, its records would be theirs).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the state dir cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateDirError {
    #[error("the state dir {} belongs to user {owner}, not to you (user {me})", path.display())]
    #[diagnostic(
        code(wharf::local::state_dir_owner),
        help("run wharf as the user who owns it, or set another `state_dir` for the environment")
    )]
    NotOwned { path: PathBuf, owner: u32, me: u32 },

    #[error("cannot prepare the state dir {}: {source}", path.display())]
    #[diagnostic(code(wharf::local::state_dir))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Creates `dir` (and missing parents) as 0700; an existing dir must be the user's, and is
/// closed to others if it was open.
pub fn prepare(dir: &Path) -> Result<(), StateDirError> {
    let io = |source| StateDirError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    let meta = std::fs::metadata(dir).map_err(io)?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(StateDirError::NotOwned {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_state_dir_is_the_users_alone_and_an_open_one_is_closed() {
        let base = std::env::temp_dir().join(format!("wharf-statedir-{}", std::process::id()));
        let dir = base.join(".wharf/local");
        prepare(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_state_dir_of_another_user_is_refused() {
        let base =
            std::env::temp_dir().join(format!("wharf-statedir-other-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        // Root can give the dir away; anyone else finds `/` owned by root.
        let theirs = if std::os::unix::fs::chown(&base, Some(65534), Some(65534)).is_ok() {
            base.clone()
        } else {
            PathBuf::from("/")
        };
        let err = prepare(&theirs).unwrap_err();
        assert!(matches!(err, StateDirError::NotOwned { .. }), "{err}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
