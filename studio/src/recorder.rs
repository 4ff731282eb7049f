//! Recording, as IVS's auto-record to S3 does it: every stream the studio
//! serves is also written to a folder in IVS's layout, under the data
//! folder's `recordings/`:
//!
//! ```text
//! ivs/v1/<account>/<channel>/<y>/<m>/<d>/<h>/<min>/<recording>/
//!   events/recording-started.json, recording-ended.json
//!   media/hls/master.m3u8
//!   media/hls/source/playlist.m3u8   (EVENT while recording, then VOD with EXT-X-ENDLIST)
//!   media/hls/source/<n>.ts          (the live segments, their timed ID3 included)
//!   media/hls/cues.json              (written when the recording ends)
//! ```
//!
//! `cues.json` is what makes seeking work in a replay: every cue the stream
//! carried, in order, at its time from the recording's start (where its ID3
//! frame sits: the segment's start plus the frame's offset in it), with the
//! catalog version in effect when it was written. A player does not have to
//! scan the segments' ID3 to know what to show at a time it seeks to.
//!
//! Files are written by one thread fed through a bounded queue: the live
//! path never waits on the disk, and a disk too slow to keep up loses
//! segments from the recording (said in the log), never from the stream.
//! The newest recordings are kept under `max_bytes`; older finished ones are
//! deleted whole, the oldest first.

use crate::civil::Utc;
use ad_contract::timeline::{CueTimeline, TimedCue};
use ad_contract::Cue;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::SystemTime;

/// Segments waiting for the disk: a minute of stream.
const QUEUE: usize = 30;
/// The rendition folder: the studio records the stream as it serves it.
pub const RENDITION: &str = "source";

/// A segment for the recording.
#[derive(Debug, Clone)]
pub struct RecordedSegment {
    /// The recording's folder, relative to the recordings root
    /// (`ivs/v1/.../<recording>`).
    pub prefix: String,
    pub channel_arn: String,
    pub recording_started: SystemTime,
    pub data: Vec<u8>,
    pub duration_secs: f64,
    pub discontinuity: bool,
    pub program_date_time: SystemTime,
    /// Each cue with its offset from the segment's start, in seconds.
    pub cues: Vec<(f64, String)>,
    /// The catalog in effect (`None` without the local chain): its version
    /// names the cues, and its text is kept for the replay.
    pub catalog: Option<std::sync::Arc<backend::live_catalog::CatalogVersion>>,
}

enum Job {
    Segment(Box<RecordedSegment>),
    End {
        ended: SystemTime,
    },
    /// Answered once every job before it is done.
    Flush(SyncSender<()>),
}

/// The live side: hands segments and the stream's end to the writer.
#[derive(Clone)]
pub struct Recorder {
    jobs: SyncSender<Job>,
}

impl Recorder {
    /// Starts the writer thread over `root`, keeping at most `max_bytes`.
    pub fn start(root: PathBuf, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        let (jobs, queue) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || write_jobs(Writer::new(root, max_bytes), queue))?;
        Ok(Self { jobs })
    }

    pub fn segment(&self, segment: RecordedSegment) {
        if let Err(TrySendError::Full(_)) = self.jobs.try_send(Job::Segment(Box::new(segment))) {
            tracing::warn!("recording: the disk is behind; a segment is left out of the recording (the stream has it)");
        }
    }

    /// Waits (at most `timeout`) until every job handed over is on disk:
    /// the studio's shutdown, so that its last recording is finished.
    pub fn flush(&self, timeout: std::time::Duration) -> bool {
        let (done, wait) = sync_channel(1);
        self.jobs.send(Job::Flush(done)).is_ok() && wait.recv_timeout(timeout).is_ok()
    }

    /// The stream ended: the recording is finished (ENDLIST, `cues.json`).
    pub fn end(&self, ended: SystemTime) {
        // The end must not be lost: wait for room (the writer drains fast).
        let _ = self.jobs.send(Job::End { ended });
    }
}

fn write_jobs(mut writer: Writer, queue: Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        let result = match job {
            Job::Segment(s) => writer.segment(*s),
            Job::End { ended } => writer.end(ended),
            Job::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "recording: a file could not be written");
        }
    }
    // The studio is stopping: finish what is open.
    if let Err(e) = writer.end(SystemTime::now()) {
        tracing::warn!(error = %e, "recording: not finished");
    }
}

/// The recording being written.
struct Open {
    prefix: String,
    channel_arn: String,
    started: SystemTime,
    /// (file number, duration, discontinuity, program date time)
    segments: Vec<(u64, f64, bool, SystemTime)>,
    elapsed: f64,
    cues: Vec<TimedCue>,
    /// Each catalog version a cue named, once.
    catalogs: Vec<(String, ad_contract::Catalog)>,
}

