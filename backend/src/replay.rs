//! Replay in AWS: the cue timeline of each IVS recording.
//!
//! IVS records the stream as HLS into the recordings bucket. Its segments
//! carry the timed-metadata (ID3) track, but a player seeking in a replay
//! cannot scan segments for the cue in effect, so each recording gets a
//! `cues.json` beside its playlist (the format of
//! [`ad_contract::timeline`], the one the studio writes):
//!
//! 1. **The cue log.** Every cue the functions publish is kept in the same
//!    bucket, at `cue-log/<channel-id>/<sent-ms>-<seq>.json` (a
//!    [`LoggedCue`]: when it was sent, the catalog version in effect, the
//!    cue's text), and each catalog version once, at
//!    `cue-log/catalogs/<hex of the version>.json`. A warm function skips
//!    a re-send that only counts down ([`repeats`]); the build below drops
//!    the rest. The log expires with the recordings.
//! 2. **At the recording's end** IVS writes `events/recording-ended.json`;
//!    its S3 notification reaches on-thumbnail, which reads the log between
//!    the recording's start and end ([`finish_recording`]), builds the
//!    timeline ([`build_timeline`]), writes `media/hls/cues.json`, and adds
//!    the recording to `recordings/index.json` (newest first, at most
//!    [`MAX_INDEX_ENTRIES`]), with a conditional write so two recordings
//!    ending at once both stay in it. Run again on the same event, it
//!    writes the same files.
//!
//! A cue's time in the recording is its send time minus the recording's
//! start (`recording_started_at`). Both are wall-clock times on AWS's side;
//! the cue reaches the stream when PutMetadata returns, so a card in the
//! replay starts within the ingest's latency of where it started live.

use crate::live_catalog::CatalogVersion;
use crate::ports::ServiceError;
use ad_contract::timeline::{CueTimeline, TimedCue, MAX_TIMELINE_CUES};
use ad_contract::{Catalog, ChannelId, Cue};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use tracing::{info, warn};

/// Where published cues are kept in the recordings bucket.
pub const CUE_LOG_PREFIX: &str = "cue-log/";
/// The JSON index of the recordings, in the recordings bucket.
pub const INDEX_KEY: &str = "recordings/index.json";
/// The newest recordings the index lists.
pub const MAX_INDEX_ENTRIES: usize = 500;
/// What IVS writes when a recording ends, under the recording's prefix.
pub const RECORDING_ENDED: &str = "/events/recording-ended.json";
/// Cues sent up to this long before the recording's start may still be on
/// screen at its start (IVS starts the recording a moment after the stream).
pub const LOOK_BACK_MS: u64 = 60_000;
/// The largest `recording-ended.json` read.
pub const MAX_EVENT_BYTES: u64 = 64 * 1024;
/// The largest index read (500 entries of well under 2 KB).
pub const MAX_INDEX_BYTES: u64 = 2 << 20;
/// Tries of the index's conditional write before giving up.
const INDEX_ATTEMPTS: u32 = 5;

/// One published cue, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedCue {
    /// When PutMetadata accepted it (Unix milliseconds).
    pub sent_ms: u64,
    /// The catalog version it was decided with.
    pub catalog_version: String,
    /// The cue's text, as sent.
    pub cue: String,
}

/// Where a cue is kept: zero-padded milliseconds, so keys sort by time.
pub fn cue_log_key(channel: &ChannelId, sent_ms: u64, seq: Option<u64>) -> String {
    format!(
        "{}{:013}-{}.json",
        cue_log_prefix(channel),
        sent_ms,
        seq.unwrap_or(0)
    )
}

/// The log's folder for one channel.
pub fn cue_log_prefix(channel: &ChannelId) -> String {
    format!("{CUE_LOG_PREFIX}{}/", channel.as_str())
}

/// Where a catalog version's text is kept (hex, since a version is an
/// ETag with quotes, or any text).
pub fn catalog_key(version: &str) -> String {
    let hex: String = version.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{CUE_LOG_PREFIX}catalogs/{hex}.json")
}

/// True when `next` only repeats `prev`: the same cards of the same shows,
/// each ending within 2 s of when `prev` said (a re-send counting down).
/// Anything else (a card added, removed, marked sold out, or given more
/// time) is a new cue.
pub fn repeats(prev_ms: u64, prev: &Cue, next_ms: u64, next: &Cue) -> bool {
    prev.show.len() == next.show.len()
        && prev.channel == next.channel
        && prev.show.iter().zip(&next.show).all(|(a, b)| {
            let end_a = prev_ms as i128 + i128::from(a.seconds_left) * 1000;
            let end_b = next_ms as i128 + i128::from(b.seconds_left) * 1000;
            a.id == b.id
                && a.show == b.show
                && a.sold_out == b.sold_out
                && (end_a - end_b).abs() <= 2000
        })
}

