//! The collector: each event counted once and streamed raw, bad input
//! refused with no count changed, nothing lost in 100 concurrent batches.

use super::*;

scenarios!(
    collector_counts_each_event_once_and_streams_it_raw,
    collector_refuses_bad_input_and_changes_no_count,
    collector_loses_no_event_in_100_concurrent_batches,
);

async fn collector_counts_each_event_once_and_streams_it_raw(env: Arc<Env>) -> Result<(), Failed> {
    // Drains the shared stream: not during the load test (see below).
    let _quiet = WALL_CLOCK.read().await;
    let _stream = SHARED_STREAM.lock().await;
    use ad_contract::measure::EventKind::*;
    let service = collector(&env).await?;
    let handle = backend::collector::handle;
    let show = show_ref("collectOnce", "mug", 1_790_000_000_123);
    let first = batch(
        "viewer1",
        &[("e1", Impression, &show), ("e2", Viewable, &show)],
    );
    let answer = handle(&service, &post(first.clone(), CHROME)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains(r#""queued":2"#), "{}", answer.body);
    // The beacon again (a retry), and the same id from the same viewer in a
    // new batch: taken again, counted once.
    let again = handle(&service, &post(first, CHROME)).await;
    assert!(again.body.contains(r#""queued":2"#), "{}", again.body);
    handle(
        &service,
        &post(batch("viewer1", &[("e1", Impression, &show)]), CHROME),
    )
    .await;
    // Another viewer's e1 is another event; a robot's is kept out.
    handle(
        &service,
        &post(batch("viewer2", &[("e1", Impression, &show)]), CHROME),
    )
    .await;
    let robot = handle(
        &service,
        &post(
            batch("crawler", &[("e9", Impression, &show)]),
            "Googlebot/2.1",
        ),
    )
    .await;
    assert!(robot.body.contains(r#""robots":1"#), "{}", robot.body);
    // A scan through the tracking link: 302 to the catalog's link.
    let link = signer().link(
        ad_contract::measure::LinkKind::Scan,
        &show.channel,
        &show.product,
        show.show,
    );
    let scan = handle(
        &service,
        &backend::collector::HttpRequest {
            method: "GET".into(),
            path: format!("/r/{}", link.token()),
            user_agent: CHROME.into(),
            source_ip: "198.51.100.7".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(scan.status, 302);
    assert!(scan
        .headers
        .contains(&("location", "https://shop.example.com/mug".into())));
    // Neither a HEAD nor a prefetch (from other addresses, which a real
    // scan would count for), nor the same client looping over `?v=$i`,
    // adds a scan: each is answered like the scan, and the count below
    // stays 1.
    for (method, purpose, query, address) in [
        ("HEAD", None, String::new(), "198.51.100.9"),
        ("GET", Some("prefetch"), String::new(), "198.51.100.10"),
        ("GET", None, "v=loop1".into(), "198.51.100.7"),
        ("GET", None, "v=loop2".into(), "198.51.100.7"),
        ("GET", None, "v=loop3".into(), "198.51.100.7"),
    ] {
        let again = handle(
            &service,
            &backend::collector::HttpRequest {
                method: method.into(),
                path: format!("/r/{}", link.token()),
                query,
                user_agent: CHROME.into(),
                source_ip: address.into(),
                purpose: purpose.map(Into::into),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(again.status, 302, "{method} {purpose:?}");
    }

    // Nothing is counted on the request path: the aggregator counts.
    assert_eq!(
        show_counts(&env, "collectOnce", 1_790_000_000_123).await?,
        backend::measure::ShowCounts::default()
    );
    let delivered = drain_stream(&env).await?;
    let counts = show_counts(&env, "collectOnce", 1_790_000_000_123).await?;
    assert_eq!(
        (counts.impressions, counts.viewable, counts.scans),
        (2, 1, 1),
        "{counts:?}"
    );
    // The Lambda service delivers every batch again (a timed-out or failed
    // invocation): nothing counts twice, and no counter item is written.
    let store = counter_store(&env).await;
    for batch in &delivered {
        let again = backend::aggregator::handle_batch(&store, batch)
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(again.batch.counter_writes, 0, "{again:?}");
    }
    let counts = show_counts(&env, "collectOnce", 1_790_000_000_123).await?;
    assert_eq!(
        (counts.impressions, counts.viewable, counts.scans),
        (2, 1, 1),
        "delivered again: {counts:?}"
    );
    // The hosted dashboard's read, as the report function makes it (its own
    // role: Scan only), for an IAM-signed caller.
    let report_sdk = sdk_config_as("report").await;
    let as_report = backend::measure_aws::DynamoCounters::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&report_sdk)
                .endpoint_url(&env.proxy.url)
                .build(),
        ),
        aws_calls::MEASURE_TABLE,
    )
    .days(T0 - 86_400, T0 + 86_400);
    let signed = backend::collector::HttpRequest {
        method: "GET".into(),
        path: "/measure/report".into(),
        query: "format=json".into(),
        iam_caller: Some("arn:aws:iam::123456789012:user/advertiser".into()),
        ..Default::default()
    };
    let answer = backend::report_api::handle_report(&as_report, &signed).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let rows: Value = serde_json::from_str(&answer.body)?;
    let row = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["channel"] == "collectOnce"))
        .ok_or_else(|| format!("no collectOnce row in {}", answer.body))?;
    assert_eq!(
        (&row["impressions"], &row["viewable"], &row["scans"]),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1)
        ),
        "{row}"
    );
    let unsigned = backend::collector::HttpRequest {
        iam_caller: None,
        ..signed
    };
    assert_eq!(
        backend::report_api::handle_report(&as_report, &unsigned)
            .await
            .status,
        403
    );

    let hours = counters(&env).hours().await.map_err(|e| e.to_string())?;
    let hour_total: u64 = hours
        .iter()
        .filter(|h| {
            h.channel == "collectOnce" && h.measure == backend::measure::Measure::Impression
        })
        .map(|h| h.count)
        .sum();
    assert_eq!(hour_total, 2);

    // Raw events went to S3 through Firehose, one JSON line each, the
    // robot's flagged: e1, e2 (viewer1), e1 (viewer2), the robot's, the scan.
    // Raw is at least once (a batch delivered again sends its claimed events
    // again), so they are told apart by event, as Athena's queries do.
    let listed = env
        .clients
        .s3
        .list_objects_v2()
        .bucket(RAW_BUCKET)
        .send()
        .await?;
    let mut lines = Vec::new();
    for object in listed.contents() {
        let body = env
            .clients
            .s3
            .get_object()
            .bucket(RAW_BUCKET)
            .key(object.key().unwrap_or(""))
            .send()
            .await?;
        let bytes = body
            .body
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .into_bytes();
        for line in String::from_utf8_lossy(&bytes).lines() {
            let v: Value = serde_json::from_str(line)?;
            if v["channel"] == "collectOnce" {
                lines.push(v);
            }
        }
    }
    let distinct: std::collections::BTreeSet<(String, String)> = lines
        .iter()
        .map(|l| (l["viewer"].to_string(), l["event_id"].to_string()))
        .collect();
    assert_eq!(distinct.len(), 5, "{lines:?}");
    let robots: std::collections::BTreeSet<String> = lines
        .iter()
        .filter(|l| l["robot"] == true)
        .map(|l| l["event_id"].to_string())
        .collect();
    assert_eq!(robots.len(), 1);

    // The dashboard for a deployed stack (`studio-dashboard`) reads the same
    // counters with the operator's credentials, behind its token and the
    // loopback Host check.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    let app = studio::aws_dashboard::app(counters(&env), "t0ken".into(), port);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let get = |path: &'static str, host: String, token: Option<&'static str>| async move {
        tokio::task::spawn_blocking(move || {
            let auth = token.map(|t| format!("Bearer {t}"));
            let mut headers = vec![("Host", host.as_str())];
            headers.extend(auth.as_deref().map(|a| ("Authorization", a)));
            test_support::http::get(port, path, &headers)
        })
        .await?
    };
    let host = format!("127.0.0.1:{port}");
    let report = get("/measure/report?format=json", host.clone(), Some("t0ken")).await?;
    let body = report.text();
    assert_eq!(report.status, 200, "{body}");
    let shows: Value = serde_json::from_str(body.trim())?;
    let row = shows
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["channel"] == "collectOnce"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (row["impressions"].as_u64(), row["scans"].as_u64()),
        (Some(2), Some(1)),
        "{body}"
    );
    let page = get("/dashboard/", host.clone(), None).await?;
    assert!(
        page.status == 200 && page.text().contains("<script"),
        "{}: {}",
        page.status,
        page.text()
    );
    let no_token = get("/measure/report", host, None).await?;
    assert_eq!(no_token.status, 401, "{}", no_token.text());
    let rebound = get("/measure/report", "attacker.example".into(), Some("t0ken")).await?;
    assert_eq!(rebound.status, 403, "{}", rebound.text());
    server.abort();

    // Reconciliation (`adctl reconcile`): the raw events in S3, recounted,
    // equal the counters; a counter changed behind the collector's back is
    // named with both numbers.
    let reconcile = || async {
        let raw = backend::measure_aws::read_raw_events(
            &env.clients.s3,
            RAW_BUCKET,
            &["events/".to_string()],
        )
        .await
        .map_err(|e| e.to_string())?;
        let ours: Vec<_> = raw
            .events
            .iter()
            .filter(|e| e.channel == "collectOnce")
            .collect();
        let shows: Vec<_> = counters(&env)
            .shows()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|s| s.channel == "collectOnce")
            .collect();
        Ok::<_, Failed>(backend::reconcile::differences(
            &backend::reconcile::raw_counts(ours),
            &shows,
        ))
    };
    assert_eq!(reconcile().await?, vec![]);
    env.clients
        .dynamodb
        .update_item()
        .table_name(aws_calls::MEASURE_TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("s#collectOnce#mug#1790000000123".into()),
        )
        .update_expression("ADD impression :one")
        .expression_attribute_values(
            ":one",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await?;
    let found = reconcile().await?;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].measure, found[0].raw, found[0].counted),
        (backend::measure::Measure::Impression, 2, 3)
    );
    Ok(())
}

