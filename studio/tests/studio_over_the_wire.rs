//! The studio binary over the wire: its IVS API through the real
//! `aws-sdk-ivs` client, its HLS segments down to the TS packet (and through
//! ffprobe), its thumbnails on disk and in moto S3, and its behaviour on bad
//! input, ffmpeg dying and Ctrl-C.

use aws_sdk_ivs::error::ProvideErrorMetadata;
use e2e_tests::{die_with_parent, free_port, sdk_config, ChildGuard, Moto};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use studio::ts::{self, PACKET_SIZE};

mod support;
use support::{
    get, id3_values, pes_units, request, segment_dir, segment_numbers, segment_pmt, send_signal,
    Response,
};

const STUDIO: &str = env!("CARGO_BIN_EXE_studio");
const ARN: &str = "arn:aws:ivs:us-east-1:123456789012:channel/LocalStudio1";

/// A running studio process.
struct Studio {
    child: ChildGuard,
    port: u16,
    playlist_path: String,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Vec<String>,
}

fn studio_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(STUDIO);
    cmd.args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    die_with_parent(&mut cmd);
    cmd
}

impl Studio {
    fn start(args: &[&str]) -> anyhow::Result<Self> {
        let port = free_port()?;
        let port_s = port.to_string();
        let mut all = vec!["--port", &port_s];
        all.extend_from_slice(args);
        let mut child = studio_command(&all).spawn()?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        let out = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let child = ChildGuard(child);
        let mut stdout = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let done = line.ends_with(".m3u8");
            stdout.push(line);
            if done {
                break;
            }
        }
        let url = stdout
            .last()
            .filter(|l| l.ends_with(".m3u8"))
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no playback URL line; stdout {stdout:?}; stderr {:?}",
                    stderr.lock().unwrap()
                )
            })?;
        let prefix = format!("http://127.0.0.1:{port}");
        let playlist_path = url
            .strip_prefix(&prefix)
            .ok_or_else(|| anyhow::anyhow!("playback URL {url} is not on {prefix}"))?
            .to_string();
        Ok(Self {
            child,
            port,
            playlist_path,
            stderr,
            stdout,
        })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> anyhow::Result<Response> {
        get(self.port, path, &[])
    }

    /// The playlist's segment sequence numbers, once the stream is live.
    fn listed(&self) -> anyhow::Result<Vec<u64>> {
        let r = self.get(&self.playlist_path)?;
        if r.status != 200 {
            return Ok(vec![]);
        }
        Ok(segment_numbers(&r.body))
    }

    fn wait_live(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.listed()?.is_empty() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!(
            "no segment within {timeout:?}; stderr {:?}",
            self.stderr_text()
        )
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// ffmpeg pids the studio logged, in order.
    fn ffmpeg_pids(&self) -> Vec<i32> {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("ffmpeg started"))
            .filter_map(|l| {
                l.split("pid=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }

    async fn ivs(&self) -> aws_sdk_ivs::Client {
        // As the backend's IVS client: no SDK retries, so a throttle is seen
        // as the 429 it is (the SDK would otherwise wait and retry it).
        let config = aws_sdk_ivs::config::Builder::from(&sdk_config().await)
            .endpoint_url(self.base())
            .retry_config(aws_sdk_ivs::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_ivs::Client::from_conf(config)
    }

    /// The first segment listed after `after` whose timed ID3 holds `cue`,
    /// and when it was first seen listed.
    fn wait_for_cue_segment(
        &self,
        cue: &str,
        timeout: Duration,
    ) -> anyhow::Result<(Vec<u8>, Instant)> {
        let deadline = Instant::now() + timeout;
        let mut seen = HashSet::new();
        while Instant::now() < deadline {
            for n in self.listed()? {
                if !seen.insert(n) {
                    continue;
                }
                let listed_at = Instant::now();
                let path = format!("{}/{n}.ts", segment_dir(&self.playlist_path));
                let seg = self.get(&path)?;
                anyhow::ensure!(seg.status == 200, "segment {path}: {}", seg.status);
                if id3_values(&seg.body)?.iter().any(|v| v == cue) {
                    return Ok((seg.body, listed_at));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        anyhow::bail!("no segment carried the cue within {timeout:?}")
    }
}

// ---------------------------------------------------------------- shared env

struct Env {
    studio: Studio,
    _moto: Moto,
    moto_url: String,
    thumbs: tempdir::Dir,
    site: tempdir::Dir,
}

mod tempdir {
    /// A temporary folder removed when dropped.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!("studio-test-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("temp dir");
            Self(p)
        }
        pub fn path(&self) -> &str {
            self.0.to_str().unwrap_or_default()
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let moto = Moto::start(free_port().expect("port")).expect("moto starts");
        let thumbs = tempdir::Dir::new("thumbs");
        let site = tempdir::Dir::new("site");
        std::fs::write(
            site.0.join("index.html"),
            "<!doctype html><title>player site</title>",
        )
        .expect("site");
        // The local chain is off here: its own cues would share the rate
        // window the PutMetadata trials measure. It has its own trial.
        let studio = Studio::start(&[
            "--no-local-chain",
            "--thumbnail-interval",
            "1",
            "--thumbnails-dir",
            thumbs.path(),
            "--s3-endpoint",
            &moto.url,
            "--s3-bucket",
            "studio-thumbs",
            "--site",
            site.path(),
        ])
        .expect("studio starts");
        studio
            .wait_live(Duration::from_secs(30))
            .expect("studio goes live");
        Env {
            moto_url: moto.url.clone(),
            studio,
            _moto: moto,
            thumbs,
            site,
        }
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn trial<F>(name: &str, f: fn() -> F) -> Trial
where
    F: std::future::Future<Output = anyhow::Result<()>> + 'static,
{
    Trial::test(name, move || {
        runtime()
            .block_on(f())
            .map_err(|e| Failed::from(format!("{e:#}")))
    })
}

/// Lets the channel's PutMetadata rate window empty.
fn let_rate_window_pass() {
    std::thread::sleep(Duration::from_millis(1100));
}

// -------------------------------------------------------------------- trials

/// A demo show frame at `show_secs`, as the JPEG a thumbnail would be.
fn demo_frame_jpeg(show_secs: f64) -> Vec<u8> {
    let mut show = studio::demo::Show::new();
    let raw = show
        .render(show_secs, std::time::SystemTime::now())
        .to_vec();
    let img = image::RgbImage::from_raw(studio::demo::WIDTH, studio::demo::HEIGHT, raw)
        .expect("frame size");
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&img)
        .expect("jpeg");
    out
}

async fn local_chain_cues_the_demo_products_and_detect_custom_labels_answers() -> anyhow::Result<()>
{
    use aws_sdk_rekognition::primitives::Blob;
    use aws_sdk_rekognition::types::{Image, S3Object};
    let moto = &env().moto_url;
    let thumbs = tempdir::Dir::new("chain");
    let studio = Studio::start(&[
        "--thumbnail-interval",
        "1",
        "--thumbnails-dir",
        thumbs.path(),
        "--s3-endpoint",
        moto,
        "--s3-bucket",
        "chain-thumbs",
    ])?;
    studio.wait_live(Duration::from_secs(30))?;
    // The show opens with kestrel (from 3 s): the chain must cue it by itself.
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut seen = HashSet::new();
    let mut cued = None;
    while cued.is_none() && Instant::now() < deadline {
        for n in studio.listed()? {
            if seen.insert(n) {
                let seg = studio.get(&format!("{}/{n}.ts", segment_dir(&studio.playlist_path)))?;
                cued = id3_values(&seg.body)?.into_iter().find(|v| {
                    v.starts_with(r#"{"v":1,"seq":"#)
                        && v.contains(r#""show":[{"id":"kestrel","left":"#)
                });
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::ensure!(
        cued.is_some(),
        "no kestrel cue in the stream within 25 s; stderr: {}",
        studio.stderr_text()
    );
    anyhow::ensure!(
        studio
            .stderr_text()
            .lines()
            .any(|l| l.contains("products shown") && l.contains("thumbnail_to_cue_ms")),
        "the chain logs what it showed and how fast"
    );

    let config = aws_sdk_rekognition::config::Builder::from(&sdk_config().await)
        .endpoint_url(studio.base())
        .build();
    let rekognition = aws_sdk_rekognition::Client::from_conf(config);
    let arn = "arn:aws:rekognition:us-east-1:123456789012:project/studio/version/builtin/1";
    let names =
        |out: &aws_sdk_rekognition::operation::detect_custom_labels::DetectCustomLabelsOutput| {
            let mut n: Vec<String> = out
                .custom_labels()
                .iter()
                .filter_map(|l| l.name().map(str::to_owned))
                .collect();
            n.sort();
            n
        };
    let by_bytes = |jpeg: Vec<u8>, max_results: Option<i32>| {
        rekognition
            .detect_custom_labels()
            .project_version_arn(arn)
            .image(Image::builder().bytes(Blob::new(jpeg)).build())
            .set_max_results(max_results)
            .send()
    };
    // By bytes: lumen alone at 40 s, tidewater and kestrel together at 65 s.
    let out = by_bytes(demo_frame_jpeg(40.0), None).await?;
    anyhow::ensure!(names(&out) == ["lumen"], "{:?}", names(&out));
    let label = &out.custom_labels()[0];
    let b = label
        .geometry()
        .and_then(|g| g.bounding_box())
        .expect("a box");
    // The demo places lumen at x 800..1160 of 1280.
    anyhow::ensure!(
        (b.left().unwrap_or(0.0) - 800.0 / 1280.0).abs() < 0.05,
        "{b:?}"
    );
    anyhow::ensure!(label.confidence().unwrap_or(0.0) >= 60.0);
    let two = demo_frame_jpeg(65.0);
    let out = by_bytes(two.clone(), None).await?;
    anyhow::ensure!(names(&out) == ["kestrel", "tidewater"], "{:?}", names(&out));
    let out = by_bytes(two, Some(1)).await?;
    anyhow::ensure!(out.custom_labels().len() == 1, "MaxResults honoured");
    let out = by_bytes(demo_frame_jpeg(26.5), None).await?;
    anyhow::ensure!(
        names(&out).is_empty(),
        "no product on screen: {:?}",
        names(&out)
    );

    // By S3 object: a thumbnail the studio wrote (into moto S3 and its folder).
    let key = walk(&thumbs.0)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .max()
        .and_then(|p| {
            p.strip_prefix(&thumbs.0)
                .ok()
                .map(|k| k.to_string_lossy().into_owned())
        })
        .ok_or_else(|| anyhow::anyhow!("no thumbnail written"))?;
    let by_object = |key: &str, min_confidence: Option<f32>| {
        let object = S3Object::builder().bucket("chain-thumbs").name(key).build();
        rekognition
            .detect_custom_labels()
            .project_version_arn(arn)
            .image(Image::builder().s3_object(object).build())
            .set_min_confidence(min_confidence)
            .send()
    };
    by_object(&key, Some(0.0)).await?;

    // Refusals, as Rekognition words them.
    let err = by_bytes(b"not an image".to_vec(), None)
        .await
        .expect_err("garbage is refused");
    anyhow::ensure!(err.code() == Some("InvalidImageFormatException"), "{err:?}");
    let err = by_object("no/such.jpg", None)
        .await
        .expect_err("a missing object is refused");
    anyhow::ensure!(err.code() == Some("InvalidS3ObjectException"), "{err:?}");
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

async fn accepted_cue_lands_in_a_valid_segment() -> anyhow::Result<()> {
    let studio = &env().studio;
    let_rate_window_pass();
    let cue = format!(
        r#"{{"v":1,"show":[{{"id":"kestrel","left":20}}],"n":{}}}"#,
        rand_u32()
    );
    let put_at = Instant::now();
    studio
        .ivs()
        .await
        .put_metadata()
        .channel_arn(ARN)
        .metadata(&cue)
        .send()
        .await?;
    let (segment, listed_at) = studio.wait_for_cue_segment(&cue, Duration::from_secs(10))?;
    let latency = listed_at - put_at;
    // One segment (2 s) plus polling and encoder slack.
    anyhow::ensure!(
        latency < Duration::from_millis(3500),
        "cue listed after {latency:?}"
    );

    // Every packet 188 bytes with the sync byte; counters in order per PID.
    anyhow::ensure!(segment.len() % PACKET_SIZE == 0, "{} bytes", segment.len());
    let mut counters: HashMap<ts::Pid, ts::ContinuityCounter> = HashMap::new();
    for p in segment.chunks(PACKET_SIZE) {
        let h = ts::parse_header(p)?;
        if let Some(prev) = counters.insert(h.pid, h.continuity_counter) {
            anyhow::ensure!(
                h.continuity_counter == prev.next(),
                "PID {:?}: counter {:?} after {prev:?}",
                h.pid,
                h.continuity_counter
            );
        }
    }
    // The PMT lists the timed-ID3 stream with its descriptors.
    let pmt = segment_pmt(&segment)?;
    let id3 = pmt
        .streams
        .iter()
        .find(|s| s.stream_type == 0x15)
        .ok_or_else(|| anyhow::anyhow!("PMT has no stream_type 0x15: {pmt:?}"))?;
    anyhow::ensure!(
        id3.es_info == ts::id3_metadata_descriptor(),
        "metadata_descriptor"
    );
    anyhow::ensure!(
        pmt.program_info.windows(2).any(|w| w == [0x25, 0x0F]),
        "metadata_pointer_descriptor"
    );
    anyhow::ensure!(
        pmt.streams.iter().any(|s| s.stream_type == 0x1B),
        "H.264 listed"
    );
    anyhow::ensure!(
        pmt.streams.iter().any(|s| s.stream_type == 0x0F),
        "AAC listed"
    );

    // The ID3 PES is well formed, with a PTS inside the segment's video span.
    let video_pid = pmt
        .streams
        .iter()
        .find(|s| s.stream_type == 0x1B)
        .map(|s| s.pid)
        .ok_or_else(|| anyhow::anyhow!("PMT lists no H.264 stream: {pmt:?}"))?;
    let video_pts: Vec<u64> = pes_units(&segment, video_pid)?
        .iter()
        .filter_map(|u| ts::parse_pes_start(u)?.pts)
        .collect();
    let (first, last) = (
        video_pts.iter().min().copied(),
        video_pts.iter().max().copied(),
    );
    // The segment opens with its PRIV marker (at the first frame); then the cue.
    let units = pes_units(&segment, id3.pid)?;
    anyhow::ensure!(units.len() == 2, "{} ID3 PES", units.len());
    for unit in &units {
        let start = ts::parse_pes_start(unit).ok_or_else(|| anyhow::anyhow!("PES header"))?;
        anyhow::ensure!(
            start.stream_id == 0xBD && start.data_alignment,
            "private_stream_1, aligned"
        );
        anyhow::ensure!(
            start.packet_length as usize + 6 <= unit.len(),
            "PES length fits"
        );
    }
    let start = ts::parse_pes_start(&units[1]).ok_or_else(|| anyhow::anyhow!("PES header"))?;
    let pts = start.pts.ok_or_else(|| anyhow::anyhow!("no PTS"))?;
    anyhow::ensure!(
        Some(pts) >= first && Some(pts) <= last,
        "ID3 PTS {pts} outside video {first:?}..{last:?}"
    );
    anyhow::ensure!(
        id3_values(&segment)? == vec![cue.clone()],
        "TXXX value is the cue"
    );

    // ffprobe, an independent reader, sees the stream and no errors.
    let path = std::env::temp_dir().join(format!("studio-seg-{}.ts", std::process::id()));
    std::fs::write(&path, &segment)?;
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    match probe {
        Ok(out) => {
            let streams = String::from_utf8_lossy(&out.stdout);
            let errors = String::from_utf8_lossy(&out.stderr);
            anyhow::ensure!(
                out.status.success() && errors.trim().is_empty(),
                "ffprobe: {errors}"
            );
            anyhow::ensure!(
                streams.lines().any(|l| l == "timed_id3"),
                "ffprobe streams: {streams}"
            );
        }
        Err(e) => eprintln!("ffprobe not run ({e}); the TS checks above stand"),
    }
    Ok(())
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7)
}

async fn oversized_cue_is_a_validation_error() -> anyhow::Result<()> {
    let studio = &env().studio;
    let ivs = studio.ivs().await;
    let err = ivs
        .put_metadata()
        .channel_arn(ARN)
        .metadata("x".repeat(1025))
        .send()
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("1025 bytes accepted"))?;
    anyhow::ensure!(err.code() == Some("ValidationException"), "{err:?}");
    anyhow::ensure!(
        matches!(err.as_service_error(), Some(e) if e.is_validation_exception()),
        "the SDK parses it as its modelled ValidationException"
    );
    let_rate_window_pass();
    ivs.put_metadata()
        .channel_arn(ARN)
        .metadata("x".repeat(1024))
        .send()
        .await?;
    Ok(())
}

async fn sixth_call_in_a_second_is_throttled() -> anyhow::Result<()> {
    let studio = &env().studio;
    let ivs = studio.ivs().await;
    // Warm the client (endpoint resolution, connection) before timing.
    ivs.get_channel().arn(ARN).send().await?;
    // The premise is six calls inside one second; on a loaded machine a
    // burst can take longer, so it is tried a few times.
    for _attempt in 0..3 {
        let_rate_window_pass();
        let started = Instant::now();
        for i in 0..5 {
            ivs.put_metadata()
                .channel_arn(ARN)
                .metadata(format!(r#"{{"v":1,"show":[],"burst":{i}}}"#))
                .send()
                .await?;
        }
        let sixth = ivs
            .put_metadata()
            .channel_arn(ARN)
            .metadata(r#"{"v":1,"show":[]}"#)
            .send()
            .await;
        if started.elapsed() >= Duration::from_millis(900) {
            continue;
        }
        let err = sixth
            .err()
            .ok_or_else(|| anyhow::anyhow!("the 6th call in a second was accepted"))?;
        anyhow::ensure!(err.code() == Some("ThrottlingException"), "{err:?}");
        anyhow::ensure!(err.raw_response().map(|r| r.status().as_u16()) == Some(429));
        return Ok(());
    }
    anyhow::bail!("three bursts of six calls each took over 0.9 s; cannot test the limit")
}

async fn unknown_and_malformed_channels_are_refused() -> anyhow::Result<()> {
    let ivs = env().studio.ivs().await;
    let err = ivs
        .put_metadata()
        .channel_arn("arn:aws:ivs:us-east-1:123456789012:channel/NoSuchChan01")
        .metadata("{}")
        .send()
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("unknown channel accepted"))?;
    anyhow::ensure!(err.code() == Some("ResourceNotFoundException"), "{err:?}");
    anyhow::ensure!(err.raw_response().map(|r| r.status().as_u16()) == Some(404));
    let err = ivs
        .put_metadata()
        .channel_arn("not-an-arn")
        .metadata("{}")
        .send()
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("bad ARN accepted"))?;
    anyhow::ensure!(err.code() == Some("ValidationException"), "{err:?}");
    Ok(())
}

/// A web page on another origin, a DNS-rebound name, and oversized bodies:
/// each refused in the shape the SDKs parse, while the SDK's own calls and
/// the studio's own page still work.
async fn only_its_own_pages_can_drive_the_studio() -> anyhow::Result<()> {
    let port = env().studio.port;
    let own = format!("http://127.0.0.1:{port}");
    let cue = format!(r#"{{"channelArn":"{ARN}","metadata":"guard-test"}}"#);
    let big_cue = format!(
        r#"{{"channelArn":"{ARN}","metadata":"{}"}}"#,
        "x".repeat(20_000)
    );
    let huge_image = format!(
        r#"{{"ProjectVersionArn":"a","Image":{{"Bytes":"{}"}}}}"#,
        "A".repeat(6 * 1024 * 1024)
    );
    let json = ("Content-Type", "application/json");
    let amz = ("Content-Type", "application/x-amz-json-1.1");
    let detect = ("X-Amz-Target", "RekognitionService.DetectCustomLabels");
    let evil = ("Origin", "https://evil.example");
    let rebound = ("Host", "rebound.evil.example");
    // (what, method, path, headers, body, status, error code)
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    type Refusal<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Headers<'a>,
        &'a [u8],
        u16,
        &'a str,
    );
    let refusals: Vec<Refusal> = vec![
        (
            "text/plain from another origin (no preflight needed)",
            "POST",
            "/PutMetadata",
            vec![("Content-Type", "text/plain"), evil],
            cue.as_bytes(),
            403,
            "AccessDeniedException",
        ),
        (
            "JSON from another origin (had a preflight been skipped)",
            "POST",
            "/PutMetadata",
            vec![json, evil],
            cue.as_bytes(),
            403,
            "AccessDeniedException",
        ),
        (
            "DetectCustomLabels from another origin",
            "POST",
            "/",
            vec![amz, detect, evil],
            b"{}",
            403,
            "AccessDeniedException",
        ),
        (
            "a non-JSON call without an Origin",
            "POST",
            "/PutMetadata",
            vec![("Content-Type", "text/plain")],
            cue.as_bytes(),
            415,
            "ValidationException",
        ),
        (
            "DNS rebinding: the attacker's name in Host",
            "POST",
            "/PutMetadata",
            vec![json, rebound],
            cue.as_bytes(),
            403,
            "AccessDeniedException",
        ),
        (
            "DNS rebinding, reading",
            "GET",
            "/demo/catalog.json",
            vec![rebound],
            b"",
            403,
            "AccessDeniedException",
        ),
        (
            "a PutMetadata body over 8 KB",
            "POST",
            "/PutMetadata",
            vec![json],
            big_cue.as_bytes(),
            400,
            "ValidationException",
        ),
        (
            "a DetectCustomLabels body over 4 MB of image",
            "POST",
            "/",
            vec![amz, detect],
            huge_image.as_bytes(),
            400,
            "ImageTooLargeException",
        ),
    ];
    for (what, method, path, headers, body, status, code) in refusals {
        let r = request(port, method, path, &headers, body)?;
        let text = String::from_utf8_lossy(&r.body);
        anyhow::ensure!(r.status == status, "{what}: {} {text}", r.status);
        let v: serde_json::Value = serde_json::from_slice(&r.body)?;
        anyhow::ensure!(v["__type"] == code, "{what}: {text}");
        // IVS's REST-JSON reads `message`, Rekognition's JSON 1.1 `Message`.
        let message = v["message"].as_str().or(v["Message"].as_str());
        anyhow::ensure!(message.is_some_and(|m| !m.is_empty()), "{what}: {text}");
    }
    // The preflight itself gets no CORS grant for the API.
    let r = request(
        port,
        "OPTIONS",
        "/PutMetadata",
        &[
            evil,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    )?;
    anyhow::ensure!(
        !r.headers.contains_key("access-control-allow-origin"),
        "{:?}",
        r.headers
    );
    // The studio's own page, and the SDK (no Origin), still work.
    let_rate_window_pass();
    for headers in [vec![json, ("Origin", own.as_str())], vec![json]] {
        let r = request(port, "POST", "/PutMetadata", &headers, cue.as_bytes())?;
        let text = String::from_utf8_lossy(&r.body);
        anyhow::ensure!(r.status == 204, "{headers:?}: {} {text}", r.status);
    }
    Ok(())
}

async fn get_and_list_channels_describe_the_studio_channel() -> anyhow::Result<()> {
    let studio = &env().studio;
    let ivs = studio.ivs().await;
    let channel = ivs
        .get_channel()
        .arn(ARN)
        .send()
        .await?
        .channel
        .ok_or_else(|| anyhow::anyhow!("no channel"))?;
    anyhow::ensure!(channel.arn() == Some(ARN));
    let playback = format!("{}{}", studio.base(), studio.playlist_path);
    anyhow::ensure!(
        channel.playback_url() == Some(playback.as_str()),
        "{channel:?}"
    );
    let listed = ivs.list_channels().send().await?;
    anyhow::ensure!(
        listed.channels().iter().any(|c| c.arn() == Some(ARN)),
        "{listed:?}"
    );
    let missing = ivs
        .get_channel()
        .arn("arn:aws:ivs:us-east-1:123456789012:channel/NoSuchChan01")
        .send()
        .await;
    anyhow::ensure!(
        missing
            .err()
            .and_then(|e| e.code().map(String::from))
            .as_deref()
            == Some("ResourceNotFoundException")
    );
    // The playback URL is printed on a line of its own.
    anyhow::ensure!(studio.stdout.contains(&playback), "{:?}", studio.stdout);
    Ok(())
}

async fn playback_is_cross_origin_and_the_site_is_served() -> anyhow::Result<()> {
    let env = env();
    let studio = &env.studio;
    let r = get(
        studio.port,
        &studio.playlist_path,
        &[("Origin", "http://other.example:3000")],
    )?;
    anyhow::ensure!(r.status == 200);
    anyhow::ensure!(
        r.headers
            .get("access-control-allow-origin")
            .map(String::as_str)
            == Some("http://other.example:3000")
    );
    anyhow::ensure!(
        r.headers.get("content-type").map(String::as_str) == Some("application/vnd.apple.mpegurl")
    );
    let text = String::from_utf8_lossy(&r.body);
    anyhow::ensure!(
        text.starts_with("#EXTM3U") && text.contains("#EXT-X-TARGETDURATION:2"),
        "{text}"
    );
    let durations: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("#EXTINF:")?
                .trim_end_matches(',')
                .parse()
                .ok()
        })
        .collect();
    anyhow::ensure!(
        durations.iter().all(|d| (1.5..=2.5).contains(d)),
        "~2 s segments: {durations:?}"
    );
    let site = studio.get("/")?;
    anyhow::ensure!(
        String::from_utf8_lossy(&site.body).contains("player site"),
        "site at /"
    );
    let catalog = studio.get("/demo/catalog.json")?;
    ad_contract::Catalog::from_json(&String::from_utf8_lossy(&catalog.body))?;
    let logo = studio.get("/demo/kestrel.png")?;
    anyhow::ensure!(logo.body.starts_with(b"\x89PNG"), "demo logo is a PNG");
    let _ = &env.site;
    Ok(())
}

/// The folder keeps the newest `--keep-thumbnails` only.
async fn old_thumbnails_are_pruned() -> anyhow::Result<()> {
    let dir = tempdir::Dir::new("prune");
    let studio = Studio::start(&[
        "--no-local-chain",
        "--thumbnail-interval",
        "1",
        "--keep-thumbnails",
        "2",
        "--thumbnails-dir",
        dir.path(),
    ])?;
    let deadline = Instant::now() + Duration::from_secs(40);
    while studio.stderr_text().matches("thumbnail written").count() < 4 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no 4 thumbnails: {}",
            studio.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Pruning follows each write.
    tokio::time::sleep(Duration::from_millis(300)).await;
    fn jpegs(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() {
                            jpegs(&p)
                        } else {
                            usize::from(p.extension().is_some_and(|x| x == "jpg"))
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    let on_disk = jpegs(std::path::Path::new(dir.path()));
    anyhow::ensure!(on_disk == 2, "{on_disk} thumbnails on disk, 2 kept");
    Ok(())
}

async fn thumbnails_follow_the_ivs_layout_on_disk_and_in_s3() -> anyhow::Result<()> {
    let env = env();
    // Interval 1 s: a few are written by now; wait for at least two.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut keys: Vec<String> = Vec::new();
    let s3 = {
        let config = aws_sdk_s3::config::Builder::from(&sdk_config().await)
            .endpoint_url(&env.moto_url)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    };
    while Instant::now() < deadline {
        let listed = s3.list_objects_v2().bucket("studio-thumbs").send().await?;
        keys = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(String::from))
            .collect();
        if keys.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    anyhow::ensure!(keys.len() >= 2, "thumbnails in S3: {keys:?}");
    for key in &keys {
        let parsed = backend::thumbnail_key::ThumbnailKey::parse(key)
            .map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
        anyhow::ensure!(parsed.channel_id == "LocalStudio1" && parsed.account == "123456789012");
        anyhow::ensure!(key.contains("/media/thumbnails/thumb"), "{key}");
        let local = env.thumbs.0.join(key);
        let bytes =
            std::fs::read(&local).map_err(|e| anyhow::anyhow!("{}: {e}", local.display()))?;
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)?;
        anyhow::ensure!((img.width(), img.height()) == (1280, 720));
        let object = s3
            .get_object()
            .bucket("studio-thumbs")
            .key(key)
            .send()
            .await?;
        anyhow::ensure!(object.content_type() == Some("image/jpeg"));
    }
    // Sequential numbering within one recording session.
    let mut numbers: Vec<u64> = keys
        .iter()
        .filter_map(|k| k.rsplit("thumb").next()?.strip_suffix(".jpg")?.parse().ok())
        .collect();
    numbers.sort();
    anyhow::ensure!(numbers.starts_with(&[0, 1]), "{numbers:?}");
    Ok(())
}

/// A studio that must exit by itself: its status and stderr, or an error when
/// it is still running after `timeout`.
fn run_to_exit(cmd: &mut Command, timeout: Duration) -> anyhow::Result<(ExitStatus, String)> {
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err)?;
            }
            return Ok((status, err));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("still running after {timeout:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn bad_input_exits_with_a_clear_message() -> anyhow::Result<()> {
    let dir = tempdir::Dir::new("bad");
    let text_file = dir.0.join("not-a-video.mp4");
    std::fs::write(&text_file, "this is not a video")?;
    let busy = std::net::TcpListener::bind("127.0.0.1:0")?;
    let busy_port = busy.local_addr()?.port().to_string();
    let port = free_port()?.to_string();
    let cases: Vec<(Vec<String>, Option<&str>, &str)> = vec![
        (
            vec!["--input".into(), "/nonexistent/show.mp4".into()],
            None,
            "cannot read --input /nonexistent/show.mp4",
        ),
        (
            vec!["--input".into(), text_file.to_string_lossy().into()],
            None,
            "ffmpeg could not stream the file",
        ),
        (
            vec!["--ffmpeg".into(), "/nonexistent/ffmpeg".into()],
            None,
            "apt-get install ffmpeg",
        ),
        // No ffmpeg on PATH at all.
        (vec![], Some("/nonexistent"), "ffmpeg not found"),
        (vec!["--port".into(), busy_port.clone()], None, "is in use"),
        (
            vec![
                "--input".into(),
                "rtmp".into(),
                "--rtmp-port".into(),
                busy_port.clone(),
            ],
            None,
            "RTMP port",
        ),
        (
            vec!["--thumbnail-interval".into(), "0".into()],
            None,
            "IVS takes 1 to 60 seconds",
        ),
    ];
    for (args, path, expected) in cases {
        let mut all: Vec<String> = Vec::new();
        if !args.iter().any(|a| a == "--port") {
            all.extend(["--port".to_string(), port.clone()]);
        }
        all.extend(args.iter().cloned());
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut cmd = studio_command(&refs);
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        let (status, stderr) = run_to_exit(&mut cmd, Duration::from_secs(20))?;
        anyhow::ensure!(!status.success(), "{args:?} exited 0");
        anyhow::ensure!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in {stderr}"
        );
    }
    drop(busy);
    Ok(())
}

fn process_gone(pid: i32) -> bool {
    // A zombie still has /proc/<pid>; a reaped process does not.
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// ffmpeg cannot be started again after it died (here: its program lost
/// its execute bit): the studio stays up, keeps trying, and streams again
/// once it can.
async fn a_failed_ffmpeg_restart_does_not_end_the_studio() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir::Dir::new("respawn");
    let wrapper = std::path::Path::new(dir.path()).join("ffmpeg-wrapper");
    std::fs::write(&wrapper, "#!/bin/sh\nexec ffmpeg \"$@\"\n")?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    let wrapper_arg = wrapper.display().to_string();
    let mut studio = Studio::start(&[
        "--no-local-chain",
        "--ffmpeg",
        &wrapper_arg,
        "--thumbnails-dir",
        dir.path(),
    ])?;
    studio.wait_live(Duration::from_secs(30))?;
    let first = *studio
        .ffmpeg_pids()
        .first()
        .ok_or_else(|| anyhow::anyhow!("no ffmpeg pid logged"))?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o644))?;
    send_signal(first, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !studio
        .stderr_text()
        .contains("ffmpeg could not be started again")
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no retry: {}",
            studio.stderr_text()
        );
        anyhow::ensure!(
            studio.child.0.try_wait()?.is_none(),
            "the studio ended: {}",
            studio.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    anyhow::ensure!(
        studio.child.0.try_wait()?.is_none(),
        "the studio ended: {}",
        studio.stderr_text()
    );
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    let deadline = Instant::now() + Duration::from_secs(40);
    while studio.ffmpeg_pids().len() < 2 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "ffmpeg did not come back: {}",
            studio.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Broadcasting again: PutMetadata is accepted.
    let ivs = studio.ivs().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while ivs
        .put_metadata()
        .channel_arn(ARN)
        .metadata("{}")
        .send()
        .await
        .is_err()
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "not live again: {}",
            studio.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

async fn ffmpeg_dying_is_restarted_and_ctrl_c_leaves_no_process() -> anyhow::Result<()> {
    let thumbs = tempdir::Dir::new("restart");
    let studio = Studio::start(&["--thumbnails-dir", thumbs.path()])?;
    studio.wait_live(Duration::from_secs(30))?;
    let first = *studio
        .ffmpeg_pids()
        .first()
        .ok_or_else(|| anyhow::anyhow!("no ffmpeg pid logged"))?;
    send_signal(first, libc::SIGKILL);
    // While ffmpeg is down the channel is not live.
    let ivs = studio.ivs().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut refused = None;
    while Instant::now() < deadline {
        match ivs
            .put_metadata()
            .channel_arn(ARN)
            .metadata("{}")
            .send()
            .await
        {
            Err(e) => {
                refused = e.code().map(String::from);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    anyhow::ensure!(
        refused.as_deref() == Some("ChannelNotBroadcasting"),
        "{refused:?}"
    );
    // It comes back, on a new timeline the playlist marks.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = String::from_utf8_lossy(&studio.get(&studio.playlist_path)?.body).to_string();
        if studio.ffmpeg_pids().len() >= 2 && text.contains("#EXT-X-DISCONTINUITY\n") {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no restart: {text}\n{}",
            studio.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ivs.put_metadata()
        .channel_arn(ARN)
        .metadata("{}")
        .send()
        .await?;

    let second = studio.ffmpeg_pids()[1];
    let pid = studio.child.0.id() as i32;
    send_signal(pid, libc::SIGINT);
    let mut guard = studio.child;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = guard.0.try_wait()? {
            break s;
        }
        anyhow::ensure!(Instant::now() < deadline, "studio did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    anyhow::ensure!(status.success(), "Ctrl-C exits 0: {status}");
    anyhow::ensure!(
        process_gone(first) && process_gone(second),
        "ffmpeg left behind"
    );
    Ok(())
}

async fn a_file_plays_as_live() -> anyhow::Result<()> {
    let dir = tempdir::Dir::new("file");
    let clip = dir.0.join("clip.mp4");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x360:rate=25",
            "-t",
            "3",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&clip)
        .status()?;
    anyhow::ensure!(made.success(), "making a test clip");
    let studio = Studio::start(&[
        "--input",
        clip.to_str().unwrap_or_default(),
        "--thumbnails-dir",
        dir.path(),
    ])?;
    studio.wait_live(Duration::from_secs(30))?;
    // The 3 s clip loops: the stream outlives it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while studio.listed()?.last().copied().unwrap_or(0) < 3 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the clip did not loop: {}",
            studio.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    anyhow::ensure!(studio.ffmpeg_pids().len() == 1, "looping is not restarting");
    Ok(())
}

async fn rtmp_broadcaster_goes_live() -> anyhow::Result<()> {
    let dir = tempdir::Dir::new("rtmp");
    let rtmp_port = free_port()?.to_string();
    let studio = Studio::start(&[
        "--input",
        "rtmp",
        "--rtmp-port",
        &rtmp_port,
        "--stream-key",
        "sk_test",
        "--thumbnails-dir",
        dir.path(),
    ])?;
    let server = format!("rtmp://127.0.0.1:{rtmp_port}/live");
    anyhow::ensure!(
        studio.stdout.iter().any(|l| l.contains(&server)),
        "{:?}",
        studio.stdout
    );
    anyhow::ensure!(studio.stdout.iter().any(|l| l.contains("sk_test")));
    let ivs = studio.ivs().await;
    let before = ivs
        .put_metadata()
        .channel_arn(ARN)
        .metadata("{}")
        .send()
        .await;
    anyhow::ensure!(
        before
            .err()
            .and_then(|e| e.code().map(String::from))
            .as_deref()
            == Some("ChannelNotBroadcasting"),
        "no broadcaster yet"
    );
    // A broadcaster, as OBS would connect; ffmpeg may not be listening yet,
    // so a broadcaster refused at once is started again.
    let broadcast = |key: &str| {
        let mut cmd = Command::new("ffmpeg");
        cmd.args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x360:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "30",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-f",
            "flv",
        ])
        .arg(format!("{server}/{key}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        die_with_parent(&mut cmd).spawn().map(ChildGuard)
    };
    // ffmpeg's listener takes any stream key; the studio must not. A
    // broadcaster with the wrong key is cut off and nothing of it is listed.
    // Broadcasts with `key` (again, whenever the broadcaster is refused at
    // once) until `done`, within `within`.
    let broadcast_until = |key: &str, within: Duration, done: &dyn Fn() -> anyhow::Result<bool>| {
        let deadline = Instant::now() + within;
        let mut broadcaster = broadcast(key)?;
        while !done()? {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{key}: not there in {within:?}: {}",
                studio.stderr_text()
            );
            if broadcaster.0.try_wait()?.is_some() {
                std::thread::sleep(Duration::from_millis(300));
                broadcaster = broadcast(key)?;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(broadcaster)
    };
    let intruder = broadcast_until("sk_wrong", Duration::from_secs(20), &|| {
        Ok(studio
            .stderr_text()
            .contains("refused a broadcaster with the wrong stream key"))
    })?;
    std::thread::sleep(Duration::from_secs(3));
    anyhow::ensure!(
        studio.listed()?.is_empty(),
        "the wrong key's stream was listed"
    );
    drop(intruder);
    let _broadcaster = broadcast_until("sk_test", Duration::from_secs(30), &|| {
        Ok(!studio.listed()?.is_empty())
    })?;
    ivs.put_metadata()
        .channel_arn(ARN)
        .metadata("{}")
        .send()
        .await?;
    // The camera is private: a page elsewhere may not read it; a player
    // with no Origin (or the studio's own page) may.
    let r = get(
        studio.port,
        &studio.playlist_path,
        &[("Origin", "https://evil.example")],
    )?;
    anyhow::ensure!(
        r.status == 403,
        "the camera stream was served cross-origin: {}",
        r.status
    );
    let r = get(studio.port, &studio.playlist_path, &[])?;
    anyhow::ensure!(r.status == 200, "{}", r.status);
    Ok(())
}

fn main() {
    let mut args = Arguments::from_args();
    // The trials share one channel's rate window and two CPU cores.
    args.test_threads = Some(1);
    let trials = vec![
        trial(
            "accepted_cue_lands_in_a_valid_segment",
            accepted_cue_lands_in_a_valid_segment,
        ),
        trial(
            "oversized_cue_is_a_validation_error",
            oversized_cue_is_a_validation_error,
        ),
        trial(
            "sixth_call_in_a_second_is_throttled",
            sixth_call_in_a_second_is_throttled,
        ),
        trial(
            "unknown_and_malformed_channels_are_refused",
            unknown_and_malformed_channels_are_refused,
        ),
        trial(
            "get_and_list_channels_describe_the_studio_channel",
            get_and_list_channels_describe_the_studio_channel,
        ),
        trial(
            "only_its_own_pages_can_drive_the_studio",
            only_its_own_pages_can_drive_the_studio,
        ),
        trial(
            "playback_is_cross_origin_and_the_site_is_served",
            playback_is_cross_origin_and_the_site_is_served,
        ),
        trial(
            "thumbnails_follow_the_ivs_layout_on_disk_and_in_s3",
            thumbnails_follow_the_ivs_layout_on_disk_and_in_s3,
        ),
        trial("old_thumbnails_are_pruned", old_thumbnails_are_pruned),
        trial(
            "bad_input_exits_with_a_clear_message",
            bad_input_exits_with_a_clear_message,
        ),
        trial(
            "a_failed_ffmpeg_restart_does_not_end_the_studio",
            a_failed_ffmpeg_restart_does_not_end_the_studio,
        ),
        trial(
            "ffmpeg_dying_is_restarted_and_ctrl_c_leaves_no_process",
            ffmpeg_dying_is_restarted_and_ctrl_c_leaves_no_process,
        ),
        trial("a_file_plays_as_live", a_file_plays_as_live),
        trial(
            "local_chain_cues_the_demo_products_and_detect_custom_labels_answers",
            local_chain_cues_the_demo_products_and_detect_custom_labels_answers,
        ),
        trial("rtmp_broadcaster_goes_live", rtmp_broadcaster_goes_live),
    ];
    // Started here, on the main thread: PDEATHSIG is tied to the spawning
    // thread, and the shared studio must outlive every trial.
    let needs_env = !args.list;
    if needs_env {
        env();
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(env) = ENV.get() {
        let _ = std::fs::remove_dir_all(&env.thumbs.0);
        let _ = std::fs::remove_dir_all(&env.site.0);
    }
    conclusion.exit();
}