/// A recording, as its `recording-ended.json` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingEnded {
    /// The recording's key prefix (`ivs/v1/<account>/<channel>/.../<id>`).
    pub prefix: String,
    pub channel: ChannelId,
    pub started_at: String,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub duration_secs: f64,
    /// The master playlist's key.
    pub playlist: String,
}

#[derive(Debug, thiserror::Error)]
/// Why a recording got no timeline.
pub enum ReplayError {
    #[error("{key}: {problem}")]
    /// `recording-ended.json` is not as IVS writes it.
    BadEvent { key: String, problem: String },
    #[error("recordings bucket: {0}")]
    /// S3 failed (retried by the event's own retries).
    Bucket(#[source] ServiceError),
    #[error("the recordings index was changed by another writer {INDEX_ATTEMPTS} times in a row; the next recording's end adds this one again")]
    /// The index's conditional write kept losing.
    IndexContended,
}

/// The recording's prefix when `key` is IVS's recording-ended file.
pub fn recording_ended_prefix(key: &str) -> Option<&str> {
    key.strip_suffix(RECORDING_ENDED)
        .filter(|prefix| prefix.starts_with("ivs/v1/") && prefix.split('/').count() == 10)
}

fn millis(field: &str, text: &str) -> Result<u64, String> {
    let at = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("\"{field}\" is {text:?}, not an RFC 3339 time ({e})"))?;
    u64::try_from(at.timestamp_millis()).map_err(|_| format!("\"{field}\" is before 1970"))
}

impl RecordingEnded {
    /// Reads `recording-ended.json` (at `prefix` + [`RECORDING_ENDED`]).
    pub fn from_json(prefix: &str, text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        let field = |name: &str| {
            v[name]
                .as_str()
                .ok_or_else(|| format!("\"{name}\" is missing or not a string"))
        };
        let channel_arn = field("channel_arn")?;
        let channel = ChannelId::from_arn(channel_arn)
            .map_err(|e| format!("\"channel_arn\" {channel_arn:?}: {e}"))?;
        let started_at = field("recording_started_at")?;
        let started_ms = millis("recording_started_at", started_at)?;
        let ended_ms = millis("recording_ended_at", field("recording_ended_at")?)?;
        if ended_ms < started_ms {
            return Err("\"recording_ended_at\" is before \"recording_started_at\"".into());
        }
        let hls = &v["media"]["hls"];
        let duration_secs = hls["duration_ms"]
            .as_u64()
            .map_or((ended_ms - started_ms) as f64 / 1000.0, |ms| {
                ms as f64 / 1000.0
            });
        let path = hls["path"].as_str().unwrap_or("media/hls");
        let playlist = hls["playlist"].as_str().unwrap_or("master.m3u8");
        if path.contains("..") || playlist.contains("..") || playlist.contains('/') {
            return Err("\"media.hls.path\" or \"playlist\" leaves the recording".into());
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            channel,
            started_at: started_at.to_owned(),
            started_ms,
            ended_ms,
            duration_secs,
            playlist: format!("{prefix}/{path}/{playlist}"),
        })
    }

    /// Where the recording's `cues.json` goes: beside its master playlist.
    pub fn cues_key(&self) -> String {
        match self.playlist.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/cues.json"),
            None => format!("{}/cues.json", self.prefix),
        }
    }
}

