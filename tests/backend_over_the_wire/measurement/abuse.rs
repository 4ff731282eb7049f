//! Forged and replayed traffic counts exactly as the rules say.

use super::*;

scenarios!(forged_and_replayed_traffic_counts_as_the_rules_say,);

/// Every cheap way to inflate the counts, through the collector as deployed
/// behind CloudFront (the origin secret read from Secrets Manager), the
/// stream and the aggregator; each changes the counts exactly as the rules
/// say, and the numbers are stated here.
async fn forged_and_replayed_traffic_counts_as_the_rules_say(env: Arc<Env>) -> Result<(), Failed> {
    use ad_contract::measure::{
        EventKind::{Impression, Viewable},
        LinkKind,
    };
    use backend::collector::handle;
    // It drains the shared measurement stream: not while the load test's
    // records wait there for its own aggregator (its figures come from the
    // calls that aggregator makes; it holds the lock for writing).
    let _quiet = WALL_CLOCK.read().await;
    let _stream = SHARED_STREAM.lock().await;
    let (key_arn, origin_arn) = stack_secrets(&env).await?;
    let settings = backend::secrets::resolve(
        &secrets_client(&env, "collector").await,
        [
            ("MEASUREMENT_KEY_SECRET_ARN".to_string(), key_arn),
            ("ORIGIN_VERIFY_SECRET_ARN".to_string(), origin_arn),
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut service = collector(&env).await?;
    service.origin_secret = settings.get("ORIGIN_VERIFY").cloned();
    let show_ms = T0 * 1000 + 321;
    let show = show_ref("forgery", "mug", show_ms);
    let link = |kind| signer().link(kind, &show.channel, &show.product, show.show);
    // Through CloudFront: its edge's address, the viewer's in a header.
    let via_cloudfront =
        |method: &str, path: String, viewer: &str| backend::collector::HttpRequest {
            method: method.into(),
            path,
            user_agent: CHROME.into(),
            source_ip: "130.176.0.1".into(),
            viewer_address: Some(viewer.into()),
            origin_verify: Some(ORIGIN_SECRET.into()),
            ..Default::default()
        };
    let status = |r: backend::collector::HttpResponse| r.status;

    // 1. A link in a loop with a changing `?v=` (and source port): 1 scan.
    let scan = format!("/r/{}", link(LinkKind::Scan).token());
    for i in 0..100 {
        let mut request = via_cloudfront(
            "GET",
            scan.clone(),
            &format!("198.51.100.20:{}", 40_000 + i),
        );
        request.query = format!("v=loop{i}");
        assert_eq!(status(handle(&service, &request).await), 302);
    }
    // 2. Two phones behind the same edge, in the same second: 2 scans.
    for phone in ["203.0.113.5:51000", "2001:db8::7:51000"] {
        assert_eq!(
            status(handle(&service, &via_cloudfront("GET", scan.clone(), phone)).await),
            302
        );
    }
    // 3. A HEAD, and a prefetch: answered, 0 counted.
    assert_eq!(
        status(
            handle(
                &service,
                &via_cloudfront("HEAD", scan.clone(), "198.51.100.30:1")
            )
            .await
        ),
        302
    );
    let mut prefetch = via_cloudfront("GET", scan.clone(), "198.51.100.31:1");
    prefetch.purpose = Some("prefetch".into());
    assert_eq!(status(handle(&service, &prefetch).await), 302);
    // 4. The Open link's token with its kind letter swapped: 404, 0 counted.
    let swapped = link(LinkKind::Click).token().replacen('o', "q", 1);
    assert_eq!(
        status(
            handle(
                &service,
                &via_cloudfront("GET", format!("/r/{swapped}"), "198.51.100.32:1")
            )
            .await
        ),
        404
    );
    // 5. An expired show's link (31 days old): still a 302, 0 counted.
    let old_show = (T0 - 31 * 86_400) * 1000;
    let expired = signer().link(
        LinkKind::Scan,
        &show.channel,
        &show.product,
        ad_contract::ShowId(old_show),
    );
    assert_eq!(
        status(
            handle(
                &service,
                &via_cloudfront("GET", format!("/r/{}", expired.token()), "198.51.100.33:1")
            )
            .await
        ),
        302
    );
    // 6. The function URL called directly (no origin secret): 403, 0 counted.
    let mut direct = via_cloudfront("GET", scan.clone(), "198.51.100.34:1");
    direct.origin_verify = None;
    assert_eq!(status(handle(&service, &direct).await), 403);
    let mut direct_beacon = via_cloudfront("POST", "/measure/events".into(), "198.51.100.34:1");
    direct_beacon.origin_verify = Some("a-guess-of-the-secret".into());
    direct_beacon.body = Some(batch("direct", &[("d1", Impression, &show)]));
    assert_eq!(status(handle(&service, &direct_beacon).await), 403);
    // 7. A viewable with no impression of its viewer: invalid. One whose
    // impression came in an earlier stream batch: counted (the marker).
    let mut orphan = via_cloudfront("POST", "/measure/events".into(), "198.51.100.40:1");
    orphan.body = Some(batch("orphan", &[("v", Viewable, &show)]));
    assert_eq!(status(handle(&service, &orphan).await), 200);
    let mut first = via_cloudfront("POST", "/measure/events".into(), "198.51.100.41:1");
    first.body = Some(batch("patient", &[("i", Impression, &show)]));
    assert_eq!(status(handle(&service, &first).await), 200);
    drain_stream(&env).await?;
    let mut then = via_cloudfront("POST", "/measure/events".into(), "198.51.100.41:1");
    then.body = Some(batch("patient", &[("v", Viewable, &show)]));
    assert_eq!(status(handle(&service, &then).await), 200);
    // 8. 1,000 beacons from one address, each a new viewer id: the first
    // EVENTS_PER_CLIENT_MINUTE (600) count, the rest are answered 429.
    let (mut taken, mut limited) = (0, 0);
    for i in 0..1000 {
        let mut beacon = via_cloudfront("POST", "/measure/events".into(), "192.0.2.77:443");
        beacon.body = Some(batch(&format!("made-up{i}"), &[("i", Impression, &show)]));
        match status(handle(&service, &beacon).await) {
            200 => taken += 1,
            429 => limited += 1,
            other => return Err(format!("beacon {i}: {other}").into()),
        }
    }
    assert_eq!((taken, limited), (600, 400));
    drain_stream(&env).await?;
    let counts = show_counts(&env, "forgery", show_ms).await?;
    assert_eq!(
        (
            counts.impressions,
            counts.viewable,
            counts.invalid,
            counts.scans,
            counts.opens
        ),
        (601, 1, 1, 3, 0),
        "{counts:?}"
    );
    Ok(())
}
