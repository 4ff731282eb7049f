//! The operator's audit log in the studio: every action (pin, unpin,
//! clear, pause, resume), who took it, when by the studio's clock, what was
//! asked and what it caused (the cue, or the refusal). SQLite, one file in
//! the studio's data folder beside the measurement database, so the log
//! outlives a restart and the console reads it back.
//!
//! In AWS the same line is the operator function's `audit` log record
//! (`backend::operator_api`), in CloudWatch Logs.

use rusqlite::{params, Connection};
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS operator_audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    caller  TEXT NOT NULL,
    action  TEXT NOT NULL,
    request TEXT NOT NULL,
    status  INTEGER NOT NULL,
    answer  TEXT NOT NULL
);
";

/// Rows kept: older ones are deleted as new ones come (a show's actions are
/// tens; this is weeks of shows).
pub const KEEP_ROWS: i64 = 10_000;

/// The longest request or answer text kept in a row (an action's body is
/// at most 4 KB; an answer a cue of at most 1 KB and a few fields).
const MAX_TEXT: usize = 8 * 1024;

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds, by the studio's clock.
    pub at: i64,
    pub caller: String,
    pub action: String,
    /// The request's JSON body, as sent.
    pub request: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The answer's JSON: the cue published, the pause's end, or the error.
    pub answer: String,
}

#[derive(Debug, thiserror::Error)]
#[error("operator audit log {what}")]
pub struct AuditError {
    what: String,
    #[source]
    source: rusqlite::Error,
}

pub struct AuditLog {
    db: Mutex<Connection>,
}

fn bounded(text: &str) -> &str {
    if text.len() <= MAX_TEXT {
        return text;
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl AuditLog {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let failed = |what: &str| {
            let what = format!("{what} {}", path.display());
            move |source| AuditError { what, source }
        };
        let db = Connection::open(path).map_err(failed("cannot open"))?;
        db.execute_batch(SCHEMA).map_err(failed("cannot set up"))?;
        Ok(Self { db: Mutex::new(db) })
    }

    /// Appends one action, and drops rows past [`KEEP_ROWS`].
    pub fn append(
        &self,
        at: i64,
        caller: &str,
        action: &str,
        request: &str,
        status: u16,
        answer: &str,
    ) -> Result<(), AuditError> {
        let db = self
            .db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let failed = |source| AuditError {
            what: "cannot be written".into(),
            source,
        };
        db.execute(
            "INSERT INTO operator_audit (at, caller, action, request, status, answer) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![at, caller, action, bounded(request), status, bounded(answer)],
        )
        .map_err(failed)?;
        db.execute(
            "DELETE FROM operator_audit WHERE id <= (SELECT MAX(id) FROM operator_audit) - ?1",
            params![KEEP_ROWS],
        )
        .map_err(failed)?;
        Ok(())
    }

    /// The newest `limit` actions, newest first.
    pub fn newest(&self, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let db = self
            .db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let failed = |source| AuditError {
            what: "cannot be read".into(),
            source,
        };
        let mut statement = db
            .prepare(
                "SELECT id, at, caller, action, request, status, answer FROM operator_audit ORDER BY id DESC LIMIT ?1",
            )
            .map_err(failed)?;
        let rows = statement
            .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok(AuditEntry {
                    id: row.get(0)?,
                    at: row.get(1)?,
                    caller: row.get(2)?,
                    action: row.get(3)?,
                    request: row.get(4)?,
                    status: row.get(5)?,
                    answer: row.get(6)?,
                })
            })
            .map_err(failed)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_kept_across_a_reopen_newest_first() {
        let dir = test_support::TempDir::new("audit").expect("temp dir");
        let path = dir.path().join("operator.sqlite3");
        {
            let log = AuditLog::open(&path).expect("open");
            log.append(
                10,
                "studio token",
                "pin",
                r#"{"product":"kestrel"}"#,
                200,
                r#"{"published":"x"}"#,
            )
            .expect("append");
            log.append(11, "studio token", "clear", "{}", 200, "{}")
                .expect("append");
        }
        let log = AuditLog::open(&path).expect("reopen");
        let rows = log.newest(10).expect("read");
        assert_eq!(
            rows.iter()
                .map(|r| (r.at, r.action.as_str()))
                .collect::<Vec<_>>(),
            vec![(11, "clear"), (10, "pin")]
        );
        assert_eq!(rows[1].request, r#"{"product":"kestrel"}"#);
        assert_eq!(log.newest(1).expect("read").len(), 1);
    }

    #[test]
    fn a_long_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_TEXT && cut.chars().all(|c| c == 'é'));
    }
}
