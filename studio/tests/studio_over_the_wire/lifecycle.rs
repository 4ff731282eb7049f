//! The process: bad input exits with a clear message, ffmpeg dying is
//! restarted (or a failed restart survived), and Ctrl-C leaves no process.

use super::*;

scenarios!(
    bad_input_exits_with_a_clear_message,
    a_failed_ffmpeg_restart_does_not_end_the_studio,
    ffmpeg_dying_is_restarted_and_ctrl_c_leaves_no_process,
);

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
    let dir = TempDir::new("bad")?;
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
    let dir = TempDir::new("respawn")?;
    let wrapper = dir.path().join("ffmpeg-wrapper");
    std::fs::write(&wrapper, "#!/bin/sh\nexec ffmpeg \"$@\"\n")?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    let wrapper_arg = wrapper.display().to_string();
    let mut studio = Studio::start(&[
        "--no-local-chain",
        "--ffmpeg",
        &wrapper_arg,
        "--thumbnails-dir",
        dir.arg(),
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
    let thumbs = TempDir::new("restart")?;
    let studio = Studio::start(&["--thumbnails-dir", thumbs.arg()])?;
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
        .metadata(r#"{"v":1,"show":[]}"#)
        .send()
        .await?;
    // Recorded once the segment it went into is finished (the open segment
    // of a stream that ends is dropped, with the frames it holds).
    let deadline = Instant::now() + Duration::from_secs(15);
    'listed: loop {
        for n in studio.listed()? {
            let seg = studio.get(&format!("{}/{n}.ts", segment_dir(&studio.playlist_path)))?;
            if id3_values(&seg.body)?
                .iter()
                .any(|v| v == r#"{"v":1,"show":[]}"#)
            {
                break 'listed;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the cue was never listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The first stream's recording was finished when ffmpeg died: a VOD
    // playlist in IVS's layout, listed at /recordings.json and served.
    let listed: serde_json::Value = serde_json::from_slice(&studio.get("/recordings.json")?.body)?;
    let first_recording = listed
        .as_array()
        .and_then(|l| l.first())
        .ok_or_else(|| anyhow::anyhow!("no finished recording listed: {listed}"))?;
    let playlist_path = first_recording["playlist"].as_str().unwrap_or_default();
    anyhow::ensure!(
        playlist_path.starts_with("/recordings/ivs/v1/123456789012/")
            && playlist_path.ends_with("/media/hls/master.m3u8"),
        "{first_recording}"
    );
    let vod = studio.get(&playlist_path.replace("master.m3u8", "source/playlist.m3u8"))?;
    let vod = String::from_utf8_lossy(&vod.body).to_string();
    anyhow::ensure!(
        vod.contains("#EXT-X-PLAYLIST-TYPE:VOD")
            && vod.ends_with("#EXT-X-ENDLIST\n")
            && vod.contains("#EXT-X-PROGRAM-DATE-TIME:"),
        "{vod}"
    );
    let segment = studio.get(&playlist_path.replace("master.m3u8", "source/0.ts"))?;
    anyhow::ensure!(
        segment.status == 200 && segment.body.first() == Some(&0x47),
        "the recorded segments are served"
    );

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
    // Ctrl-C finished the second recording too, with the cue put during it
    // in its sidecar at its time from the recording's start.
    let recordings = studio.data.path().join("recordings");
    let mut sidecars = Vec::new();
    let mut stack = vec![recordings.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else if entry.file_name() == "cues.json" {
                sidecars.push(serde_json::from_str::<serde_json::Value>(
                    &std::fs::read_to_string(entry.path())?,
                )?);
            }
        }
    }
    anyhow::ensure!(
        sidecars.len() == 2,
        "two streams, two recordings: {sidecars:?}"
    );
    let cued: Vec<&serde_json::Value> = sidecars
        .iter()
        .flat_map(|s| s["cues"].as_array().into_iter().flatten())
        .filter(|c| c["cue"] == r#"{"v":1,"show":[]}"#)
        .collect();
    anyhow::ensure!(cued.len() == 1, "the cue is in one recording: {sidecars:?}");
    let at = cued[0]["at"].as_f64().unwrap_or(-1.0);
    anyhow::ensure!(
        (0.0..120.0).contains(&at),
        "at its time from the recording's start: {at}"
    );
    anyhow::ensure!(
        process_gone(first) && process_gone(second),
        "ffmpeg left behind"
    );
    Ok(())
}
