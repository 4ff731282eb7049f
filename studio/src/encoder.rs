//! ffmpeg, supervised: it decodes the input (the demo show's frames, a file
//! played as live, or an RTMP broadcaster), encodes H.264 + AAC and writes one
//! continuous MPEG-TS stream to a pipe, which the segmenter cuts. The studio
//! restarts it when it dies, kills and reaps it on shutdown, and stops with a
//! clear message when the very first run cannot stream the input.

use crate::channel::Channel;
use crate::demo;
use crate::error::StudioError;
use crate::ts::{PACKET_SIZE, SYNC_BYTE};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The studio's own show.
    Demo,
    /// A video file, looped and played at its own pace, as live.
    File(PathBuf),
    /// ffmpeg listens for one RTMP broadcaster at a time.
    Rtmp { port: u16, stream_key: String },
}

/// Seconds between forced keyframes: one per segment.
const KEYFRAME_SECS: u32 = 2;
/// A first run that ends this quickly without a segment means the input
/// cannot be streamed (a bad file, a busy RTMP port).
const FIRST_RUN_GRACE: Duration = Duration::from_secs(15);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub fn ffmpeg_args(input: &Input) -> Vec<String> {
    // The RTMP listener logs a wrong stream key only as a warning (and then
    // takes the stream anyway): the supervisor must see it to refuse it.
    let level = match input {
        Input::Rtmp { .. } => "warning",
        _ => "error",
    };
    let mut a: Vec<String> = ["-hide_banner", "-nostats", "-loglevel", level]
        .map(String::from)
        .to_vec();
    let fit_720p = "scale=-2:'min(720,ih)'";
    match input {
        Input::Demo => {
            let size = format!("{}x{}", demo::WIDTH, demo::HEIGHT);
            a.extend(
                [
                    "-f",
                    "rawvideo",
                    "-pix_fmt",
                    "rgb24",
                    "-video_size",
                    &size,
                    "-framerate",
                    &demo::FPS.to_string(),
                    "-i",
                    "pipe:0",
                    "-re",
                    "-f",
                    "lavfi",
                    "-i",
                    "anullsrc=channel_layout=stereo:sample_rate=48000",
                    "-map",
                    "0:v:0",
                    "-map",
                    "1:a:0",
                ]
                .map(String::from),
            );
        }
        Input::File(path) => {
            a.extend(["-nostdin", "-re", "-stream_loop", "-1", "-i"].map(String::from));
            a.push(path.to_string_lossy().into_owned());
            a.extend(["-map", "0:v:0", "-map", "0:a:0?", "-vf", fit_720p].map(String::from));
        }
        Input::Rtmp { port, stream_key } => {
            a.extend(["-nostdin", "-listen", "1", "-i"].map(String::from));
            a.push(format!("rtmp://127.0.0.1:{port}/live/{stream_key}"));
            a.extend(["-map", "0:v:0", "-map", "0:a:0?", "-vf", fit_720p].map(String::from));
        }
    }
    let keyframes = format!("expr:gte(t,n_forced*{KEYFRAME_SECS})");
    a.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-force_key_frames",
            &keyframes,
            "-sc_threshold",
            "0",
            "-b:v",
            "2500k",
            "-maxrate",
            "2500k",
            "-bufsize",
            "5000k",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-f",
            "mpegts",
            "-muxdelay",
            "0",
            "-muxpreload",
            "0",
            "-flush_packets",
            "1",
            "pipe:1",
        ]
        .map(String::from),
    );
    a
}

/// Checks that ffmpeg runs; returns its version line.
pub fn check_ffmpeg(program: &std::path::Path) -> Result<String, StudioError> {
    match Command::new(program).arg("-version").stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("ffmpeg")
            .to_string()),
        Ok(out) => Err(format!(
            "{} -version failed ({}): install ffmpeg (apt-get install ffmpeg) or pass --ffmpeg PATH",
            program.display(),
            out.status
        )
        .into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "ffmpeg not found ({}): install it (apt-get install ffmpeg, or run ./scripts/run.sh, which does) or pass --ffmpeg PATH",
            program.display()
        )
        .into()),
        Err(e) => Err(StudioError::failed(format!("cannot run {}", program.display()), e)),
    }
}

