//! Thumbnails as IVS writes them, on disk and in moto S3, and pruned.

use super::*;

scenarios!(
    thumbnails_follow_the_ivs_layout_on_disk_and_in_s3,
    old_thumbnails_are_pruned,
);

/// The folder keeps the newest `--keep-thumbnails` only.
async fn old_thumbnails_are_pruned() -> anyhow::Result<()> {
    let dir = TempDir::new("prune")?;
    let studio = Studio::start(&[
        "--no-local-chain",
        "--thumbnail-interval",
        "1",
        "--keep-thumbnails",
        "2",
        "--thumbnails-dir",
        dir.arg(),
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
    let on_disk = jpegs(dir.path());
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
