//! Events that must change nothing: malformed, stale, not a thumbnail, or
//! while the model is not ready.

use super::*;

scenarios!(
    malformed_event_is_a_clear_error,
    non_thumbnail_keys_are_skipped,
    stale_events_show_nothing,
    model_not_ready_changes_nothing,
);

async fn malformed_event_is_a_clear_error(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "malformed", Rules::default());
    for payload in [
        serde_json::json!({"hello": "world"}),
        serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put"}]}),
        serde_json::json!(null),
    ] {
        match on_thumbnail(
            &ch.pipeline,
            LambdaEvent::new(payload.clone(), Context::default()),
        )
        .await
        {
            Err(HandlerError::MalformedEvent(m)) => ensure(
                m.contains("S3 event"),
                format!("message names the fix: {m}"),
            )?,
            other => return Err(format!("{payload}: {other:?}").into()),
        }
    }
    // A record without bucket/key fails that record only, with its index.
    let mut event = s3_event(BUCKET, &[&ch.key(0), &ch.key(1)]);
    event["Records"][0]["s3"]["object"]
        .as_object_mut()
        .map(|o| o.remove("key"));
    env.standin.state.set_labels(&ch.key(1), &[("mug", 90.0)]);
    match on_thumbnail(&ch.pipeline, LambdaEvent::new(event, Context::default())).await {
        Err(HandlerError::RecordsFailed {
            failed: 1,
            total: 2,
            first,
        }) => ensure(first.contains("record 0"), first)?,
        other => return Err(format!("{other:?}").into()),
    }
    ensure(
        env.standin.state.accepted(&ch.arn).len() == 1,
        "the good record was handled",
    )
}

/// Lambda's async retries deliver an event minutes late: that frame must
/// not show a product now. Counted in the report, nothing published.
async fn stale_events_show_nothing(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "stale", Rules::default());
    let at = |unix: u64| studio::civil::Utc::from_unix_millis(unix as i64 * 1000).rfc3339_millis();
    let key = ch.key(0);
    env.standin.state.set_labels(&key, &[("mug", 95.0)]);
    // Four minutes old, with a 40 s bound: skipped.
    let mut event = s3_event(BUCKET, &[&key]);
    event["Records"][0]["eventTime"] = at(T0 - 240).into();
    let report = on_thumbnail(&ch.pipeline, LambdaEvent::new(event, Context::default()))
        .await
        .map_err(|e| format!("{e}"))?;
    ensure(
        report.stale == 1 && report.shown.is_empty(),
        format!("{report:?}"),
    )?;
    ensure(
        env.standin.state.accepted(&ch.arn).is_empty(),
        "a stale frame published a cue",
    )?;
    // Twenty seconds old: inside the bound, shown.
    let mut event = s3_event(BUCKET, &[&key]);
    event["Records"][0]["eventTime"] = at(T0 - 20).into();
    let report = on_thumbnail(&ch.pipeline, LambdaEvent::new(event, Context::default()))
        .await
        .map_err(|e| format!("{e}"))?;
    ensure(
        report.stale == 0 && report.shown.len() == 1,
        format!("{report:?}"),
    )?;
    ensure(
        env.standin.state.accepted(&ch.arn).len() == 1,
        "the fresh frame published its cue",
    )
}

async fn non_thumbnail_keys_are_skipped(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "not-a-thumbnail", Rules::default());
    let hls = format!(
        "ivs/v1/{ACCOUNT}/{}/2026/11/24/17/5/rec/media/hls/720p30/12.ts",
        ch.id
    );
    let other = "uploads/cat.jpg".to_string();
    let mut event = s3_event(BUCKET, &[&hls, &other]);
    let r = on_thumbnail(
        &ch.pipeline,
        LambdaEvent::new(event.clone(), Context::default()),
    )
    .await?;
    ensure(r.skipped == 2 && r.thumbnails == 0, format!("{r:?}"))?;
    ensure(
        env.standin.state.detect_calls_for(&hls) == 0,
        "no Rekognition call",
    )?;
    // Deletions are not ObjectCreated.
    event["Records"][0]["eventName"] = Value::from("ObjectRemoved:Delete");
    let r = on_thumbnail(&ch.pipeline, LambdaEvent::new(event, Context::default())).await?;
    ensure(r.skipped == 2, format!("{r:?}"))?;
    // Both LATEST layouts are thumbnails. The stack records SEQUENTIAL only,
    // so these calls come from a deployment of the user's own, and are
    // signed as a role the permissions check does not hold the stack to.
    let latest_storage = Channel::as_role(
        &env,
        &env.latest_storage,
        "not-a-thumbnail",
        Rules::default(),
    );
    let base = format!("ivs/v1/{ACCOUNT}/{}/2026/11/24/17/5/rec/media", ch.id);
    let latest = [
        format!("{base}/latest_thumbnail/thumb.jpg"),
        format!("{base}/thumbnails/latest/thumb.jpg"),
    ];
    let event = s3_event(BUCKET, &[&latest[0], &latest[1]]);
    let r = on_thumbnail(
        &latest_storage.pipeline,
        LambdaEvent::new(event, Context::default()),
    )
    .await?;
    ensure(r.thumbnails == 2, format!("{r:?}"))
}

async fn model_not_ready_changes_nothing(env: Arc<Env>) -> Result<(), Failed> {
    // The model is global to the stand-in: use a private one.
    let standin = StandIn::start().await?;
    let clients = TestClients::new(&env._moto.url, &standin.url).await;
    let clock = TestClock::at(T0);
    let p = pipeline(
        &clients,
        TABLE,
        &env.quiet_machine,
        &env.catalog,
        Rules::default(),
        clock,
    );
    let id = "modelnotready";
    let arn = channel_arn(id);
    standin.state.add_channel(&arn, ChannelMode::Live);
    standin.state.set_model_ready(false);
    let keys = [thumbnail_key(id, 0), thumbnail_key(id, 1)];
    standin.state.set_labels(&keys[0], &[("mug", 99.0)]);
    let event = s3_event(BUCKET, &[&keys[0], &keys[1]]);
    let r = on_thumbnail(&p, LambdaEvent::new(event, Context::default())).await?;
    ensure(
        r.model_not_ready && r.failed == 0 && r.shown.is_empty(),
        format!("{r:?}"),
    )?;
    ensure(p.store.load(&arn).await?.version == 0, "no state change")?;
    ensure(standin.state.calls(&arn).is_empty(), "no cue")
}