/// The running supervisor; [`Supervisor::stop`] ends ffmpeg and reaps it.
pub struct Supervisor {
    stopping: Arc<AtomicBool>,
    pid: Arc<AtomicI32>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    /// Starts ffmpeg and keeps it running. `on_fatal` is called (once, from
    /// the supervisor thread) when the input cannot be streamed at all.
    pub fn start(
        program: PathBuf,
        input: Input,
        channel: Arc<Channel>,
        on_fatal: impl FnOnce(String) + Send + 'static,
    ) -> Self {
        let stopping = Arc::new(AtomicBool::new(false));
        let pid = Arc::new(AtomicI32::new(0));
        let run = Run {
            program,
            input,
            channel,
            stopping: stopping.clone(),
            pid: pid.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("ffmpeg-supervisor".into())
            .spawn(move || {
                if let Err(e) = run.supervise() {
                    on_fatal(e.report());
                }
            })
            .ok();
        Self {
            stopping,
            pid,
            thread,
        }
    }

    /// Stops ffmpeg (SIGTERM to its process group, SIGKILL after 3 s) and
    /// waits until it is reaped.
    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        signal_group(self.pid.load(Ordering::SeqCst), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        if let Some(thread) = self.thread.take() {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if !thread.is_finished() {
                signal_group(self.pid.load(Ordering::SeqCst), libc::SIGKILL);
            }
            let _ = thread.join();
        }
    }
}

#[allow(unsafe_code)]
fn signal_group(pid: i32, signal: i32) {
    if pid > 0 {
        // SAFETY: kill(2) with a negative pid signals that process group;
        // ffmpeg leads its own group (setpgid in pre_exec).
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

struct Run {
    program: PathBuf,
    input: Input,
    channel: Arc<Channel>,
    stopping: Arc<AtomicBool>,
    pid: Arc<AtomicI32>,
}

impl Run {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    #[allow(unsafe_code)]
    fn spawn(&self) -> Result<Child, StudioError> {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(&self.program);
        cmd.args(ffmpeg_args(&self.input))
            .stdin(if self.input == Input::Demo {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: setpgid and prctl are async-signal-safe. Its own process
        // group keeps a terminal's Ctrl-C for the studio, which then stops
        // ffmpeg itself; PDEATHSIG takes ffmpeg down if the studio is killed.
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "ffmpeg not found ({}): install it (apt-get install ffmpeg) or pass --ffmpeg PATH",
                    self.program.display()
                )
                .into()
            } else {
                StudioError::failed(format!("cannot start {}", self.program.display()), e)
            }
        })
    }

    fn supervise(&self) -> Result<(), StudioError> {
        let show_started = Instant::now();
        if matches!(self.input, Input::Demo) {
            self.channel.set_show_started(show_started);
        }
        let mut backoff = Duration::from_secs(1);
        let mut first_run = true;
        while !self.stopping() {
            let started = Instant::now();
            let mut child = match self.spawn() {
                Ok(child) => child,
                // At start-up a missing ffmpeg is the operator's to fix now.
                Err(e) if first_run => return Err(e),
                // Later (ffmpeg upgraded under us, a full process table) the
                // studio stays up and keeps trying: the page, the API and
                // the chain still serve, and the stream comes back.
                Err(e) => {
                    tracing::error!(error = %e.report(), retry_in_secs = backoff.as_secs(), "ffmpeg could not be started again; retrying");
                    self.pause(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let pid = child.id() as i32;
            self.pid.store(pid, Ordering::SeqCst);
            tracing::info!(pid, input = ?self.input, "ffmpeg started");
            let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
            let refused = Arc::new(AtomicBool::new(false));
            let on_line = {
                let refused = refused.clone();
                let enforce_key = matches!(self.input, Input::Rtmp { .. });
                move |line: &str| {
                    if enforce_key && is_wrong_stream_key(line) {
                        // ffmpeg's listener accepts any publish name; the
                        // studio does not. The partial segment is dropped
                        // with the process (no segment is listed: the
                        // warning comes at the handshake, before media).
                        refused.store(true, Ordering::SeqCst);
                        tracing::warn!(ffmpeg = %line, "refused a broadcaster with the wrong stream key");
                        signal_group(pid, libc::SIGKILL);
                    }
                }
            };
            let stderr_thread = child
                .stderr
                .take()
                .map(|e| collect_stderr(e, stderr_tail.clone(), on_line));
            let writer = child.stdin.take().map(|stdin| {
                let stopping = self.stopping.clone();
                std::thread::spawn(move || feed_demo(stdin, show_started, &stopping))
            });
            let segments = match child.stdout.take() {
                Some(out) => self.pump(out, &refused),
                None => 0,
            };
            let status = child.wait();
            self.pid.store(0, Ordering::SeqCst);
            self.channel.end_stream();
            if let Some(w) = writer {
                let _ = w.join();
            }
            if let Some(t) = stderr_thread {
                let _ = t.join();
            }
            if self.stopping() {
                break;
            }
            let tail = stderr_tail
                .lock()
                .map(|t| t.iter().cloned().collect::<Vec<_>>().join(" | "))
                .unwrap_or_default();
            let status = status.map_or_else(|e| e.to_string(), |s: ExitStatus| s.to_string());
            // An RTMP listener ends whenever a broadcaster disconnects (or a
            // port scanner knocks): always worth restarting. Its port was
            // checked free at start-up.
            let listener = matches!(self.input, Input::Rtmp { .. });
            if first_run && !listener && segments == 0 && started.elapsed() < FIRST_RUN_GRACE {
                return Err(format!(
                    "ffmpeg could not stream {} ({status}): {}",
                    describe(&self.input),
                    if tail.is_empty() { "no message" } else { &tail }
                )
                .into());
            }
            first_run = false;
            if started.elapsed() > Duration::from_secs(30) {
                backoff = Duration::from_secs(1);
            }
            tracing::warn!(%status, stderr = %tail, retry_in_secs = backoff.as_secs(), "ffmpeg exited; restarting");
            self.pause(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        Ok(())
    }

    /// Waits `how_long`, or less when the studio is stopping.
    fn pause(&self, how_long: Duration) {
        let until = Instant::now() + how_long;
        while Instant::now() < until && !self.stopping() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Reads ffmpeg's TS packets into the channel until the pipe closes;
    /// returns how many segments were published.
    fn pump(&self, out: impl Read, refused: &AtomicBool) -> usize {
        let mut reader = BufReader::with_capacity(64 * 1024, out);
        let mut packet = [0u8; PACKET_SIZE];
        let mut segments = 0;
        let mut warned = false;
        loop {
            if reader.read_exact(&mut packet[..1]).is_err() {
                break;
            }
            if packet[0] != SYNC_BYTE {
                // Lost sync: skip bytes until the next sync byte.
                continue;
            }
            if reader.read_exact(&mut packet[1..]).is_err() {
                break;
            }
            let finished = {
                let mut media = self.channel.media();
                media.segmenter.push_packet(&packet)
            };
            if refused.load(Ordering::SeqCst) {
                // A broadcaster with the wrong key: nothing of theirs is listed.
                break;
            }
            match finished {
                Ok(Some(segment)) => {
                    self.channel.publish_segment(segment, SystemTime::now());
                    segments += 1;
                }
                Ok(None) => {}
                Err(e) if !warned => {
                    tracing::warn!(error = %e, "skipping a bad TS packet from ffmpeg");
                    warned = true;
                }
                Err(_) => {}
            }
        }
        segments
    }
}

fn describe(input: &Input) -> String {
    match input {
        Input::Demo => "the demo show".into(),
        Input::File(p) => format!("the file {}", p.display()),
        Input::Rtmp { port, .. } => format!("RTMP on 127.0.0.1:{port}"),
    }
}

/// ffmpeg's RTMP listener's line for a publish name other than the one it
/// listens for: `[rtmp @ 0x..] Unexpected stream sk_x, expecting sk_y`.
fn is_wrong_stream_key(line: &str) -> bool {
    line.contains("Unexpected stream") && line.contains("expecting")
}

fn collect_stderr(
    stderr: impl Read + Send + 'static,
    tail: Arc<Mutex<VecDeque<String>>>,
    on_line: impl Fn(&str) + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let line = line.trim().to_string();
            if line.is_empty() {
                continue;
            }
            on_line(&line);
            tracing::debug!(ffmpeg = %line);
            if let Ok(mut t) = tail.lock() {
                if t.len() == 8 {
                    t.pop_front();
                }
                t.push_back(line);
            }
        }
    })
}

/// Renders the demo show into ffmpeg's stdin at its frame rate, in real
/// time. Show time runs on across ffmpeg restarts.
fn feed_demo(mut stdin: impl Write, show_started: Instant, stopping: &AtomicBool) {
    let mut show = demo::Show::new();
    let frame_time = Duration::from_secs(1) / demo::FPS;
    let mut next = Instant::now();
    while !stopping.load(Ordering::SeqCst) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_secs(1) {
            // Starved of CPU: drop the backlog rather than run fast forever.
            next = now;
        }
        let show_secs = show_started.elapsed().as_secs_f64();
        if stdin
            .write_all(show.render(show_secs, SystemTime::now()))
            .is_err()
        {
            break;
        }
        next += frame_time;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wrong_stream_key_is_recognised_in_ffmpeg_s_log() {
        assert!(is_wrong_stream_key(
            "[rtmp @ 0x55ecf148b180] Unexpected stream sk_WRONG, expecting sk_right"
        ));
        assert!(!is_wrong_stream_key(
            "[rtmp @ 0x5] Unexpected end of stream"
        ));
        // The listener must log warnings for the supervisor to see it.
        let args = ffmpeg_args(&Input::Rtmp {
            port: 1935,
            stream_key: "k".into(),
        });
        assert!(
            args.windows(2).any(|w| w == ["-loglevel", "warning"]),
            "{args:?}"
        );
    }

    use super::*;

    #[test]
    fn every_input_ends_in_one_ts_stream_on_stdout_with_forced_keyframes() {
        for input in [
            Input::Demo,
            Input::File("/tmp/a b.mp4".into()),
            Input::Rtmp {
                port: 1935,
                stream_key: "k".into(),
            },
        ] {
            let a = ffmpeg_args(&input);
            assert_eq!(a.last().map(String::as_str), Some("pipe:1"));
            let i = a.iter().position(|x| x == "-force_key_frames").unwrap();
            assert_eq!(a[i + 1], "expr:gte(t,n_forced*2)");
            assert!(a.windows(2).any(|w| w == ["-f", "mpegts"]));
            assert_eq!(
                a.iter().filter(|x| *x == "-nostdin").count(),
                usize::from(input != Input::Demo)
            );
        }
        assert!(
            ffmpeg_args(&Input::File("/tmp/a b.mp4".into())).contains(&"/tmp/a b.mp4".to_string())
        );
        assert!(ffmpeg_args(&Input::Rtmp {
            port: 1935,
            stream_key: "k".into()
        })
        .contains(&"rtmp://127.0.0.1:1935/live/k".to_string()));
    }

    #[test]
    fn a_missing_ffmpeg_is_named_with_the_fix() {
        let e = check_ffmpeg(std::path::Path::new("/nonexistent/ffmpeg"))
            .unwrap_err()
            .report();
        assert!(
            e.contains("apt-get install ffmpeg") && e.contains("--ffmpeg"),
            "{e}"
        );
    }
}