async fn collector_refuses_bad_input_and_changes_no_count(env: Arc<Env>) -> Result<(), Failed> {
    // Drains the shared stream: not during the load test (see below).
    let _quiet = WALL_CLOCK.read().await;
    let _stream = SHARED_STREAM.lock().await;
    use ad_contract::measure::EventKind::*;
    let service = collector(&env).await?;
    let handle = backend::collector::handle;
    let show = show_ref("collectBad", "cap", T0 * 1000 + 77);
    let mut forged = show.clone();
    forged.tag = ad_contract::ShowTag::parse("AAAAAAAA").map_err(|e| e.to_string())?;
    let mut unknown = show_ref("collectBad", "mug", T0 * 1000 + 77);
    unknown.product = ad_contract::ProductId::parse("nosuch").map_err(|e| e.to_string())?;
    let cases = [
        ("a 1 MB body", "x".repeat(1 << 20), 400, "body is"),
        ("a malformed body", "{\"v\":1,".to_string(), 400, "not JSON"),
        (
            "an unknown product",
            batch("v", &[("e1", Impression, &unknown)]),
            400,
            "not in the catalog",
        ),
        (
            "a forged tag",
            batch("v", &[("e1", Impression, &forged)]),
            400,
            "not the tag",
        ),
    ];
    for (name, body, status, reason) in cases {
        let answer = handle(&service, &post(body, CHROME)).await;
        assert_eq!(answer.status, status, "{name}: {}", answer.body);
        assert!(answer.body.contains(reason), "{name}: {}", answer.body);
    }
    // A mixed batch: 49 good events and one for a product the catalog no
    // longer has. The 49 count, and the answer names the bad one.
    let mixed_show = show_ref("collectMixed", "cap", T0 * 1000 + 78);
    let ids: Vec<String> = (0..49).map(|i| format!("m{i}")).collect();
    let mut events: Vec<_> = ids
        .iter()
        .map(|id| (id.as_str(), Impression, &mixed_show))
        .collect();
    events.insert(30, ("gone", Impression, &unknown));
    let answer = handle(&service, &post(batch("mixed", &events), CHROME)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body: Value = serde_json::from_str(&answer.body)?;
    assert_eq!(
        (body["queued"].as_u64(), body["refused"].as_u64()),
        (Some(49), Some(1)),
        "{body}"
    );
    let bad = &body["events"][30];
    assert_eq!(
        (bad["id"].as_str(), bad["status"].as_str()),
        (Some("gone"), Some("refused")),
        "{body}"
    );
    assert!(
        bad["error"]
            .as_str()
            .unwrap_or("")
            .contains("events[30].product"),
        "{body}"
    );
    drain_stream(&env).await?;
    assert_eq!(
        show_counts(&env, "collectMixed", T0 * 1000 + 78)
            .await?
            .impressions,
        49
    );
    let forged_link = ad_contract::measure::TrackingLink {
        kind: ad_contract::measure::LinkKind::Click,
        show: forged,
        replay: false,
    };
    for path in [
        format!("/r/{}", forged_link.token()),
        "/r/q.nothing".into(),
        "/elsewhere".into(),
    ] {
        let answer = handle(
            &service,
            &backend::collector::HttpRequest {
                method: "GET".into(),
                path,
                user_agent: CHROME.into(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(answer.status, 404);
    }
    drain_stream(&env).await?;
    let counts = show_counts(&env, "collectBad", T0 * 1000 + 77).await?;
    assert_eq!(
        counts,
        backend::measure::ShowCounts::default(),
        "nothing counted"
    );
    Ok(())
}

async fn collector_loses_no_event_in_100_concurrent_batches(env: Arc<Env>) -> Result<(), Failed> {
    // 300 transactions at once slow moto for seconds: not while a scenario
    // times cues against the wall clock.
    let _alone = WALL_CLOCK.write().await;
    use ad_contract::measure::EventKind::*;
    let service = Arc::new(collector(&env).await?);
    let show = show_ref("collectMany", "blink", T0 * 1000 + 5);
    let mut tasks = Vec::new();
    for b in 0..100 {
        let service = service.clone();
        let show = show.clone();
        tasks.push(tokio::spawn(async move {
            let ids: Vec<String> = (0..5).map(|i| format!("b{b}e{i}")).collect();
            // Three impressions, then two viewables (each after one of the
            // same viewer and show, as the rule asks).
            let events: Vec<_> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    (
                        id.as_str(),
                        if i < 3 { Impression } else { Viewable },
                        &show,
                    )
                })
                .collect();
            // Each viewer its own, on its own address: the rate bounds are
            // per viewer and per address.
            backend::collector::handle(
                &service,
                &post_from(batch(&format!("viewer{b}"), &events), b),
            )
            .await
        }));
    }
    for task in tasks {
        let answer = task.await.map_err(|e| e.to_string())?;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    drain_stream(&env).await?;
    let counts = show_counts(&env, "collectMany", T0 * 1000 + 5).await?;
    assert_eq!(
        (counts.impressions, counts.viewable, counts.invalid),
        (300, 200, 0),
        "{counts:?}"
    );
    Ok(())
}
