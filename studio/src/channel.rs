//! A studio channel: what IVS knows about it (ARN, URLs) and its live media
//! (segmenter, playlist, PutMetadata rate window, recording session).

use crate::hls::Playlist;
use crate::ivs_api::{IvsError, RateWindow};
use crate::segmenter::{Segment, Segmenter};
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

/// Segment length the studio aims for, in seconds (IVS uses about 2 s).
pub const TARGET_SEGMENT_SECS: f64 = 2.0;
/// Segments listed in the live playlist.
pub const PLAYLIST_WINDOW: usize = 6;

#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub region: String,
    pub account: String,
    /// IVS channel ids are 12 letters and digits.
    pub id: String,
    pub name: String,
    /// `http://127.0.0.1:<port>`
    pub base_url: String,
    pub ingest_endpoint: String,
}

impl ChannelInfo {
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:ivs:{}:{}:channel/{}",
            backend::thumbnail_key::partition(&self.region),
            self.region,
            self.account,
            self.id
        )
    }

    /// Where IVS writes `recording`'s files (thumbnails, HLS) in S3.
    pub fn recording_prefix(
        &self,
        recording: &Recording,
    ) -> backend::thumbnail_key::RecordingPrefix {
        let start = crate::civil::Utc::from_system_time(recording.started);
        backend::thumbnail_key::RecordingPrefix {
            account: self.account.clone(),
            channel_id: self.id.clone(),
            year: start.year,
            month: start.month,
            day: start.day,
            hour: start.hour,
            minute: start.minute,
            recording_id: recording.id.clone(),
        }
    }

    /// The playlist's path, shaped like an IVS playback URL's.
    pub fn playlist_path(&self) -> String {
        format!(
            "/api/video/v1/{}.{}.channel.{}.m3u8",
            self.region, self.account, self.id
        )
    }

    pub fn playback_url(&self) -> String {
        format!("{}{}", self.base_url, self.playlist_path())
    }
}

/// One IVS recording session: a stream from start to end.
#[derive(Debug, Clone)]
pub struct Recording {
    pub id: String,
    pub started: SystemTime,
    pub next_thumbnail: u64,
}

pub struct Media {
    pub segmenter: Segmenter,
    pub playlist: Playlist,
    rate: RateWindow,
    pub recording: Option<Recording>,
    /// Cues accepted by PutMetadata, with when (for the benchmark's log).
    pub accepted: u64,
}

/// The catalog version in effect now (`None` without the local chain).
pub type CatalogInEffect =
    Box<dyn Fn() -> Option<std::sync::Arc<backend::live_catalog::CatalogVersion>> + Send + Sync>;

/// Where a channel's streams are recorded, and what names the catalog
/// version in effect (for the recording's cue sidecar).
pub struct RecordingSink {
    pub recorder: crate::recorder::Recorder,
    pub catalog: CatalogInEffect,
}

pub struct Channel {
    pub info: ChannelInfo,
    media: Mutex<Media>,
    /// Set once, when the studio records (`None`: it does not).
    recording_sink: std::sync::OnceLock<RecordingSink>,
    /// When the demo show's clock started (its frames carry show time from
    /// here), so the local chain can say where on the show's timeline a cue
    /// lands.
    show_started: Mutex<Option<Instant>>,
}

impl Channel {
    pub fn new(info: ChannelInfo) -> Self {
        Self {
            info,
            media: Mutex::new(Media {
                segmenter: Segmenter::new(TARGET_SEGMENT_SECS),
                playlist: Playlist::new(PLAYLIST_WINDOW, TARGET_SEGMENT_SECS),
                rate: RateWindow::default(),
                recording: None,
                accepted: 0,
            }),
            recording_sink: std::sync::OnceLock::new(),
            show_started: Mutex::new(None),
        }
    }

    /// Waits until the recording's files are written (the studio's
    /// shutdown, after the stream ended).
    pub fn flush_recording(&self) {
        if let Some(sink) = self.recording_sink.get() {
            if !sink.recorder.flush(std::time::Duration::from_secs(10)) {
                tracing::warn!("recording: not all written before the studio stopped");
            }
        }
    }

    /// Records every stream of this channel from now on.
    pub fn record_to(&self, sink: RecordingSink) {
        let _ = self.recording_sink.set(sink);
    }

    pub fn set_show_started(&self, at: Instant) {
        *self.show_started.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    /// Seconds of demo show at `at`: the show time of the frame being
    /// encoded then (`None` for other inputs).
    pub fn show_secs_at(&self, at: Instant) -> Option<f64> {
        let started = (*self.show_started.lock().unwrap_or_else(|p| p.into_inner()))?;
        Some(at.saturating_duration_since(started).as_secs_f64())
    }

    pub fn media(&self) -> MutexGuard<'_, Media> {
        // A panic elsewhere must not take the channel down with it.
        self.media.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_live(&self) -> bool {
        self.media().segmenter.is_live()
    }

    /// PutMetadata on this channel: IVS's rules, then into the stream.
    pub fn put_metadata(&self, metadata: &str, now: Instant) -> Result<(), IvsError> {
        crate::ivs_api::check_metadata(metadata)?;
        let mut media = self.media();
        if !media.segmenter.is_live() {
            return Err(IvsError::not_broadcasting(&self.info.arn()));
        }
        if !media.rate.try_accept(now) {
            return Err(IvsError::throttled());
        }
        media.segmenter.push_cue(metadata.to_string());
        media.accepted += 1;
        Ok(())
    }

    /// Adds a segment the segmenter finished; starts a recording session
    /// with the first segment of a stream.
    pub fn publish_segment(&self, segment: Segment, now: SystemTime) {
        let mut media = self.media();
        if media.recording.is_none() {
            media.recording = Some(Recording {
                id: random_id(12),
                started: now,
                next_thumbnail: 0,
            });
        }
        let cues = segment.cues.len();
        if let (Some(sink), Some(recording)) = (self.recording_sink.get(), &media.recording) {
            sink.recorder.segment(crate::recorder::RecordedSegment {
                prefix: self.info.recording_prefix(recording).key_prefix(),
                channel_arn: self.info.arn(),
                recording_started: recording.started,
                data: segment.data.clone(),
                duration_secs: segment.duration_secs,
                discontinuity: segment.discontinuity,
                program_date_time: now
                    .checked_sub(std::time::Duration::from_secs_f64(segment.duration_secs))
                    .unwrap_or(now),
                cues: segment
                    .cue_secs
                    .iter()
                    .copied()
                    .zip(segment.cues.iter().cloned())
                    .collect(),
                catalog: (sink.catalog)(),
            });
        }
        let sequence = media.playlist.add(segment, now);
        if cues > 0 {
            tracing::debug!(sequence, cues, "segment with cues listed");
        }
    }

    /// The stream ended (ffmpeg exited): the session ends with it.
    pub fn end_stream(&self) {
        let mut media = self.media();
        media.segmenter.restart();
        if media.recording.take().is_some() {
            if let Some(sink) = self.recording_sink.get() {
                sink.recorder.end(SystemTime::now());
            }
        }
    }
}

/// Letters and digits, as IVS ids are made of.
pub fn random_id(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
