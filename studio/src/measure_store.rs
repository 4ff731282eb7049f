//! The studio's measurement store: SQLite (the bundled build, one file in the
//! studio's data folder), so counts survive a restart and `adctl report`
//! and the dashboard read what the collector wrote.
//!
//! An event's dedupe key (viewer and event id) is the `events` table's
//! primary key: a second arrival of the
//! same id (a beacon sent twice, a QR code fetched twice in a second) is
//! ignored by `INSERT OR IGNORE`, and only a row that went in bumps the
//! counters, in the same transaction. So the counts equal the distinct
//! events however many arrive at once. Robots' rows go in flagged and bump
//! nothing.

use backend::measure::{
    Counter, HourCount, Measure, MeasureReader, MeasureStore, MeasureStoreError, Outcome,
    RecordSummary, Recorded, ShowCounts,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    viewer   TEXT NOT NULL,
    measure  TEXT NOT NULL,
    channel  TEXT NOT NULL,
    product  TEXT NOT NULL,
    show     INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    robot    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS show_counts (
    channel  TEXT NOT NULL,
    product  TEXT NOT NULL,
    show     INTEGER NOT NULL,
    measure  TEXT NOT NULL,
    count    INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    PRIMARY KEY (channel, product, show, measure)
) WITHOUT ROWID;
-- The viewers' shows with a counted impression: a viewable counts only
-- after one (the AWS aggregator keeps the same markers).
CREATE TABLE IF NOT EXISTS impressions (
    viewer_show TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hour_counts (
    hour     TEXT NOT NULL,
    channel  TEXT NOT NULL,
    product  TEXT NOT NULL,
    measure  TEXT NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (hour, channel, product, measure)
) WITHOUT ROWID;
";

/// Events recorded before replays were counted apart have no `replay`
/// column: it is added, and they read as live.
const ADD_REPLAY: &str = "ALTER TABLE events ADD COLUMN replay INTEGER NOT NULL DEFAULT 0";

pub struct SqliteMeasureStore {
    path: PathBuf,
    db: Mutex<Connection>,
}

fn store_error(what: &str, e: rusqlite::Error) -> MeasureStoreError {
    MeasureStoreError::new(what.to_owned(), e)
}

impl SqliteMeasureStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, MeasureStoreError> {
        let db = Connection::open(path)
            .map_err(|e| store_error(&format!("cannot open {}", path.display()), e))?;
        db.execute_batch(SCHEMA)
            .map_err(|e| store_error(&format!("cannot set up {}", path.display()), e))?;
        let has_replay = db
            .prepare("SELECT 1 FROM pragma_table_info('events') WHERE name = 'replay'")
            .and_then(|mut q| q.exists([]))
            .map_err(|e| store_error(&format!("cannot read {}", path.display()), e))?;
        if !has_replay {
            db.execute(ADD_REPLAY, [])
                .map_err(|e| store_error(&format!("cannot update {}", path.display()), e))?;
        }
        Ok(Self {
            path: path.to_owned(),
            db: Mutex::new(db),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, MeasureStoreError> {
        self.db.lock().map_err(|_| {
            MeasureStoreError::because(
                "the database lock was poisoned by a panic; restart the studio",
            )
        })
    }

    /// Records in one transaction (synchronous; SQLite takes microseconds).
    pub fn record_now(&self, events: &[Recorded]) -> Result<RecordSummary, MeasureStoreError> {
        let mut db = self.lock()?;
        let tx = db
            .transaction()
            .map_err(|e| store_error("cannot begin", e))?;
        let mut summary = RecordSummary::default();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO events (event_id, viewer, measure, channel, product, show, at, robot, replay)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(|e| store_error("insert", e))?;
            let mut per_show = tx
                .prepare_cached(
                    "INSERT INTO show_counts (channel, product, show, measure, count, first_at)
                     VALUES (?1, ?2, ?3, ?4, 1, ?5)
                     ON CONFLICT (channel, product, show, measure) DO UPDATE SET count = count + 1",
                )
                .map_err(|e| store_error("count", e))?;
            let mut per_hour = tx
                .prepare_cached(
                    "INSERT INTO hour_counts (hour, channel, product, measure, count)
                     VALUES (?1, ?2, ?3, ?4, 1)
                     ON CONFLICT (hour, channel, product, measure) DO UPDATE SET count = count + 1",
                )
                .map_err(|e| store_error("count", e))?;
            let mut impressed = tx
                .prepare_cached("INSERT OR IGNORE INTO impressions (viewer_show) VALUES (?1)")
                .map_err(|e| store_error("mark", e))?;
            let mut was_impressed = tx
                .prepare_cached("SELECT 1 FROM impressions WHERE viewer_show = ?1")
                .map_err(|e| store_error("mark", e))?;
            for e in events {
                let show = i64::try_from(e.show).unwrap_or(i64::MAX);
                let at = i64::try_from(e.at).unwrap_or(i64::MAX);
                let inserted = insert
                    .execute(params![
                        e.dedupe_key(),
                        e.viewer,
                        e.measure.as_str(),
                        e.channel,
                        e.product,
                        show,
                        at,
                        e.robot,
                        e.replay
                    ])
                    .map_err(|err| store_error("insert", err))?;
                let no_impression = inserted != 0
                    && !e.robot
                    && e.measure == Measure::Viewable
                    && !was_impressed
                        .exists(params![e.viewer_show()])
                        .map_err(|err| store_error("mark", err))?;
                // The counter it adds to: its measure, or invalid traffic,
                // live or replay.
                let counter = Counter {
                    measure: (!(e.robot || no_impression)).then_some(e.measure),
                    replay: e.replay,
                }
                .name();
                if inserted == 0 {
                    summary.add(Outcome::Duplicate);
                } else if e.robot || no_impression {
                    // Invalid traffic: kept, counted only as such.
                    per_show
                        .execute(params![e.channel, e.product, show, counter, at])
                        .map_err(|err| store_error("count", err))?;
                    summary.add(if e.robot {
                        Outcome::Robot
                    } else {
                        Outcome::Invalid
                    });
                } else {
                    if e.measure == Measure::Impression {
                        impressed
                            .execute(params![e.viewer_show()])
                            .map_err(|err| store_error("mark", err))?;
                    }
                    per_show
                        .execute(params![e.channel, e.product, show, counter, at])
                        .map_err(|err| store_error("count", err))?;
                    per_hour
                        .execute(params![e.hour(), e.channel, e.product, counter])
                        .map_err(|err| store_error("count", err))?;
                    summary.add(Outcome::Counted);
                }
            }
        }
        tx.commit().map_err(|e| store_error("commit", e))?;
        Ok(summary)
    }

    pub fn shows_now(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
        let db = self.lock()?;
        let mut query = db
            .prepare_cached(
                "SELECT channel, product, show, measure, count, first_at FROM show_counts
                 ORDER BY show DESC, channel, product",
            )
            .map_err(|e| store_error("report", e))?;
        let rows = query
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(|e| store_error("report", e))?;
        let mut shows: Vec<ShowCounts> = Vec::new();
        for row in rows {
            let (channel, product, show, measure, count, first_at) =
                row.map_err(|e| store_error("report", e))?;
            let show = u64::try_from(show).unwrap_or(0);
            let first_at = u64::try_from(first_at).unwrap_or(0);
            let Some(counter) = Counter::parse(&measure) else {
                continue;
            };
            // The query orders rows by show, channel and product, so a show's
            // counters arrive together: only its live row and its replay row,
            // the last two, can be this one.
            let at = shows.iter().rposition(|s| {
                s.show == show
                    && s.channel == channel
                    && s.product == product
                    && s.replay == counter.replay
            });
            let at = match at.filter(|&i| i + 2 >= shows.len()) {
                Some(i) => i,
                None => {
                    shows.push(ShowCounts {
                        channel,
                        product,
                        show,
                        replay: counter.replay,
                        first_at,
                        ..ShowCounts::default()
                    });
                    shows.len() - 1
                }
            };
            let Some(current) = shows.get_mut(at) else {
                continue;
            };
            current.first_at = current.first_at.min(first_at);
            current.add_counter(counter, u64::try_from(count).unwrap_or(0));
        }
        shows.sort_by(ShowCounts::report_order);
        Ok(shows)
    }

    pub fn hours_now(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
        let db = self.lock()?;
        let mut query = db
            .prepare_cached(
                "SELECT hour, channel, product, measure, count FROM hour_counts
                 ORDER BY hour, channel, product, measure",
            )
            .map_err(|e| store_error("report", e))?;
        let rows = query
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| store_error("report", e))?;
        let mut hours = Vec::new();
        for row in rows {
            let (hour, channel, product, measure, count) =
                row.map_err(|e| store_error("report", e))?;
            let counter = Counter::parse(&measure);
            if let Some((measure, replay)) = counter.and_then(|c| Some((c.measure?, c.replay))) {
                hours.push(HourCount {
                    hour,
                    channel,
                    product,
                    measure,
                    replay,
                    count: u64::try_from(count).unwrap_or(0),
                });
            }
        }
        Ok(hours)
    }

    /// Events recorded (counted or not), for tests and the startup line.
    pub fn event_count(&self) -> Result<u64, MeasureStoreError> {
        let db = self.lock()?;
        let n: Option<i64> = db
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .optional()
            .map_err(|e| store_error("count", e))?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }
}

#[async_trait::async_trait]
impl MeasureStore for SqliteMeasureStore {
    async fn record(&self, events: &[Recorded]) -> Result<RecordSummary, MeasureStoreError> {
        self.record_now(events)
    }
}

#[async_trait::async_trait]
impl MeasureReader for SqliteMeasureStore {
    async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
        self.shows_now()
    }
    async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
        self.hours_now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, measure: Measure, robot: bool) -> Recorded {
        Recorded {
            event_id: id.into(),
            viewer: "v1".into(),
            measure,
            channel: "chan".into(),
            product: "cap".into(),
            show: 42,
            at: 1_796_300_000,
            robot,
            no_impression: false,
            replay: false,
        }
    }

    #[test]
    fn replays_are_counted_apart_from_live_and_old_stores_take_the_column() {
        let dir = test_support::TempDir::new("measure-replay").unwrap();
        let path = dir.path().join("measure.sqlite3");
        {
            // A store from before replays: no replay column.
            let db = Connection::open(&path).unwrap();
            db.execute_batch(SCHEMA).unwrap();
            db.execute(
                "INSERT INTO events (event_id, viewer, measure, channel, product, show, at, robot)
                 VALUES ('old', 'v0', 'impression', 'chan', 'cap', 42, 1796300000, 0)",
                [],
            )
            .unwrap();
        }
        let store = SqliteMeasureStore::open(&path).unwrap();
        let replayed = |id: &str, measure, robot| Recorded {
            viewer: "v2".into(),
            replay: true,
            ..event(id, measure, robot)
        };
        store
            .record_now(&[
                event("a", Measure::Impression, false),
                replayed("r1", Measure::Impression, false),
                replayed("r2", Measure::Scan, false),
                replayed("r3", Measure::Impression, true),
                // The same event id as a live one: another viewer, counted.
                replayed("a", Measure::Impression, false),
            ])
            .unwrap();
        let shows = store.shows_now().unwrap();
        let rows: Vec<(bool, u64, u64, u64)> = shows
            .iter()
            .map(|s| (s.replay, s.impressions, s.scans, s.invalid))
            .collect();
        assert_eq!(rows, vec![(false, 1, 0, 0), (true, 2, 1, 1)]);
        let hours = store.hours_now().unwrap();
        assert!(hours
            .iter()
            .any(|h| h.replay && h.measure == Measure::Scan && h.count == 1));
        assert_eq!(store.event_count().unwrap(), 6, "the old event kept");
    }

    #[test]
    fn counts_each_event_once_and_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("measure-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("measure.sqlite3");
        let _ = std::fs::remove_file(&path);
        {
            let store = SqliteMeasureStore::open(&path).unwrap();
            let s = store
                .record_now(&[
                    event("a", Measure::Impression, false),
                    event("a", Measure::Impression, false),
                    event("b", Measure::Viewable, false),
                    event("c", Measure::Scan, true),
                ])
                .unwrap();
            assert_eq!(
                s,
                RecordSummary {
                    counted: 2,
                    duplicates: 1,
                    robots: 1,
                    invalid: 0,
                    queued: 0,
                    outcomes: vec![
                        Outcome::Counted,
                        Outcome::Duplicate,
                        Outcome::Counted,
                        Outcome::Robot
                    ],
                }
            );
            let again = store
                .record_now(&[event("b", Measure::Viewable, false)])
                .unwrap();
            assert_eq!(again.duplicates, 1);
        }
        let store = SqliteMeasureStore::open(&path).unwrap();
        let shows = store.shows_now().unwrap();
        assert_eq!(shows.len(), 1);
        assert_eq!(
            (shows[0].impressions, shows[0].viewable, shows[0].scans),
            (1, 1, 0)
        );
        assert_eq!(store.event_count().unwrap(), 3);
        let hours = store.hours_now().unwrap();
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].hour, "2026-12-03T12");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_viewable_counts_only_after_the_same_viewers_impression() {
        let dir = std::env::temp_dir().join(format!("measure-viewable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("measure.sqlite3");
        let _ = std::fs::remove_file(&path);
        let store = SqliteMeasureStore::open(&path).unwrap();
        let of = |id: &str, viewer: &str, measure, robot| Recorded {
            viewer: viewer.into(),
            ..event(id, measure, robot)
        };
        let s = store
            .record_now(&[
                // Alone: invalid. After a robot's impression: invalid.
                of("1", "v1", Measure::Viewable, false),
                of("2", "v2", Measure::Impression, true),
                of("3", "v2", Measure::Viewable, false),
                // After its impression, in the batch or an earlier one.
                of("4", "v3", Measure::Impression, false),
                of("5", "v3", Measure::Viewable, false),
                of("6", "v4", Measure::Impression, false),
            ])
            .unwrap();
        assert_eq!((s.counted, s.robots, s.invalid), (3, 1, 2));
        let later = store
            .record_now(&[of("7", "v4", Measure::Viewable, false)])
            .unwrap();
        assert_eq!(later.outcomes, vec![Outcome::Counted]);
        let shows = store.shows_now().unwrap();
        assert_eq!(
            (shows[0].impressions, shows[0].viewable, shows[0].invalid),
            (2, 2, 3)
        );
        assert!((shows[0].invalid_share() - 3.0 / 7.0).abs() < 1e-9);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn each_show_is_one_row_whatever_order_events_came_in() {
        let dir = std::env::temp_dir().join(format!("measure-shows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("measure.sqlite3");
        let _ = std::fs::remove_file(&path);
        let store = SqliteMeasureStore::open(&path).unwrap();
        let of = |id: &str, product: &str, show: u64, measure| Recorded {
            product: product.into(),
            show,
            ..event(id, measure, false)
        };
        store
            .record_now(&[
                of("1", "cap", 42, Measure::Impression),
                of("2", "cap", 43, Measure::Impression),
                of("3", "mug", 42, Measure::Impression),
                of("4", "cap", 42, Measure::Scan),
                of("5", "cap", 43, Measure::Viewable),
                of("6", "cap", 42, Measure::Impression),
            ])
            .unwrap();
        let shows: Vec<_> = store
            .shows_now()
            .unwrap()
            .into_iter()
            .map(|s| (s.show, s.product, s.impressions, s.viewable, s.scans))
            .collect();
        assert_eq!(
            shows,
            [
                (43, "cap".to_string(), 1, 1, 0),
                (42, "cap".to_string(), 2, 0, 1),
                (42, "mug".to_string(), 1, 0, 0),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
