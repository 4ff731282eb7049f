//! The operator function as Lambda runs it: configuration from the
//! environment, its own role, IAM-signed requests; pin, unpin, pause,
//! resume, sold out, clear and state on the function's clock, each audited.

use super::*;

scenarios!(operator_function_steers_a_channel_on_its_own_clock,);

async fn operator_function_steers_a_channel_on_its_own_clock(env: Arc<Env>) -> Result<(), Failed> {
    use backend::collector::HttpRequest;
    use backend::config::{self, Config, Role};
    use backend::operator_api::handle_operator;
    use backend::runtime::{build_pipeline, Clients};
    let temp = TempDir::new("operator-function")?;
    let catalog_path = temp.path().join("catalog.json");
    std::fs::write(&catalog_path, catalog_json())?;
    let vars = std::collections::HashMap::from([
        (config::TABLE_NAME, TABLE.to_string()),
        (config::STATE_MACHINE_ARN, env.quiet_machine.clone()),
        (config::AWS_REGION, REGION.to_string()),
        (config::CATALOG_PATH, catalog_path.display().to_string()),
        (config::MAX_ACTIVE_PRODUCTS, "2".to_string()),
        // As the stack sets it: the cues it publishes are kept for replays.
        (config::RECORDINGS_BUCKET, BUCKET.to_string()),
    ]);
    let config = Config::from_lookup(Role::Operator, |k| vars.get(k).cloned())
        .map_err(|e| format!("{e}"))?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&env.proxy.url)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "operator-function",
            "testing",
            None,
            None,
            "tests",
        ))
        .load()
        .await;
    let pipeline = build_pipeline(&config, &Clients::new(&sdk), true).await?;

    let arn = channel_arn("operatorFunction");
    env.standin.state.add_channel(&arn, ChannelMode::Live);
    let host = "arn:aws:iam::123456789012:user/host";
    let call = |action: &str, body: serde_json::Value, caller: Option<&str>| HttpRequest {
        method: "POST".into(),
        path: format!("/operator/{action}"),
        body: Some(body.to_string()),
        iam_caller: caller.map(str::to_owned),
        ..Default::default()
    };
    let answer = |r: backend::collector::HttpResponse| -> Result<(u16, Value), Failed> {
        Ok((
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        ))
    };

    // The host's signed call.
    let act = |action: &str, body: serde_json::Value| {
        let request = call(action, body, Some(host));
        let pipeline = &pipeline;
        async move { answer(handle_operator(pipeline, &request).await) }
    };

    // Unsigned: refused, nothing changes.
    let refused = handle_operator(
        &pipeline,
        &call(
            "pin",
            serde_json::json!({"channel": arn, "product": "mug"}),
            None,
        ),
    )
    .await;
    ensure(refused.status == 403, refused.body.clone())?;
    ensure(
        accepted_sets(&env.standin.state, &arn).is_empty(),
        "nothing sent",
    )?;

    let before = SystemClock.now();
    let (status, pinned) = act(
        "pin",
        serde_json::json!({"channel": arn, "product": "mug", "seconds": 120}),
    )
    .await?;
    ensure(status == 200, pinned.to_string())?;
    ensure(pinned["action"] == "pin", pinned.to_string())?;
    // "now" is the function's: the pin's window starts at its clock.
    let at = pinned["at"].as_u64().unwrap_or_default();
    ensure(
        (before..=SystemClock.now()).contains(&at),
        pinned.to_string(),
    )?;
    let (_, paused) = act("pause", serde_json::json!({"channel": arn, "seconds": 300})).await?;
    let until = paused["paused_until"].as_u64().unwrap_or_default();
    ensure(
        until >= at + 300 && until <= SystemClock.now() + 300,
        paused.to_string(),
    )?;
    let (_, state) = act("state", serde_json::json!({"channel": arn})).await?;
    ensure(
        state["paused"] == true && state["products"]["mug"]["showing"] == true,
        state.to_string(),
    )?;
    // Sold out: the card up now is re-sent at once, marked, without its QR
    // tag; the mark is in the state item (DynamoDB) and survives a read.
    let (status, sold) = act(
        "sold-out",
        serde_json::json!({"channel": arn, "product": "mug"}),
    )
    .await?;
    ensure(status == 200, sold.to_string())?;
    let sold_cue = cue(sold["published"].as_str().unwrap_or_default());
    ensure(
        sold_cue.show.len() == 1 && sold_cue.show[0].sold_out,
        sold.to_string(),
    )?;
    let (_, state) = act("state", serde_json::json!({"channel": arn})).await?;
    ensure(
        state["sold_out"] == serde_json::json!(["mug"]),
        state.to_string(),
    )?;
    for (action, body) in [
        (
            "in-stock",
            serde_json::json!({"channel": arn, "product": "mug"}),
        ),
        ("resume", serde_json::json!({"channel": arn})),
        (
            "unpin",
            serde_json::json!({"channel": arn, "product": "mug"}),
        ),
        ("clear", serde_json::json!({"channel": arn})),
    ] {
        let (status, out) = act(action, body).await?;
        ensure(status == 200, format!("{action}: {out}"))?;
    }
    let sent = accepted_sets(&env.standin.state, &arn);
    ensure(
        sent.first().map(String::as_str) == Some(r#"{"v":1,"show":[{"id":"mug","left":120}]}"#)
            && sent.iter().any(|c| c.contains(r#""x":1"#))
            && sent.last().map(String::as_str) == Some(r#"{"v":1,"show":[]}"#),
        format!("{sent:?}"),
    )?;
    let (_, state) = act("state", serde_json::json!({"channel": arn})).await?;
    ensure(
        state["sold_out"] == serde_json::json!([]),
        state.to_string(),
    )?;

    // What the detector saw: on-thumbnail (its own role) keeps a sighting
    // in the recordings bucket; the operator function reads it back.
    let on_thumbnail_log = backend::sightings_aws::S3SightingLog {
        s3: env.on_thumbnail.s3.clone(),
        bucket: BUCKET.into(),
        clock: Arc::new(SystemClock),
    };
    let now = SystemClock.now();
    for (n, label) in [(1, "mug"), (2, "cap")] {
        use backend::sightings::SightingLog as _;
        let detection = backend::decision::Detection {
            label: label.into(),
            confidence: 88.0,
            bounding_box: None,
        };
        let verdict = backend::decision::LabelDecision {
            label: label.into(),
            product: ad_contract::ProductId::parse(label).ok(),
            confidence: 88.0,
            outcome: backend::decision::Outcome::CoolingDown { seconds_left: 9 },
        };
        let key = thumbnail_key("operatorFunction", n);
        on_thumbnail_log
            .record(backend::sightings::Sighting::new(
                &arn,
                &key,
                now - 2 + u64::from(n),
                &[detection],
                &[verdict],
                None,
            ))
            .await;
    }
    let (status, out) = act("sightings", serde_json::json!({"channel": arn, "limit": 5})).await?;
    let labels: Vec<&str> = out["sightings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["found"][0]["label"].as_str())
        .collect();
    ensure(
        status == 200 && labels == ["cap", "mug"],
        format!("the newest first: {out}"),
    )?;
    ensure(
        out["sightings"][0]["found"][0]["verdict"] == "cooling_down",
        out.to_string(),
    )?;

    // The thumbnail of a sighting, for the console's boxes.
    let jpeg = b"\xff\xd8\xff\xe0 a thumbnail".to_vec();
    let key = thumbnail_key("operatorFunction", 2);
    env.clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(jpeg.clone().into())
        .send()
        .await?;
    let (status, out) = act("thumbnail", serde_json::json!({"channel": arn, "key": key})).await?;
    let image = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(out["image_base64"].as_str().unwrap_or_default())
            .unwrap_or_default()
    };
    ensure(status == 200 && image == jpeg, format!("{status} {out}"))?;
    let gone = thumbnail_key("operatorFunction", 99);
    let (status, out) = act(
        "thumbnail",
        serde_json::json!({"channel": arn, "key": gone}),
    )
    .await?;
    ensure(status == 404, format!("{status} {out}"))?;
    let other = thumbnail_key("someoneElse", 2);
    let (status, out) = act(
        "thumbnail",
        serde_json::json!({"channel": arn, "key": other}),
    )
    .await?;
    ensure(status == 400, format!("another channel's: {status} {out}"))?;

    // Mistakes are named, and change nothing.
    let (status, out) = act(
        "pin",
        serde_json::json!({"channel": arn, "product": "nope"}),
    )
    .await?;
    ensure(
        status == 400
            && out["error"]
                .as_str()
                .is_some_and(|e| e.contains("not in the catalog")),
        out.to_string(),
    )?;
    let (status, out) = act("pin", serde_json::json!({"channel": arn})).await?;
    ensure(
        status == 400
            && out["error"]
                .as_str()
                .is_some_and(|e| e.contains("`product` is missing")),
        out.to_string(),
    )
}
