//! The studio binary over the wire: its IVS API through the real
//! `aws-sdk-ivs` client, its HLS segments down to the TS packet (and through
//! ffprobe), its thumbnails on disk and in moto S3, and its behaviour on bad
//! input, ffmpeg dying and Ctrl-C.
//!
//! Each module is one subject and registers its own scenarios with
//! `scenarios!`; this file holds the studio process, the shared environment
//! (one demo studio and one moto) and the harness.

use aws_sdk_ivs::error::ProvideErrorMetadata;
use libtest_mimic::Arguments;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use studio::ts::{self, PACKET_SIZE};
use test_support::{die_with_parent, free_port, sdk_config, ChildGuard, Moto, TempDir};

#[path = "../support/mod.rs"]
mod support;
use support::{id3_values, pes_units, segment_dir, segment_numbers, segment_pmt};
use test_support::http::{get, request, Response};
use test_support::send_signal;

const STUDIO: &str = env!("CARGO_BIN_EXE_studio");
const ARN: &str = "arn:aws:ivs:us-east-1:123456789012:channel/LocalStudio1";

/// A running studio process.
struct Studio {
    child: ChildGuard,
    /// Its data folder: measurement, audit, catalog versions, recordings.
    data: TempDir,
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
        let data = TempDir::new(&format!("studio-data-{port}"))?;
        let mut all = vec!["--port", &port_s, "--data-dir", data.arg()];
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
            data,
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
    thumbs: TempDir,
    site: TempDir,
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let moto = Moto::start(free_port().expect("port")).expect("moto starts");
        let thumbs = TempDir::new("thumbs").expect("temp folder");
        let site = TempDir::new("site").expect("temp folder");
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
            thumbs.arg(),
            "--s3-endpoint",
            &moto.url,
            "--s3-bucket",
            "studio-thumbs",
            "--site",
            site.arg(),
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

/// Registers a scenario module's trials, named by their path
/// (`ivs_api::scenario`) as libtest names tests in modules. Each scenario is
/// an `async fn() -> anyhow::Result<()>` run on the shared runtime.
macro_rules! scenarios {
    ($($scenario:ident),+ $(,)?) => {
        pub(crate) fn trials() -> Vec<libtest_mimic::Trial> {
            let module = module_path!().split_once("::").map_or("", |(_, path)| path);
            vec![$(
                libtest_mimic::Trial::test(
                    format!("{module}::{}", stringify!($scenario)),
                    || {
                        crate::runtime()
                            .block_on($scenario())
                            .map_err(|e| libtest_mimic::Failed::from(format!("{e:#}")))
                    },
                )
            ),+]
        }
    };
}

mod guard;
mod ivs_api;
mod lifecycle;
mod local_chain;
mod sources;
mod thumbnails;

/// Lets the channel's PutMetadata rate window empty.
fn let_rate_window_pass() {
    std::thread::sleep(Duration::from_millis(1100));
}

// -------------------------------------------------------------------- trials

fn main() {
    let mut args = Arguments::from_args();
    // The trials share one channel's rate window and two CPU cores.
    args.test_threads = Some(1);
    // In this order: the shared studio's trials first, then those that
    // start studios of their own.
    let trials = [
        ivs_api::trials,
        guard::trials,
        thumbnails::trials,
        lifecycle::trials,
        local_chain::trials,
        sources::trials,
    ]
    .iter()
    .flat_map(|trials| trials())
    .collect();
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