/// The disk side: files in IVS's layout, and the size limit.
pub struct Writer {
    root: PathBuf,
    max_bytes: u64,
    open: Option<Open>,
}

impl Writer {
    pub fn new(root: PathBuf, max_bytes: u64) -> Self {
        Self {
            root,
            max_bytes,
            open: None,
        }
    }

    fn dir(&self, prefix: &str) -> PathBuf {
        self.root.join(prefix)
    }

    pub fn segment(&mut self, s: RecordedSegment) -> std::io::Result<()> {
        if self.open.as_ref().is_some_and(|o| o.prefix != s.prefix) {
            self.end(s.program_date_time)?;
        }
        if self.open.is_none() {
            let dir = self.dir(&s.prefix);
            std::fs::create_dir_all(dir.join("media/hls").join(RENDITION))?;
            std::fs::create_dir_all(dir.join("events"))?;
            write_atomic(
                &dir.join("media/hls/master.m3u8"),
                format!(
                    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=3000000\n{RENDITION}/playlist.m3u8\n"
                )
                .as_bytes(),
            )?;
            write_atomic(
                &dir.join("events/recording-started.json"),
                event_json(
                    &s.channel_arn,
                    s.recording_started,
                    None,
                    "RECORDING_STARTED",
                    0.0,
                )
                .as_bytes(),
            )?;
            self.open = Some(Open {
                prefix: s.prefix.clone(),
                channel_arn: s.channel_arn.clone(),
                started: s.recording_started,
                segments: Vec::new(),
                elapsed: 0.0,
                cues: Vec::new(),
                catalogs: Vec::new(),
            });
        }
        let dir = self.dir(&s.prefix);
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let number = open.segments.len() as u64;
        std::fs::write(
            dir.join("media/hls")
                .join(RENDITION)
                .join(format!("{number}.ts")),
            &s.data,
        )?;
        let catalog_version = s
            .catalog
            .as_ref()
            .map_or_else(|| "none".to_string(), |c| c.version.clone());
        if let Some(c) = s.catalog.as_ref().filter(|_| !s.cues.is_empty()) {
            if !open.catalogs.iter().any(|(v, _)| *v == c.version) {
                open.catalogs
                    .push((c.version.clone(), c.catalog.as_ref().clone()));
            }
        }
        for (offset, text) in &s.cues {
            // Only our cues go in the timeline (PutMetadata takes any text;
            // the segments keep it all).
            match Cue::decode(text) {
                Ok(cue) => open.cues.push(TimedCue {
                    at: round_ms(open.elapsed + offset.clamp(0.0, s.duration_secs)),
                    catalog_version: catalog_version.clone(),
                    cue,
                }),
                Err(e) => {
                    tracing::debug!(error = %e, "recording: metadata that is not a cue is left out of cues.json")
                }
            }
        }
        open.segments.push((
            number,
            s.duration_secs,
            s.discontinuity,
            s.program_date_time,
        ));
        open.elapsed += s.duration_secs;
        write_atomic(
            &dir.join("media/hls").join(RENDITION).join("playlist.m3u8"),
            playlist(&open.segments, false).as_bytes(),
        )
    }

    /// Finishes the open recording, if any, then keeps the recordings under
    /// the size limit.
    pub fn end(&mut self, ended: SystemTime) -> std::io::Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let dir = self.dir(&open.prefix);
        write_atomic(
            &dir.join("media/hls").join(RENDITION).join("playlist.m3u8"),
            playlist(&open.segments, true).as_bytes(),
        )?;
        let cues = open.cues.len();
        let timeline = CueTimeline {
            duration_secs: round_ms(open.elapsed),
            cues: open.cues,
            catalogs: open.catalogs,
        };
        // Cues were read with the contract's reader, so they encode.
        let sidecar = timeline.to_json().unwrap_or_default();
        write_atomic(&dir.join("media/hls/cues.json"), sidecar.as_bytes())?;
        write_atomic(
            &dir.join("events/recording-ended.json"),
            event_json(
                &open.channel_arn,
                open.started,
                Some(ended),
                "RECORDING_ENDED",
                open.elapsed,
            )
            .as_bytes(),
        )?;
        tracing::info!(recording = %open.prefix, seconds = open.elapsed, cues, "recording finished");
        self.keep_under_limit()
    }

    /// Deletes the oldest finished recordings while the total is over the
    /// limit; the open one is never deleted.
    fn keep_under_limit(&self) -> std::io::Result<()> {
        let mut recordings = finished_recordings(&self.root)?;
        let mut total: u64 = recordings.iter().map(|r| r.bytes).sum();
        recordings.sort_by_key(|r| r.started.clone());
        for r in recordings {
            if total <= self.max_bytes {
                break;
            }
            std::fs::remove_dir_all(&r.dir)?;
            tracing::info!(recording = %r.dir.display(), bytes = r.bytes, "recording deleted: over the recordings' size limit");
            total = total.saturating_sub(r.bytes);
        }
        Ok(())
    }
}

