//! Recording thumbnails, as an IVS recording configuration with thumbnails
//! in SEQUENTIAL storage makes them: every N seconds a JPEG of the stream,
//! under IVS's S3 key layout, into a local folder and, when configured, into
//! an S3 bucket (moto server locally) so the on-thumbnail Lambda can be
//! driven exactly as in AWS.
//!
//! The picture is the newest complete frame of the segment being written,
//! decoded by ffmpeg from the very bytes players get: what viewers will see,
//! a fraction of a second after the encoder made it (the fallbacks, the
//! newest listed segment's last frame or its opening keyframe, are up to one
//! or two segments older).

use crate::channel::Channel;
use crate::error::StudioError;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Thumbnails kept on disk by default: the newest, about 40 minutes at 5 s.
/// Older ones are deleted as new ones are written (the S3 copy, when
/// configured, is the bucket's lifecycle's business, as in AWS).
pub const DEFAULT_KEEP: usize = 500;

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
    /// At most this many of the thumbnails written stay in `dir`.
    pub keep: usize,
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
    let mut on_disk = std::collections::VecDeque::new();
    loop {
        ticker.tick().await;
        match take_one(&channel, &config, &mut last_sequence).await {
            Ok(Some(w)) => {
                tracing::info!(key = %w.key, bytes = w.bytes, "thumbnail written");
                on_disk.push_back(config.dir.join(&w.key));
                while on_disk.len() > config.keep.max(1) {
                    if let Some(old) = on_disk.pop_front() {
                        if let Err(e) = tokio::fs::remove_file(&old).await {
                            tracing::warn!(path = %old.display(), error = %e, "old thumbnail not pruned");
                        }
                    }
                }
                if let Some(tx) = &config.on_written {
                    let _ = tx.send(w);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e.report(), "thumbnail skipped"),
        }
    }
}

async fn take_one(
    channel: &Channel,
    config: &ThumbnailConfig,
    last_sequence: &mut Option<u64>,
) -> Result<Option<Written>, StudioError> {
    // The newest segment, and the thumbnail's place in the session.
    let (segment, from_secs, key) = {
        let mut media = channel.media();
        let Some(latest) = media.playlist.latest().cloned() else {
            return Ok(None);
        };
        if !media.segmenter.is_live() {
            return Ok(None);
        }
        // The picture: the segment being written, up to its newest complete
        // frame (what the encoder produced a moment ago); else the last frame
        // of the newest listed segment, once per segment.
        let fresh = media
            .segmenter
            .open_so_far()
            .filter(|(_, secs)| *secs >= FRESH_MIN_SECS);
        let picture = match fresh {
            Some((data, secs)) => (axum::body::Bytes::from(data), secs - FRAME_MARGIN_SECS),
            None if *last_sequence == Some(latest.sequence) => return Ok(None),
            None => (
                latest.data.clone(),
                latest.duration_secs - FRAME_MARGIN_SECS,
            ),
        };
        let Some(recording) = media.recording.as_mut() else {
            return Ok(None);
        };
        *last_sequence = Some(latest.sequence);
        let key = channel
            .info
            .recording_prefix(recording)
            .sequential_thumbnail_key(recording.next_thumbnail);
        recording.next_thumbnail += 1;
        (picture.0, picture.1.max(0.0), key)
    };
    // The newest frame: the picture's age adds straight to the time before a
    // product's card shows. The segment's opening keyframe, the fallback, can
    // be a whole segment older.
    let jpeg = match last_frame_jpeg(&config.ffmpeg, &segment, from_secs).await {
        Ok(jpeg) => jpeg,
        Err(e) => {
            tracing::debug!(error = %e.report(), "last frame not decoded; using the keyframe");
            keyframe_jpeg(&config.ffmpeg, &segment).await?
        }
    };
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
                StudioError::failed(format!("S3 PutObject s3://{}/{key} failed", s3.bucket), e)
            })?;
    }
    Ok(Some(Written {
        key,
        bytes: jpeg.len(),
        at: std::time::Instant::now(),
    }))
}

/// The default thumbnail folder: `ivs-studio/thumbnails` in the user's cache
/// folder (`$XDG_CACHE_HOME`, else `~/.cache`). Not the shared temporary
/// folder, where another local user could create it first or plant a
/// symlink in its place.
pub fn default_dir() -> Result<PathBuf, StudioError> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .ok_or("neither XDG_CACHE_HOME nor HOME is set: pass --thumbnails-dir")?;
    Ok(cache.join("ivs-studio").join("thumbnails"))
}

