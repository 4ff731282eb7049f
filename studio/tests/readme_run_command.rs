//! The README's first command, run as written: `./scripts/run.sh`, given
//! free ports (`--port`, `--rtmp-port`) and a thumbnails folder of its own.
//! It checks what it needs (nothing is missing once the test command has set
//! the machine up), builds the player and the studio (release) and starts
//! the demo show. The page must be served and the show's first automatic
//! cue (kestrel, found by the built-in detector in a thumbnail) must reach
//! the stream. Then Ctrl-C, as a terminal sends it to the whole foreground
//! group: the script exits 0 and leaves no process running.
//!
//! Every other `./scripts/run.sh` line of README.md and docs/*.md gets the
//! same run: the page served, the stream live (or, for `--input rtmp`, the
//! RTMP port listening for OBS), then Ctrl-C and nothing left. `show.mp4`
//! stands for a clip made here, the moto URL for a moto server started here.

use anyhow::{bail, ensure, Context as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_support::{free_port, Moto, TempDir};

mod support;
use support::{id3_values, segment_dir, segment_numbers};
use test_support::http::get;
use test_support::send_signal;

/// A first run builds the player and a release studio from scratch.
const BUILD_AND_START: Duration = Duration::from_secs(40 * 60);
/// The demo shows kestrel from 3 s; thumbnails come every 5 s.
const FIRST_CUE: Duration = Duration::from_secs(60);
const STOP: Duration = Duration::from_secs(30);

/// The script's whole process group (it, cargo, the studio, ffmpeg): killed
/// if the test fails half-way.
struct RunScript {
    child: Child,
    log: std::path::PathBuf,
    rtmp_port: u16,
}

impl RunScript {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn signal_group(&self, signal: i32) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            send_signal(-pid, signal);
        }
    }
}

impl Drop for RunScript {
    fn drop(&mut self) {
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Processes whose environment carries `marker` (it is inherited by every
/// descendant, whatever process group it moves to).
fn processes_with(marker: &str) -> Vec<String> {
    let needle = marker.as_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == needle))
        })
        .map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            format!("{} {}", e.file_name().to_string_lossy(), cmd.trim())
        })
        .collect()
}

/// The playlist's segment numbers, or none before the stream is live.
fn listed(port: u16, playlist: &str) -> Vec<u64> {
    match get(port, playlist, &[]) {
        Ok(r) if r.status == 200 => segment_numbers(&r.body),
        _ => vec![],
    }
}

/// Every `./scripts/run.sh` line in a shell block of README.md and
/// docs/*.md: (where, its arguments), the README's first.
fn documented_run_commands(root: &Path) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let mut in_shell = false;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if let Some(lang) = trimmed.strip_prefix("```") {
                in_shell = !in_shell && matches!(lang.trim(), "sh" | "bash" | "shell");
                continue;
            }
            let command = trimmed.split('#').next().unwrap_or("").trim();
            if in_shell {
                if let Some(args) = command.strip_prefix("./scripts/run.sh") {
                    let name = file
                        .file_name()
                        .map(|f| f.to_string_lossy().to_string())
                        .unwrap_or_default();
                    let args: Vec<String> = args.split_whitespace().map(str::to_string).collect();
                    // The same command shown twice is run once.
                    if !found
                        .iter()
                        .any(|(_, seen): &(String, Vec<String>)| *seen == args)
                    {
                        found.push((format!("{name}:{}", n + 1), args));
                    }
                }
            }
        }
    }
    Ok(found)
}

/// Starts `./scripts/run.sh ARGS` as a terminal's foreground job would.
fn start_run_script(
    root: &Path,
    args: &[String],
    work: &Path,
    port: u16,
    marker: &str,
) -> anyhow::Result<RunScript> {
    let rtmp_port = free_port()?;
    let log = work.join("run.log");
    let (marker_key, marker_value) = marker.split_once('=').context("marker")?;
    let mut cmd = Command::new(root.join("scripts/run.sh"));
    cmd.current_dir(root)
        .args(args)
        .args([
            "--port",
            &port.to_string(),
            "--rtmp-port",
            &rtmp_port.to_string(),
        ])
        .args([
            "--thumbnails-dir",
            &work.join("thumbnails").to_string_lossy(),
        ])
        .env(marker_key, marker_value)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::OpenOptions::new().append(true).open(&log)?)
        // Its own process group, as a terminal's foreground job.
        .process_group(0);
    // As a user's shell would run it: none of the variables cargo gives this
    // test (they would steer the script's own cargo).
    for (key, _) in std::env::vars_os() {
        let steers_cargo = |k: &str| {
            (k.starts_with("CARGO_") && k != "CARGO_HOME")
                || k == "RUSTC_WORKSPACE_WRAPPER"
                || k == "CLIPPY_ARGS"
        };
        if key.to_str().is_some_and(steers_cargo) {
            cmd.env_remove(key);
        }
    }
    let child = cmd.spawn().context("starting ./scripts/run.sh")?;
    Ok(RunScript {
        child,
        log,
        rtmp_port,
    })
}