/// The recording's timeline from the cue log: the cues sent between its
/// start and end, at their time from its start, re-sends dropped; the cue
/// on screen at the start (sent before it, with time left) at 0; and the
/// catalogs the kept cues name. A cue that does not decode is left out.
pub fn build_timeline(
    recording: &RecordingEnded,
    logged: &[LoggedCue],
    catalogs: &[(String, Catalog)],
) -> CueTimeline {
    let mut logged: Vec<&LoggedCue> = logged.iter().collect();
    logged.sort_by_key(|l| l.sent_ms);
    let mut kept: Vec<(u64, TimedCue)> = Vec::new();
    for entry in logged {
        if entry.sent_ms > recording.ended_ms || kept.len() >= MAX_TIMELINE_CUES {
            break;
        }
        let Ok(mut cue) = Cue::decode(&entry.cue) else {
            continue;
        };
        let mut sent_ms = entry.sent_ms;
        if sent_ms < recording.started_ms {
            // Sent before the start: what is left of it at the start.
            let early = (recording.started_ms - sent_ms).div_ceil(1000);
            cue.show.retain_mut(|item| {
                item.seconds_left = item
                    .seconds_left
                    .saturating_sub(u32::try_from(early).unwrap_or(u32::MAX));
                item.seconds_left > 0
            });
            sent_ms = recording.started_ms;
            // Only the newest one before the start counts.
            kept.clear();
            if cue.show.is_empty() {
                continue;
            }
        }
        if let Some((prev_ms, prev)) = kept.last() {
            if repeats(*prev_ms, &prev.cue, sent_ms, &cue) {
                continue;
            }
        }
        let at = (sent_ms - recording.started_ms) as f64 / 1000.0;
        kept.push((
            sent_ms,
            TimedCue {
                at,
                catalog_version: entry.catalog_version.clone(),
                cue,
            },
        ));
    }
    let cues: Vec<TimedCue> = kept.into_iter().map(|(_, c)| c).collect();
    let catalogs = catalogs
        .iter()
        .filter(|(v, _)| cues.iter().any(|c| c.catalog_version == *v))
        .cloned()
        .collect();
    CueTimeline {
        duration_secs: recording.duration_secs,
        cues,
        catalogs,
    }
}

/// What a listing says of a recording's cues: the products whose cards
/// begin in it (sorted, once each) and the measured shows its cues carried
/// (channel, show), whose counts a report gives.
pub fn summary(timeline: &CueTimeline) -> (Vec<String>, Vec<(String, u64)>) {
    let mut products: Vec<String> = timeline
        .markers()
        .into_iter()
        .map(|m| m.product.as_str().to_owned())
        .collect();
    products.sort();
    products.dedup();
    let mut shows: Vec<(String, u64)> = timeline
        .cues
        .iter()
        .flat_map(|c| {
            let channel = c.cue.channel.as_ref().map(|ch| ch.as_str().to_owned());
            c.cue
                .show
                .iter()
                .filter_map(move |i| Some((channel.clone()?, i.show?.0)))
        })
        .collect();
    shows.sort();
    shows.dedup();
    (products, shows)
}

/// A recording's entry in a listing (the studio's `/recordings.json` and
/// the stack's index have this shape): its playlist and `cues.json` as
/// URL paths (`root` + key), start, length, products and shows.
pub fn listing_entry(
    recording_path: &str,
    playlist_path: &str,
    cues_path: &str,
    started_at: &str,
    timeline: &CueTimeline,
) -> Value {
    let (products, shows) = summary(timeline);
    let shows: Vec<Value> = shows
        .into_iter()
        .map(|(channel, show)| serde_json::json!({ "channel": channel, "show": show }))
        .collect();
    serde_json::json!({
        "recording": recording_path,
        "playlist": playlist_path,
        "cues": cues_path,
        "started_at": started_at,
        "duration_secs": timeline.duration_secs,
        "products": products,
        "shows": shows,
    })
}

/// The index with `entry` in it: any entry of the same recording replaced,
/// those that started before `expired_before_ms` (their recording expired
/// from the bucket) dropped, newest first, at most [`MAX_INDEX_ENTRIES`].
/// An index that is not a JSON array (hand-edited) is started again, and
/// said.
pub fn add_to_index(index: Option<&str>, entry: Value, expired_before_ms: Option<u64>) -> String {
    let mut entries: Vec<Value> = match index.map(serde_json::from_str::<Vec<Value>>) {
        None => Vec::new(),
        Some(Ok(entries)) => entries,
        Some(Err(e)) => {
            warn!(error = %e, "{INDEX_KEY} is not a JSON array; starting it again");
            Vec::new()
        }
    };
    entries.retain(|e| e["recording"] != entry["recording"]);
    if let Some(before) = expired_before_ms {
        entries.retain(|e| {
            e["started_at"]
                .as_str()
                .and_then(|t| millis("started_at", t).ok())
                .is_none_or(|started| started >= before)
        });
    }
    entries.push(entry);
    let started = |e: &Value| e["started_at"].as_str().unwrap_or_default().to_owned();
    entries.sort_by_key(|e| std::cmp::Reverse(started(e)));
    entries.truncate(MAX_INDEX_ENTRIES);
    let mut text = serde_json::to_string_pretty(&entries).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

/// A listing (the index, or the studio's `/recordings.json`) as a table:
/// start, length, products and where to play it: the replays page of
/// `player_url` when given, else the playlist's path.
pub fn render_recordings(entries: &[Value], player_url: Option<&str>) -> String {
    let mut out = String::from("started (UTC)\tlength\tproducts\treplay\n");
    for e in entries {
        let secs = e["duration_secs"].as_f64().unwrap_or(0.0).max(0.0) as u64;
        let products: Vec<&str> = e["products"]
            .as_array()
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let playlist = e["playlist"].as_str().unwrap_or_default();
        let replay = match player_url {
            Some(base) => format!(
                "{}/recordings.html?recording={}",
                base.trim_end_matches('/'),
                percent_encode(playlist)
            ),
            None => playlist.to_owned(),
        };
        out.push_str(&format!(
            "{}\t{}:{:02}\t{}\t{}\n",
            e["started_at"].as_str().unwrap_or("?"),
            secs / 60,
            secs % 60,
            if products.is_empty() {
                "none".to_owned()
            } else {
                products.join(",")
            },
            replay
        ));
    }
    out
}

/// A URL query value: unreserved characters as they are, the rest %XX.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A conditional write's precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteIf {
    Always,
    /// Only if no object has the key.
    Absent,
    /// Only if the object still has this ETag.
    Matches(String),
}

