//! The studio's catalog with its history: every version the operator saved
//! from the console, and the reference images uploaded for them. SQLite,
//! one file (`catalog.sqlite3`) in the studio's data folder, so the history
//! and the catalog in effect outlive a restart and any version can be
//! restored. In AWS the same role is an S3 object with versioning.
//!
//! Version 1 is the catalog the studio started with (the demo's, or
//! `--catalog`). When the studio starts with a different starting catalog
//! than the history began with (another `--catalog`, or the file edited),
//! that catalog becomes a new version: what the operator passed wins, and
//! nothing earlier is lost.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS catalog_versions (
    number   INTEGER PRIMARY KEY AUTOINCREMENT,
    saved_at INTEGER NOT NULL,
    by       TEXT NOT NULL,
    note     TEXT NOT NULL,
    -- the starting catalog's hash for versions the studio started with
    origin   TEXT NOT NULL,
    text     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog_references (
    name     TEXT PRIMARY KEY,
    bytes    BLOB NOT NULL
);
";

/// Where an uploaded reference is named in the catalog: content-addressed,
/// so a changed image is a new name and the detector's rebuild sees it.
pub const REFERENCE_PREFIX: &str = "references/";
/// The largest reference image accepted (a logo is tens of KB).
pub const MAX_REFERENCE_BYTES: usize = 4 << 20;
/// Versions kept: older ones are deleted as new ones come (a catalog is at
/// most 1 MB; this bounds the file at a few hundred MB in the worst case
/// and is months of edits).
pub const KEEP_VERSIONS: i64 = 500;

#[derive(Debug, thiserror::Error)]
#[error("catalog history {what}")]
pub struct StoreError {
    what: String,
    #[source]
    source: rusqlite::Error,
}

/// One saved version, without its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub number: i64,
    /// Unix seconds, by the studio's clock.
    pub saved_at: i64,
    pub by: String,
    pub note: String,
}

pub struct CatalogStore {
    db: Mutex<Connection>,
}

fn failed(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError { what, source }
}

/// The name an uploaded reference gets in the catalog.
pub fn reference_name(bytes: &[u8]) -> String {
    format!(
        "{REFERENCE_PREFIX}{}",
        backend::live_catalog::reference_name(bytes)
    )
}

