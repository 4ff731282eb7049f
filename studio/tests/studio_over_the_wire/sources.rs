//! Other sources than the demo: a file played as live, an RTMP broadcaster.

use super::*;

scenarios!(a_file_plays_as_live, rtmp_broadcaster_goes_live,);

async fn a_file_plays_as_live() -> anyhow::Result<()> {
    let dir = TempDir::new("file")?;
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
        dir.arg(),
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
    let dir = TempDir::new("rtmp")?;
    let rtmp_port = free_port()?.to_string();
    let studio = Studio::start(&[
        "--input",
        "rtmp",
        "--rtmp-port",
        &rtmp_port,
        "--stream-key",
        "sk_test",
        "--thumbnails-dir",
        dir.arg(),
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
