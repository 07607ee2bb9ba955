//! Which synack processes `synack ss` reads: every control socket in a directory (the
//! default one, or `--dir`), or the one `--socket` names. Files left behind by processes that
//! are gone refuse connections; they are skipped, not errors.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// One running process's snapshot.
pub struct Process {
    pub path: PathBuf,
    pub doc: Value,
}

/// What a directory scan found.
#[derive(Default)]
pub struct Found {
    /// The processes that answered, by pid.
    pub live: Vec<Process>,
    /// Socket files nobody answers on (their process is gone).
    pub stale: Vec<PathBuf>,
    /// Sockets that could not be read for another reason (permissions, a bad answer), with
    /// the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Read one control socket's snapshot.
pub fn read(path: &Path) -> Result<Value, ReadError> {
    let text =
        synack::control::query(path, Duration::from_secs(5)).map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => ReadError::Stale,
            _ => ReadError::Other(e.to_string()),
        })?;
    serde_json::from_str(&text).map_err(|e| ReadError::Other(format!("bad answer: {e}")))
}

pub enum ReadError {
    /// Nobody listens: the process that made the file is gone (or it never existed).
    Stale,
    Other(String),
}

/// The socket `--socket` names: an error, said plainly, when nothing answers on it.
pub fn one(path: &Path) -> Result<Process, String> {
    match read(path) {
        Ok(doc) => Ok(Process {
            path: path.to_path_buf(),
            doc,
        }),
        Err(ReadError::Stale) if path.exists() => Err(format!(
            "{}: no process answers on this control socket (its synack has exited)",
            path.display()
        )),
        Err(ReadError::Stale) => Err(format!("{}: no such control socket", path.display())),
        Err(ReadError::Other(e)) => Err(format!("{}: {e}", path.display())),
    }
}

/// Every `*.sock` in `dir`, read.
pub fn scan(dir: &Path) -> Found {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sock"))
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    let mut found = Found::default();
    for path in paths {
        match read(&path) {
            Ok(doc) => found.live.push(Process { path, doc }),
            Err(ReadError::Stale) => found.stale.push(path),
            Err(ReadError::Other(e)) => found.unreadable.push((path, e)),
        }
    }
    found
        .live
        .sort_by_key(|p| (p.doc["pid"].as_u64().unwrap_or(u64::MAX), p.path.clone()));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A socket file whose listener is gone refuses connections: skipped as stale, and
    /// `--socket` on it says why rather than printing an I/O error.
    #[test]
    fn stale_sockets_are_skipped_and_named() {
        let dir = std::env::temp_dir().join(format!("synack-ss-find-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let stale = dir.join("12345.sock");
        drop(UnixListener::bind(&stale).unwrap());
        std::fs::write(dir.join("notes.txt"), "not a socket").unwrap();
        let found = scan(&dir);
        assert!(found.live.is_empty());
        assert_eq!(found.stale, vec![stale.clone()]);
        assert!(found.unreadable.is_empty());
        let err = one(&stale).err().unwrap();
        assert!(err.contains("no process answers"), "{err}");
        let err = one(&dir.join("gone.sock")).err().unwrap();
        assert!(err.contains("no such control socket"), "{err}");
        let none = scan(&dir.join("missing"));
        assert!(none.live.is_empty() && none.stale.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