/// Creates `dir` (and `ivs-studio` above it) private to this user, mode
/// 0700, and checks that neither is a symlink nor someone else's nor open
/// to others: the studio writes the operator's camera frames there.
#[allow(unsafe_code)]
pub fn prepare_private_dir(dir: &Path) -> Result<(), StudioError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder
        .create(dir)
        .map_err(|e| StudioError::failed(format!("cannot create {}", dir.display()), e))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    for path in [dir.parent().unwrap_or(dir), dir] {
        let meta = std::fs::symlink_metadata(path)
            .map_err(|e| StudioError::failed(format!("cannot inspect {}", path.display()), e))?;
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return Err(format!(
                "{} is a symlink or not a folder: remove it, or pass --thumbnails-dir",
                path.display()
            )
            .into());
        }
        if meta.uid() != me {
            return Err(format!(
                "{} belongs to another user (uid {}): remove it, or pass --thumbnails-dir",
                path.display(),
                meta.uid()
            )
            .into());
        }
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(
                |e| StudioError::failed(format!("cannot make {} private", path.display()), e),
            )?;
        }
    }
    Ok(())
}

async fn write_local(dir: &Path, key: &str, jpeg: &[u8]) -> Result<(), StudioError> {
    let path = dir.join(key);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| StudioError::failed(format!("cannot create {}", parent.display()), e))?;
    }
    tokio::fs::write(&path, jpeg)
        .await
        .map_err(|e| StudioError::failed(format!("cannot write {}", path.display()), e))
}

/// Decodes the first keyframe of a TS segment to a JPEG with ffmpeg.
pub async fn keyframe_jpeg(ffmpeg: &Path, segment: &[u8]) -> Result<Vec<u8>, StudioError> {
    segment_jpeg(ffmpeg, segment, &["-skip_frame", "nokey"], &[]).await
}

/// A segment must hold this much video before its newest frame is used.
const FRESH_MIN_SECS: f64 = 0.2;
/// The frame taken is the first one from this far before the newest frame's
/// start (or the segment's end): at 24-60 fps that is the last complete one.
const FRAME_MARGIN_SECS: f64 = 0.05;

/// Decodes TS data to a JPEG of its first frame at or after `from_secs` (the
/// data's timeline starts at 0): every frame is decoded (cheap), only that
/// one encoded.
pub async fn last_frame_jpeg(
    ffmpeg: &Path,
    segment: &[u8],
    from_secs: f64,
) -> Result<Vec<u8>, StudioError> {
    let select = format!("select='gte(t\\,{from_secs:.3})'");
    segment_jpeg(ffmpeg, segment, &[], &["-vf", &select]).await
}

async fn segment_jpeg(
    ffmpeg: &Path,
    segment: &[u8],
    input_options: &[&str],
    filters: &[&str],
) -> Result<Vec<u8>, StudioError> {
    let mut args: Vec<&str> = vec![
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-f",
        "mpegts",
    ];
    args.extend_from_slice(input_options);
    args.extend_from_slice(&["-i", "pipe:0"]);
    args.extend_from_slice(filters);
    args.extend_from_slice(&[
        "-frames:v",
        "1",
        "-q:v",
        "3",
        "-f",
        "image2pipe",
        "-c:v",
        "mjpeg",
        "pipe:1",
    ]);
    let mut child = tokio::process::Command::new(ffmpeg)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| StudioError::failed(format!("cannot run {}", ffmpeg.display()), e))?;
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
        .map_err(|_| StudioError::from("ffmpeg took over 10 s to decode a thumbnail"))?
        .map_err(|e| StudioError::failed("ffmpeg failed", e))?;
    if !out.status.success() || !out.stdout.starts_with(&[0xFF, 0xD8]) {
        return Err(format!(
            "ffmpeg made no JPEG ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod private_dir_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("studio-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_folder_is_made_private_and_a_planted_symlink_is_refused() {
        let root = scratch("ok");
        let dir = root.join("ivs-studio").join("thumbnails");
        prepare_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Opened up by someone: closed again.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        prepare_private_dir(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // A symlink planted where the folder should be.
        let planted = scratch("planted");
        let target = planted.join("elsewhere");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::create_dir_all(planted.join("ivs-studio")).unwrap();
        std::os::unix::fs::symlink(&target, planted.join("ivs-studio").join("thumbnails")).unwrap();
        let err = prepare_private_dir(&planted.join("ivs-studio").join("thumbnails"))
            .unwrap_err()
            .report();
        assert!(err.contains("symlink"), "{err}");
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_dir_all(&planted);
    }
}