impl RunScript {
    /// Waits for the page, once the player and the studio are built and started.
    fn wait_for_page(&mut self, port: u16, within: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "./scripts/run.sh exited ({status}) before serving the page:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(r) = get(port, "/", &[]) {
                if r.status == 200 {
                    return Ok(String::from_utf8_lossy(&r.body).to_string());
                }
            }
            ensure!(
                Instant::now() < deadline,
                "no page within {within:?}:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The playback URL's path, as the studio printed it.
    fn playlist(&self, port: u16) -> anyhow::Result<String> {
        let prefix = format!("http://127.0.0.1:{port}");
        std::fs::read_to_string(&self.log)?
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(&prefix)
                    .filter(|p| p.ends_with(".m3u8"))
                    .map(str::to_string)
            })
            .with_context(|| format!("no playback URL printed:\n{}", self.log_tail()))
    }

    /// Ctrl-C: the script exits 0 and no process it started is left.
    fn stop_and_check_nothing_left(mut self, marker: &str) -> anyhow::Result<()> {
        self.signal_group(libc::SIGINT);
        let deadline = Instant::now() + STOP;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            ensure!(
                Instant::now() < deadline,
                "./scripts/run.sh still running {STOP:?} after Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = processes_with(marker);
            if left.is_empty() {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "still running after Ctrl-C: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The studio exits 0 on SIGINT; `exec` makes its status the script's.
        ensure!(
            status.success(),
            "Ctrl-C ends the run cleanly, got {status}:\n{}",
            self.log_tail()
        );
        Ok(())
    }
}

/// The first segment with a TXXX value containing `needle`, within `within`.
fn wait_for_cue(
    port: u16,
    playlist: &str,
    needle: &str,
    within: Duration,
) -> anyhow::Result<Option<String>> {
    let deadline = Instant::now() + within;
    let mut seen = std::collections::HashSet::new();
    while Instant::now() < deadline {
        for n in listed(port, playlist) {
            if seen.insert(n) {
                let seg = get(port, &format!("{}/{n}.ts", segment_dir(playlist)), &[])?;
                if let Some(cue) = id3_values(&seg.body)?
                    .into_iter()
                    .find(|v| v.contains(needle))
                {
                    return Ok(Some(cue));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(None)
}

/// One documented command, run and stopped; what it must do while it runs
/// depends on its input.
fn check_run_command(
    root: &Path,
    n: usize,
    args: &[String],
    moto: &mut Option<Moto>,
) -> anyhow::Result<()> {
    let work = TempDir::new(&format!("run-command-{n}"))?;
    let mut args = args.to_vec();
    for arg in &mut args {
        if arg == "show.mp4" {
            let clip = work.path().join("show.mp4");
            let made = Command::new("ffmpeg")
                .args([
                    "-loglevel",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc=size=640x360:rate=30",
                    "-t",
                    "4",
                ])
                .args(["-pix_fmt", "yuv420p", "-g", "30"])
                .arg(&clip)
                .status()?;
            ensure!(made.success(), "ffmpeg could not make the test clip");
            *arg = clip.to_string_lossy().to_string();
        } else if arg.starts_with("http://127.0.0.1:") {
            if moto.is_none() {
                *moto = Some(Moto::start(free_port()?)?);
            }
            *arg = moto.as_ref().map(|m| m.url.clone()).unwrap_or_default();
        }
    }
    let port = free_port()?;
    let marker = format!("IVS_ADS_RUN_COMMAND_TEST={}-{n}-{port}", std::process::id());
    let mut run = start_run_script(root, &args, work.path(), port, &marker)?;
    let page = run.wait_for_page(port, BUILD_AND_START)?;
    ensure!(
        page.contains("ivs-ad-player"),
        "the page embeds the player: {page}"
    );
    let rtmp = args.windows(2).any(|w| w[0] == "--input" && w[1] == "rtmp");
    if rtmp {
        // No stream until OBS connects: the RTMP server must be listening.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", run.rtmp_port)).is_err() {
            ensure!(
                Instant::now() < deadline,
                "RTMP port {} not listening:\n{}",
                run.rtmp_port,
                run.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    } else if args.is_empty() {
        // The demo show: its first automatic cue reaches the stream.
        let playlist = run.playlist(port)?;
        let cue = wait_for_cue(port, &playlist, r#""show":[{"id":"kestrel""#, FIRST_CUE)?
            .with_context(|| {
                format!(
                    "no automatic kestrel cue in the stream within {FIRST_CUE:?}:\n{}",
                    run.log_tail()
                )
            })?;
        ensure!(
            cue.starts_with(r#"{"v":1,"#),
            "the cue is the compact format: {cue}"
        );
        // It prints the operator's console, with its token, and serves it.
        let console = format!("console: http://127.0.0.1:{port}/console/#token=");
        ensure!(
            std::fs::read_to_string(&run.log)?
                .lines()
                .any(|l| l.starts_with(&console)),
            "no console address printed:\n{}",
            run.log_tail()
        );
        let page = get(port, "/console/", &[])?;
        ensure!(
            page.status == 200 && page.text().contains("Operator console"),
            "the console page is served: {}",
            page.status
        );
    } else {
        let playlist = run.playlist(port)?;
        let deadline = Instant::now() + FIRST_CUE;
        while listed(port, &playlist).is_empty() {
            ensure!(
                Instant::now() < deadline,
                "the stream is not live within {FIRST_CUE:?}:\n{}",
                run.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    run.stop_and_check_nothing_left(&marker)
}

#[test]
fn every_documented_run_command_serves_streams_and_stops_clean() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let commands = documented_run_commands(&root)?;
    ensure!(
        commands
            .first()
            .is_some_and(|(at, args)| at.starts_with("README.md") && args.is_empty()),
        "the README's first command is ./scripts/run.sh: {commands:?}"
    );
    // One at a time (the first builds everything), the README's first.
    let mut moto = None;
    let mut failures = Vec::new();
    for (n, (at, args)) in commands.iter().enumerate() {
        if let Err(e) = check_run_command(&root, n, args, &mut moto) {
            failures.push(format!("{at}: ./scripts/run.sh {}: {e:#}", args.join(" ")));
            if n == 0 {
                break; // nothing else can run if the first did not
            }
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n\n"));
    Ok(())
}