/// A finished recording on disk.
pub struct OnDisk {
    pub dir: PathBuf,
    /// Its `recording-started.json` time, as written (RFC 3339 sorts).
    pub started: String,
    pub bytes: u64,
}

/// The finished recordings under `root` (those with `recording-ended.json`).
pub fn finished_recordings(root: &Path) -> std::io::Result<Vec<OnDisk>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let ended = dir.join("events/recording-ended.json");
        if ended.is_file() {
            let started = std::fs::read_to_string(dir.join("events/recording-started.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["recording_started_at"].as_str().map(str::to_owned))
                .unwrap_or_default();
            out.push(OnDisk {
                bytes: size_of(&dir)?,
                dir,
                started,
            });
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // Never follow a link out of the recordings.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    Ok(out)
}

/// The finished recordings for a listing, newest first: where each one's
/// playlist and cues are (URL paths under `/recordings/`), when it started,
/// how long it is, and which products its cues showed.
pub fn listing(root: &Path) -> Vec<serde_json::Value> {
    let mut recordings = finished_recordings(root).unwrap_or_default();
    recordings.sort_by(|a, b| b.started.cmp(&a.started));
    recordings
        .iter()
        .filter_map(|r| {
            let rel = r.dir.strip_prefix(root).ok()?.to_str()?.to_owned();
            let timeline = std::fs::read_to_string(r.dir.join("media/hls/cues.json"))
                .ok()
                .and_then(|t| CueTimeline::from_json(&t).ok())?;
            let mut entry = backend::replay::listing_entry(
                &format!("/recordings/{rel}/"),
                &format!("/recordings/{rel}/media/hls/master.m3u8"),
                &format!("/recordings/{rel}/media/hls/cues.json"),
                &r.started,
                &timeline,
            );
            entry["bytes"] = r.bytes.into();
            Some(entry)
        })
        .collect()
}

fn size_of(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += size_of(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

fn round_ms(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

/// The rendition's playlist: EVENT while recording, VOD once ended.
fn playlist(segments: &[(u64, f64, bool, SystemTime)], ended: bool) -> String {
    let target = segments
        .iter()
        .map(|s| s.1.ceil() as u64)
        .max()
        .unwrap_or(2)
        .max(1);
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(
        out,
        "#EXT-X-PLAYLIST-TYPE:{}",
        if ended { "VOD" } else { "EVENT" }
    );
    out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n");
    for (number, duration, discontinuity, at) in segments {
        if *discontinuity && *number > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            Utc::from_system_time(*at).rfc3339_millis()
        );
        let _ = writeln!(out, "#EXTINF:{duration:.3},\n{number}.ts");
    }
    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// IVS's recording state-change file, in its shape.
fn event_json(
    channel_arn: &str,
    started: SystemTime,
    ended: Option<SystemTime>,
    status: &str,
    duration_secs: f64,
) -> String {
    let mut event = serde_json::json!({
        "version": "v1",
        "channel_arn": channel_arn,
        "recording_started_at": Utc::from_system_time(started).rfc3339_millis(),
        "recording_status": status,
        "media": { "hls": {
            "duration_ms": (duration_secs * 1000.0).round() as u64,
            "path": "media/hls",
            "playlist": "master.m3u8",
            "renditions": [{ "path": RENDITION, "playlist": "playlist.m3u8" }],
        }},
    });
    if let Some(ended) = ended {
        event["recording_ended_at"] = Utc::from_system_time(ended).rfc3339_millis().into();
    }
    format!("{event:#}\n")
}

/// Writes through a temporary file and a rename: a player reading the
/// playlist while it is rewritten sees the old one or the new one.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_000_000 + secs)
    }

    fn segment(prefix: &str, n: u64, cues: Vec<(f64, String)>) -> RecordedSegment {
        RecordedSegment {
            prefix: prefix.into(),
            channel_arn: "arn:aws:ivs:us-east-1:123456789012:channel/abc".into(),
            recording_started: at(0),
            data: vec![0x47; 188 * (n as usize + 1)],
            duration_secs: 2.0,
            discontinuity: n == 0,
            program_date_time: at(2 * n),
            cues,
            catalog: Some(std::sync::Arc::new(
                backend::live_catalog::CatalogVersion {
                    version: "v1".into(),
                    catalog: std::sync::Arc::new(
                        ad_contract::Catalog::from_json(
                            r#"{"products":[{"id":"mug","labels":["mug"],"title":"Mug as it was","description":"","price":"$1","image_url":"m.png","link_url":"https://shop.example.com/m","min_confidence":70,"display_seconds":20,"cooldown_seconds":60}]}"#,
                        )
                        .expect("catalog"),
                    ),
                },
            )),
        }
    }

    #[test]
    fn a_recording_is_a_vod_playlist_with_its_cues_at_their_times() {
        let dir = test_support::TempDir::new("recorder-vod").expect("temp dir");
        let mut w = Writer::new(dir.path().to_path_buf(), u64::MAX);
        let prefix = "ivs/v1/123456789012/abc/2026/12/7/17/0/rec1";
        w.segment(segment(prefix, 0, vec![])).expect("0");
        w.segment(segment(
            prefix,
            1,
            vec![
                (0.5, r#"{"v":1,"show":[{"id":"mug","left":20}]}"#.into()),
                (0.6, "not a cue".into()),
            ],
        ))
        .expect("1");
        let hls = dir.path().join(prefix).join("media/hls");
        let live = std::fs::read_to_string(hls.join("source/playlist.m3u8")).expect("playlist");
        assert!(
            live.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !live.contains("ENDLIST"),
            "{live}"
        );
        w.segment(segment(
            prefix,
            2,
            vec![(1.25, r#"{"v":1,"show":[]}"#.into())],
        ))
        .expect("2");
        w.end(at(6)).expect("end");
        let vod = std::fs::read_to_string(hls.join("source/playlist.m3u8")).expect("playlist");
        assert!(
            vod.contains("#EXT-X-PLAYLIST-TYPE:VOD") && vod.ends_with("#EXT-X-ENDLIST\n"),
            "{vod}"
        );
        assert_eq!(vod.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 3);
        assert!(vod.contains("#EXTINF:2.000,\n2.ts"), "{vod}");
        assert!(hls.join("source/2.ts").is_file());
        let cues =
            CueTimeline::from_json(&std::fs::read_to_string(hls.join("cues.json")).expect("cues"))
                .expect("the contract reads it");
        assert_eq!(cues.duration_secs, 6.0);
        assert_eq!(cues.cues.len(), 2, "metadata that is not a cue is left out");
        assert_eq!(cues.cues[0].at, 2.5);
        assert_eq!(cues.cues[0].cue.show[0].id.as_str(), "mug");
        assert_eq!(cues.cues[0].catalog_version, "v1");
        assert_eq!(
            cues.catalog_at(3.0)
                .and_then(|c| c.get_str("mug"))
                .map(|p| p.title.as_str()),
            Some("Mug as it was"),
            "the show's catalog is kept with it"
        );
        assert_eq!(cues.catalogs.len(), 1, "once per version");
        assert_eq!(cues.cues[1].at, 5.25);
        assert_eq!(cues.cards_at(3.0)[0].seconds_left, 20);
        let ended =
            std::fs::read_to_string(dir.path().join(prefix).join("events/recording-ended.json"))
                .expect("event");
        assert!(
            ended.contains("RECORDING_ENDED") && ended.contains("\"duration_ms\": 6000"),
            "{ended}"
        );
    }

    #[test]
    fn a_new_recording_finishes_the_last_and_the_oldest_go_over_the_limit() {
        let dir = test_support::TempDir::new("recorder-limit").expect("temp dir");
        // Room for about one recording of three small segments.
        let mut w = Writer::new(dir.path().to_path_buf(), 3000);
        for (i, prefix) in ["ivs/v1/a/c/2026/1/1/0/0/r1", "ivs/v1/a/c/2026/1/1/0/1/r2"]
            .iter()
            .enumerate()
        {
            for n in 0..3 {
                let mut s = segment(prefix, n, vec![]);
                s.recording_started = at(100 * i as u64);
                w.segment(s).expect("segment");
            }
        }
        // r2's first segment finished r1.
        assert!(dir
            .path()
            .join("ivs/v1/a/c/2026/1/1/0/0/r1/media/hls/cues.json")
            .is_file());
        w.end(at(400)).expect("end");
        let kept = finished_recordings(dir.path()).expect("list");
        assert_eq!(kept.len(), 1, "the oldest went over the limit");
        assert!(kept[0].dir.ends_with("r2"));
    }
}