/// The recordings bucket, as replay uses it.
#[async_trait]
pub trait RecordingArchive: Send + Sync {
    /// Keeps a published cue.
    async fn keep_cue(
        &self,
        channel: &ChannelId,
        seq: Option<u64>,
        entry: &LoggedCue,
    ) -> Result<(), ServiceError>;
    /// Keeps a catalog version's text (once per version is enough).
    async fn keep_catalog(&self, version: &CatalogVersion) -> Result<(), ServiceError>;
    /// The channel's logged cues sent from `from_ms` to `to_ms`.
    async fn logged_cues(
        &self,
        channel: &ChannelId,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<LoggedCue>, ServiceError>;
    /// A text object and its ETag, `None` if there is none; refused over
    /// `limit` bytes.
    async fn read(&self, key: &str, limit: u64) -> Result<Option<(String, String)>, ServiceError>;
    /// Writes a JSON object; `Ok(false)` when the precondition failed.
    async fn write(&self, key: &str, text: &str, condition: WriteIf) -> Result<bool, ServiceError>;
}

/// Keeps what a published cue needs for the replay, skipping what a warm
/// function already kept: a re-send that only counts down, a catalog
/// version already written. A failure is logged and never stops the cue.
pub struct CueLog {
    pub archive: std::sync::Arc<dyn RecordingArchive>,
    /// Days the bucket keeps recordings (`RECORDINGS_RETENTION_DAYS`): the
    /// index drops entries older than that. `None`: kept until the limit.
    pub retention_days: Option<u64>,
    last: Mutex<HashMap<ChannelId, (u64, Cue)>>,
    catalogs: Mutex<Vec<String>>,
}

/// Channels and catalog versions a warm function remembers.
const MEMORY: usize = 1024;

impl CueLog {
    pub fn new(archive: std::sync::Arc<dyn RecordingArchive>) -> Self {
        Self {
            archive,
            retention_days: None,
            last: Mutex::new(HashMap::new()),
            catalogs: Mutex::new(Vec::new()),
        }
    }

    /// Keeps `cue`, sent on `channel` at `sent_ms` under `catalog`.
    pub async fn keep(
        &self,
        channel: &ChannelId,
        sent_ms: u64,
        cue: &Cue,
        catalog: &CatalogVersion,
    ) {
        let repeated = self
            .last
            .lock()
            .ok()
            .and_then(|last| {
                last.get(channel)
                    .map(|(ms, prev)| repeats(*ms, prev, sent_ms, cue))
            })
            .unwrap_or(false);
        if repeated {
            return;
        }
        let new_catalog = self
            .catalogs
            .lock()
            .map(|known| !known.contains(&catalog.version))
            .unwrap_or(true);
        if new_catalog {
            match self.archive.keep_catalog(catalog).await {
                Ok(()) => {
                    if let Ok(mut known) = self.catalogs.lock() {
                        if known.len() >= MEMORY {
                            known.clear();
                        }
                        known.push(catalog.version.clone());
                    }
                }
                Err(e) => {
                    warn!(error = %crate::ports::Chain(&e), version = %catalog.version, "replay: catalog version not kept; replays show its products with the current catalog")
                }
            }
        }
        let text = match cue.encode() {
            Ok(text) => text,
            Err(e) => {
                warn!(error = %e, "replay: cue not kept");
                return;
            }
        };
        let entry = LoggedCue {
            sent_ms,
            catalog_version: catalog.version.clone(),
            cue: text,
        };
        match self.archive.keep_cue(channel, cue.seq, &entry).await {
            Ok(()) => {
                if let Ok(mut last) = self.last.lock() {
                    if last.len() >= MEMORY {
                        last.clear();
                    }
                    last.insert(channel.clone(), (sent_ms, cue.clone()));
                }
            }
            Err(e) => {
                warn!(channel = %channel.as_str(), error = %crate::ports::Chain(&e), "replay: cue not kept; the replay misses it")
            }
        }
    }
}

/// What [`finish_recording`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRecording {
    pub cues_key: String,
    pub cues: usize,
    pub products: Vec<String>,
}

