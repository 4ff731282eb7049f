//! Recording thumbnails, as an IVS recording configuration with thumbnails
//! in SEQUENTIAL storage makes them: every N seconds a JPEG of the stream,
//! under IVS's S3 key layout, into a local folder and, when configured, into
//! an S3 bucket (moto server locally) so the on-thumbnail Lambda can be
//! driven exactly as in AWS.
//!
//! The picture is the keyframe opening the newest segment, decoded by ffmpeg
//! from the very bytes players get: what viewers see, at most one segment
//! (2 s) old. IVS's own thumbnails lag the live edge too.

use crate::channel::Channel;
use crate::civil::Utc;
use backend::thumbnail_key::RecordingPrefix;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub const MIN_INTERVAL_SECS: u64 = 1;
pub const MAX_INTERVAL_SECS: u64 = 60;

#[derive(Clone)]
pub struct S3Target {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

#[derive(Clone)]
pub struct ThumbnailConfig {
    pub interval: Duration,
    pub dir: PathBuf,
    pub s3: Option<S3Target>,
    pub ffmpeg: PathBuf,
    /// Told of every thumbnail written (the local chain listens).
    pub on_written: Option<tokio::sync::mpsc::UnboundedSender<Written>>,
}

/// A thumbnail written.
#[derive(Debug, Clone)]
pub struct Written {
    pub key: String,
    pub bytes: usize,
    /// When the file was complete in the folder (and in S3, when configured).
    pub at: std::time::Instant,
}

/// Takes a thumbnail every interval until the task is dropped.
pub async fn run(channel: Arc<Channel>, config: ThumbnailConfig) {
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sequence = None;
    loop {
        ticker.tick().await;
        match take_one(&channel, &config, &mut last_sequence).await {
            Ok(Some(w)) => {
                tracing::info!(key = %w.key, bytes = w.bytes, "thumbnail written");
                if let Some(tx) = &config.on_written {
                    let _ = tx.send(w);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "thumbnail skipped"),
        }
    }
}

async fn take_one(
    channel: &Channel,
    config: &ThumbnailConfig,
    last_sequence: &mut Option<u64>,
) -> Result<Option<Written>, String> {
    // The newest segment, and the thumbnail's place in the session.
    let (segment, key) = {
        let mut media = channel.media();
        let Some(latest) = media.playlist.latest().cloned() else {
            return Ok(None);
        };
        if *last_sequence == Some(latest.sequence) || !media.segmenter.is_live() {
            return Ok(None);
        }
        let Some(recording) = media.recording.as_mut() else {
            return Ok(None);
        };
        *last_sequence = Some(latest.sequence);
        let start = Utc::from_system_time(recording.started);
        let prefix = RecordingPrefix {
            account: channel.info.account.clone(),
            channel_id: channel.info.id.clone(),
            year: start.year,
            month: start.month,
            day: start.day,
            hour: start.hour,
            minute: start.minute,
            recording_id: recording.id.clone(),
        };
        let key = prefix.sequential_thumbnail_key(recording.next_thumbnail);
        recording.next_thumbnail += 1;
        (latest.data, key)
    };
    let jpeg = keyframe_jpeg(&config.ffmpeg, &segment).await?;
    write_local(&config.dir, &key, &jpeg).await?;
    if let Some(s3) = &config.s3 {
        s3.client
            .put_object()
            .bucket(&s3.bucket)
            .key(&key)
            .content_type("image/jpeg")
            .body(jpeg.clone().into())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "S3 PutObject s3://{}/{key} failed: {}",
                    s3.bucket,
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
    }
    Ok(Some(Written {
        key,
        bytes: jpeg.len(),
        at: std::time::Instant::now(),
    }))
}

async fn write_local(dir: &Path, key: &str, jpeg: &[u8]) -> Result<(), String> {
    let path = dir.join(key);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    tokio::fs::write(&path, jpeg)
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Decodes the first keyframe of a TS segment to a JPEG with ffmpeg.
pub async fn keyframe_jpeg(ffmpeg: &Path, segment: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = tokio::process::Command::new(ffmpeg)
        .args([
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-f",
            "mpegts",
            "-skip_frame",
            "nokey",
            "-i",
            "pipe:0",
            "-frames:v",
            "1",
            "-q:v",
            "3",
            "-f",
            "image2pipe",
            "-c:v",
            "mjpeg",
            "pipe:1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", ffmpeg.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let data = segment.to_vec();
        // ffmpeg may stop reading after the first frame: a broken pipe here
        // is expected, not an error.
        tokio::spawn(async move {
            let _ = stdin.write_all(&data).await;
        });
    }
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .map_err(|_| "ffmpeg took over 10 s to decode a thumbnail".to_string())?
        .map_err(|e| format!("ffmpeg failed: {e}"))?;
    if !out.status.success() || !out.stdout.starts_with(&[0xFF, 0xD8]) {
        return Err(format!(
            "ffmpeg made no JPEG ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}
