//! The local chain: the demo show's products cued end to end, and
//! DetectCustomLabels answering.

use super::*;

scenarios!(
    local_chain_cues_the_demo_products_and_detect_custom_labels_answers,
    the_operator_steers_the_local_chain_with_the_token,
    a_catalog_given_with_catalog_is_served_with_its_images,
);

/// `--catalog shop/catalog.json`: the site's players read it at
/// `/demo/catalog.json` and its images beside it, so its cards show; nothing
/// else in its folder is served.
async fn a_catalog_given_with_catalog_is_served_with_its_images() -> anyhow::Result<()> {
    let shop = TempDir::new("custom-catalog")?;
    let png = studio::demo::logo_png("kestrel").ok_or_else(|| anyhow::anyhow!("demo logo"))?;
    std::fs::create_dir_all(shop.path().join("img"))?;
    std::fs::write(shop.path().join("kestrel.png"), &png)?;
    std::fs::write(shop.path().join("img/card.png"), &png)?;
    std::fs::write(shop.path().join("notes.txt"), "private")?;
    let catalog = serde_json::json!({"products": [{
        "id": "trail", "labels": ["trail"], "title": "Trail Shoe", "price": "$99.00",
        "image_url": "img/card.png", "link_url": "https://shop.example/trail",
        "min_confidence": 70, "display_seconds": 20, "cooldown_seconds": 30,
        "reference_images": ["kestrel.png"]
    }]});
    let file = shop.path().join("catalog.json");
    std::fs::write(&file, catalog.to_string())?;
    let studio = Studio::start(&["--catalog", &file.display().to_string()])?;
    studio.wait_live(Duration::from_secs(30))?;
    let served = studio.get("/demo/catalog.json")?;
    anyhow::ensure!(
        served.status == 200 && served.text().contains("\"trail\""),
        "the catalog in effect: {} {}",
        served.status,
        served.text()
    );
    let image = studio.get("/demo/img/card.png")?;
    anyhow::ensure!(
        image.status == 200 && image.body == png,
        "its card image: {}",
        image.status
    );
    anyhow::ensure!(
        image.headers.get("content-type").map(String::as_str) == Some("image/png"),
        "{:?}",
        image.headers
    );
    for refused in [
        "/demo/notes.txt",
        "/demo/../catalog.json",
        "/demo/img/../../notes.txt",
    ] {
        let r = studio.get(refused)?;
        anyhow::ensure!(r.status == 404, "{refused}: {} {}", r.status, r.text());
    }
    Ok(())
}

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
    let thumbs = TempDir::new("chain")?;
    let studio = Studio::start(&[
        "--thumbnail-interval",
        "1",
        "--thumbnails-dir",
        thumbs.arg(),
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

/// The operator's routes over the local chain: with the studio's token and
/// from its own origin only; a pause holds the chain's cards, a pin puts
/// one in the stream on the studio's clock, an unpin takes it off.
async fn the_operator_steers_the_local_chain_with_the_token() -> anyhow::Result<()> {
    let thumbs = TempDir::new("operator")?;
    let studio = Studio::start(&[
        "--thumbnail-interval",
        "1",
        "--thumbnails-dir",
        thumbs.arg(),
    ])?;
    studio.wait_live(Duration::from_secs(30))?;
    let token = studio
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("operator: POST "))
        .and_then(|l| l.rsplit("Bearer ").next())
        .ok_or_else(|| anyhow::anyhow!("no operator line on stdout: {:?}", studio.stdout))?
        .to_string();
    let bearer = format!("Bearer {token}");
    let act = |action: &str, body: &str, headers: &[(&str, &str)]| {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        request(
            studio.port,
            "POST",
            &format!("/operator/{action}"),
            &all,
            body.as_bytes(),
        )
    };
    let body = |extra: &str| format!(r#"{{"channel":"{ARN}"{extra}}}"#);

    // Without the token, or from another origin: refused, nothing changes.
    let r = act("pause", &body(""), &[])?;
    anyhow::ensure!(r.status == 401, "no token: {} {}", r.status, r.text());
    let r = act(
        "pause",
        &body(""),
        &[
            ("Authorization", &bearer),
            ("Origin", "https://evil.example"),
        ],
    )?;
    anyhow::ensure!(r.status == 403, "foreign origin: {} {}", r.status, r.text());
    let r = act("state", &body(""), &[("Authorization", &bearer)])?;
    let state: serde_json::Value = serde_json::from_slice(&r.body)?;
    anyhow::ensure!(state["paused"] == false, "{state}");

    let r = act(
        "pause",
        &body(r#","seconds":600"#),
        &[("Authorization", &bearer)],
    )?;
    anyhow::ensure!(r.status == 200, "pause: {} {}", r.status, r.text());
    let paused: serde_json::Value = serde_json::from_slice(&r.body)?;
    let paused_at = paused["at"].as_u64().unwrap_or(u64::MAX);
    let r = act(
        "pin",
        &body(r#","product":"lumen","seconds":30"#),
        &[("Authorization", &bearer)],
    )?;
    anyhow::ensure!(r.status == 200, "pin: {} {}", r.status, r.text());
    let pinned: serde_json::Value = serde_json::from_slice(&r.body)?;
    anyhow::ensure!(
        pinned["published"]
            .as_str()
            .is_some_and(|c| c.contains(r#""id":"lumen","left":30"#)),
        "{pinned}"
    );
    // The pin reaches the stream as a timed-ID3 cue.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = HashSet::new();
    let mut in_stream = false;
    while !in_stream && Instant::now() < deadline {
        for n in studio.listed()? {
            if seen.insert(n) {
                let seg = studio.get(&format!("{}/{n}.ts", segment_dir(&studio.playlist_path)))?;
                in_stream |= id3_values(&seg.body)?
                    .iter()
                    .any(|v| v.contains(r#""id":"lumen""#));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::ensure!(in_stream, "no lumen cue in the stream within 15 s");
    let r = act(
        "unpin",
        &body(r#","product":"lumen""#),
        &[("Authorization", &bearer)],
    )?;
    let unpinned: serde_json::Value = serde_json::from_slice(&r.body)?;
    anyhow::ensure!(
        r.status == 200
            && unpinned["published"]
                .as_str()
                .is_some_and(|c| !c.contains("lumen")),
        "{unpinned}"
    );
    // A bad body is named, field and fix.
    let r = act("pin", &body(""), &[("Authorization", &bearer)])?;
    anyhow::ensure!(
        r.status == 400 && r.text().contains("`product` is missing"),
        "{} {}",
        r.status,
        r.text()
    );
    // While paused, the chain's own sightings (kestrel is on screen) showed
    // nothing: what shows after the pause is the operator's pin alone.
    std::thread::sleep(Duration::from_secs(3));
    let r = act("state", &body(""), &[("Authorization", &bearer)])?;
    let state: serde_json::Value = serde_json::from_slice(&r.body)?;
    anyhow::ensure!(state["paused"] == true, "{state}");
    let shown_since: Vec<&String> = state["products"]
        .as_object()
        .map(|products| {
            products
                .iter()
                .filter(|(id, p)| *id != "lumen" && p["shown_at"].as_u64() >= Some(paused_at))
                .map(|(id, _)| id)
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(
        shown_since.is_empty(),
        "shown while paused: {shown_since:?}; {state}"
    );
    Ok(())
}