/// A recording ended (`key` is its `recording-ended.json`): writes its
/// `cues.json` from the cue log and adds it to the index, dropping entries
/// that started before `expired_before_ms`. Safe to run again: it writes
/// the same files.
pub async fn finish_recording(
    archive: &dyn RecordingArchive,
    key: &str,
    expired_before_ms: Option<u64>,
) -> Result<FinishedRecording, ReplayError> {
    let bad = |problem: String| ReplayError::BadEvent {
        key: key.to_owned(),
        problem,
    };
    let prefix = recording_ended_prefix(key)
        .ok_or_else(|| bad("not an IVS recording-ended.json key".into()))?;
    let (text, _) = archive
        .read(key, MAX_EVENT_BYTES)
        .await
        .map_err(ReplayError::Bucket)?
        .ok_or_else(|| bad("is gone (deleted after its event)".into()))?;
    let recording = RecordingEnded::from_json(prefix, &text).map_err(bad)?;
    let logged = archive
        .logged_cues(
            &recording.channel,
            recording.started_ms.saturating_sub(LOOK_BACK_MS),
            recording.ended_ms,
        )
        .await
        .map_err(ReplayError::Bucket)?;
    let mut versions: Vec<&str> = logged.iter().map(|l| l.catalog_version.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    let mut catalogs = Vec::new();
    for version in versions {
        let kept = archive
            .read(
                &catalog_key(version),
                ad_contract::catalog::MAX_CATALOG_BYTES as u64,
            )
            .await
            .map_err(ReplayError::Bucket)?;
        match kept.map(|(text, _)| Catalog::from_json(&text)) {
            Some(Ok(catalog)) => catalogs.push((version.to_owned(), catalog)),
            Some(Err(e)) => {
                warn!(version, error = %e, "replay: a kept catalog does not read; its cards use the current catalog")
            }
            None => warn!(
                version,
                "replay: catalog version not kept; its cards use the current catalog"
            ),
        }
    }
    let timeline = build_timeline(&recording, &logged, &catalogs);
    // Cues were read with the contract's reader, so they encode.
    let sidecar = timeline.to_json().unwrap_or_default();
    let cues_key = recording.cues_key();
    archive
        .write(&cues_key, &sidecar, WriteIf::Always)
        .await
        .map_err(ReplayError::Bucket)?;
    let entry = listing_entry(
        &format!("/{}/", recording.prefix),
        &format!("/{}", recording.playlist),
        &format!("/{cues_key}"),
        &recording.started_at,
        &timeline,
    );
    let (products, _) = summary(&timeline);
    let mut added = false;
    for _ in 0..INDEX_ATTEMPTS {
        let current = archive
            .read(INDEX_KEY, MAX_INDEX_BYTES)
            .await
            .map_err(ReplayError::Bucket)?;
        let (text, condition) = match &current {
            Some((text, etag)) => (Some(text.as_str()), WriteIf::Matches(etag.clone())),
            None => (None, WriteIf::Absent),
        };
        let index = add_to_index(text, entry.clone(), expired_before_ms);
        if archive
            .write(INDEX_KEY, &index, condition)
            .await
            .map_err(ReplayError::Bucket)?
        {
            added = true;
            break;
        }
    }
    if !added {
        return Err(ReplayError::IndexContended);
    }
    info!(recording = %recording.prefix, cues = timeline.cues.len(), products = ?products, "replay: cues.json written and the recording indexed");
    Ok(FinishedRecording {
        cues_key,
        cues: timeline.cues.len(),
        products,
    })
}

#[cfg(test)]
mod tests;
