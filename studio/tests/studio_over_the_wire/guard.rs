//! Only the studio's own pages may drive it; playback is cross-origin and
//! the player's site is served.

use super::*;

scenarios!(
    only_its_own_pages_can_drive_the_studio,
    playback_is_cross_origin_and_the_site_is_served,
);

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