impl CatalogStore {
    /// Opens (or creates) the history at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let at = path.display().to_string();
        let db = Connection::open(path).map_err(failed(format!("cannot open {at}")))?;
        db.execute_batch(SCHEMA)
            .map_err(failed(format!("cannot set up {at}")))?;
        Ok(Self { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The version to start with: the newest, when the history began from
    /// this same starting catalog; otherwise `starting` saved as a new
    /// version. Returns its number and text.
    pub fn start(&self, starting: &str, now: i64) -> Result<(i64, String), StoreError> {
        let origin = origin_of(starting);
        let db = self.db();
        let newest_origin: Option<String> = db
            .query_row(
                "SELECT origin FROM catalog_versions WHERE origin != '' ORDER BY number DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed("cannot be read"))?;
        if newest_origin.as_deref() == Some(origin.as_str()) {
            let newest: (i64, String) = db
                .query_row(
                    "SELECT number, text FROM catalog_versions ORDER BY number DESC LIMIT 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(failed("cannot be read"))?;
            return Ok(newest);
        }
        drop(db);
        let number = self.insert(
            starting,
            now,
            "studio",
            "the catalog the studio started with",
            &origin,
        )?;
        Ok((number, starting.to_owned()))
    }

    fn insert(
        &self,
        text: &str,
        now: i64,
        by: &str,
        note: &str,
        origin: &str,
    ) -> Result<i64, StoreError> {
        let db = self.db();
        db.execute(
            "INSERT INTO catalog_versions (saved_at, by, note, origin, text) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now, by, note, origin, text],
        )
        .map_err(failed("cannot be written"))?;
        let number = db.last_insert_rowid();
        db.execute(
            "DELETE FROM catalog_versions WHERE number <= ?1 - ?2",
            params![number, KEEP_VERSIONS],
        )
        .map_err(failed("cannot be trimmed"))?;
        Ok(number)
    }

    /// Saves `text` (already checked) as the next version; returns its number.
    pub fn save(&self, text: &str, now: i64, by: &str, note: &str) -> Result<i64, StoreError> {
        self.insert(text, now, by, note, "")
    }

    /// Drops a version just saved that could not be put in effect.
    pub fn forget(&self, number: i64) -> Result<(), StoreError> {
        self.db()
            .execute(
                "DELETE FROM catalog_versions WHERE number = ?1",
                params![number],
            )
            .map_err(failed("cannot be written"))?;
        Ok(())
    }

    /// The saved versions, newest first, at most `limit`.
    pub fn versions(&self, limit: usize) -> Result<Vec<VersionInfo>, StoreError> {
        let db = self.db();
        let mut query = db
            .prepare(
                "SELECT number, saved_at, by, note FROM catalog_versions ORDER BY number DESC LIMIT ?1",
            )
            .map_err(failed("cannot be read"))?;
        let rows = query
            .query_map(params![limit as i64], |row| {
                Ok(VersionInfo {
                    number: row.get(0)?,
                    saved_at: row.get(1)?,
                    by: row.get(2)?,
                    note: row.get(3)?,
                })
            })
            .map_err(failed("cannot be read"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(failed("cannot be read"))
    }

    /// A version's text, if it is kept.
    pub fn text(&self, number: i64) -> Result<Option<String>, StoreError> {
        self.db()
            .query_row(
                "SELECT text FROM catalog_versions WHERE number = ?1",
                params![number],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed("cannot be read"))
    }

    /// Keeps an uploaded reference image; returns its catalog name.
    pub fn add_reference(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let name = reference_name(bytes);
        self.db()
            .execute(
                "INSERT OR IGNORE INTO catalog_references (name, bytes) VALUES (?1, ?2)",
                params![name, bytes],
            )
            .map_err(failed("cannot keep a reference image"))?;
        Ok(name)
    }

    /// An uploaded reference image by its catalog name.
    pub fn reference(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db()
            .query_row(
                "SELECT bytes FROM catalog_references WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed("cannot read a reference image"))
    }
}

fn origin_of(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tag` names the folder: tests run at once in one process.
    fn store(tag: &str) -> (test_support::TempDir, CatalogStore) {
        let dir = test_support::TempDir::new(tag).expect("temp dir");
        let store = CatalogStore::open(&dir.path().join("catalog.sqlite3")).expect("open");
        (dir, store)
    }

    #[test]
    fn the_starting_catalog_is_version_one_and_edits_survive_a_restart() {
        let (dir, store) = store("catalog-restart");
        assert_eq!(store.start("A", 10).expect("start"), (1, "A".into()));
        assert_eq!(
            store.save("B", 20, "studio token", "edit").expect("save"),
            2
        );
        drop(store);
        let store = CatalogStore::open(&dir.path().join("catalog.sqlite3")).expect("reopen");
        // Same starting catalog: the operator's edit stays in effect.
        assert_eq!(store.start("A", 30).expect("start"), (2, "B".into()));
        // Another starting catalog wins, as a new version; nothing is lost.
        assert_eq!(store.start("C", 40).expect("start"), (3, "C".into()));
        assert_eq!(store.text(2).expect("text").as_deref(), Some("B"));
        let numbers: Vec<i64> = store
            .versions(10)
            .expect("versions")
            .iter()
            .map(|v| v.number)
            .collect();
        assert_eq!(numbers, vec![3, 2, 1]);
        assert_eq!(store.text(9).expect("text"), None);
    }

    #[test]
    fn references_are_named_by_content() {
        let (_dir, store) = store("catalog-references");
        let png = b"\x89PNG fake".to_vec();
        let name = store.add_reference(&png).expect("add");
        assert!(
            name.starts_with(REFERENCE_PREFIX) && name.ends_with(".png"),
            "{name}"
        );
        assert_eq!(store.add_reference(&png).expect("again"), name);
        assert_eq!(store.reference(&name).expect("read"), Some(png));
        assert_ne!(reference_name(b"\x89PNG other"), name);
        assert_eq!(store.reference("references/none.png").expect("read"), None);
    }
}
