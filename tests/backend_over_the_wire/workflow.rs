//! The Step Functions workflow on moto: re-sends for late joiners, the
//! operator's show and clear, and the hand-over to a successor execution.

use super::*;

scenarios!(
    late_joiner_gets_the_republished_cue,
    operator_show_state_clear,
    operator_pause_holds_automatic_cards_until_resumed,
    operator_pins_for_a_time_and_unpins_one_card,
    on_tick_hands_over_to_a_successor_execution,
);

/// The real workflow definition running on moto, its Task invoking the real
/// on-tick handler through the Lambda Invoke API: a viewer who joins late gets
/// a re-published cue with the right seconds left, and the clear goes out when
/// the display window ends.
async fn late_joiner_gets_the_republished_cue(env: Arc<Env>) -> Result<(), Failed> {
    // It times the workflow's cues against the wall clock: no load test at once.
    let _quiet = WALL_CLOCK.read().await;
    let rules = Rules {
        max_active: 1,
        republish_seconds: 1,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tick = pipeline(
        &env.on_tick,
        TABLE,
        &env.republish_machine,
        &env.catalog,
        rules,
        clock.clone(),
    );
    env.standin.state.set_tick_pipeline(Arc::new(tick));
    let show = pipeline(
        &env.on_thumbnail,
        TABLE,
        &env.republish_machine,
        &env.catalog,
        rules,
        clock.clone(),
    );
    let id = "latejoiner";
    let arn = channel_arn(id);
    env.standin.state.add_channel(&arn, ChannelMode::Live);
    let key = thumbnail_key(id, 0);
    env.standin.state.set_labels(&key, &[("blink", 75.0)]);
    let shown_at = clock.now();
    let event = s3_event(BUCKET, &[&key]);
    let r = on_thumbnail(&show, LambdaEvent::new(event, Context::default())).await?;
    ensure(r.shown.len() == 1, format!("{r:?}"))?;

    // Wait for the execution to finish (display 3 s, republish every 1 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let out = env
            .clients
            .sfn
            .list_executions()
            .state_machine_arn(&env.republish_machine)
            .send()
            .await?;
        let exec = out
            .executions()
            .iter()
            .find(|e| e.name().starts_with("latejoiner-"))
            .map(|e| e.status().clone());
        match exec {
            Some(s) if s.as_str() != "RUNNING" => break s,
            _ if Instant::now() > deadline => return Err("workflow did not finish in 30 s".into()),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    };
    ensure(
        status.as_str() == "SUCCEEDED",
        format!("execution {status:?}"),
    )?;

    let calls: Vec<_> = env
        .standin
        .state
        .calls(&arn)
        .into_iter()
        .filter(|c| c.status == 204)
        .collect();
    let cues: Vec<Cue> = calls.iter().map(|c| cue(&c.metadata)).collect();
    ensure(
        cues.len() >= 3,
        format!("show, re-publishes and a clear: {cues:?}"),
    )?;
    ensure(cues[0].show[0].seconds_left == 3, format!("{cues:?}"))?;
    // Every re-published cue tells a late joiner the time actually left.
    let first_at = calls[0].at;
    for (call, c) in calls.iter().zip(&cues).skip(1) {
        let elapsed = call.at.duration_since(first_at).as_secs_f64();
        if let Some(item) = c.show.first() {
            let expected = 3.0 - elapsed;
            ensure(
                (item.seconds_left as f64 - expected).abs() <= 1.0,
                format!(
                    "at +{elapsed:.1}s the cue said {} s left, {expected:.1} expected",
                    item.seconds_left
                ),
            )?;
        }
    }
    let last = cues.last().cloned().unwrap_or_default();
    ensure(last.is_clear(), format!("ends with a clear cue: {cues:?}"))?;
    // Each cue names the state version it was built from (on-thumbnail's
    // show, then each on-tick step), so they only grow: a player can drop
    // one that IVS delivers late.
    let seqs: Vec<Option<u64>> = cues.iter().map(|c| c.seq).collect();
    ensure(
        seqs.iter().all(Option::is_some) && seqs.windows(2).all(|w| w[0] < w[1]),
        format!("seqs grow with every write: {seqs:?}"),
    )?;
    let cleared_after = calls
        .last()
        .map(|c| c.at.duration_since(first_at).as_secs_f64())
        .unwrap_or(0.0);
    ensure(
        (2.0..=6.0).contains(&cleared_after),
        format!("clear went out {cleared_after:.1} s after the show (window 3 s)"),
    )?;
    let state = show.store.load(&arn).await?;
    ensure(
        !state.lease_held(shown_at + 60),
        "the workflow released the channel",
    )?;
    // Never more than 5 cues per second on the channel.
    for w in calls.windows(6) {
        ensure(
            w[5].at.duration_since(w[0].at) >= Duration::from_secs(1),
            "at most 5 PutMetadata per second",
        )?;
    }
    Ok(())
}

async fn operator_show_state_clear(env: Arc<Env>) -> Result<(), Failed> {
    use backend::operator;
    let ch = Channel::as_role(&env, &env.operator, "operator", Rules::default());
    let s = &env.standin.state;
    ch.thumbnail(s, 0, &[("mug", 90.0)]).await?;
    ch.clock.advance(2);
    // Forced: replaces mug (K = 1) although cap was never seen.
    let cue = operator::show_now(&ch.pipeline, &ch.arn, "cap").await?;
    ensure(
        Cue {
            seq: None,
            ..cue.clone()
        }
        .encode()?
            == r#"{"v":1,"show":[{"id":"cap","left":10}]}"#,
        format!("{cue:?}"),
    )?;
    let state = operator::state(&ch.pipeline, &ch.arn).await?;
    ensure(
        state["products"]["cap"]["showing"] == true,
        state.to_string(),
    )?;
    ensure(
        state["products"]["mug"]["showing"] == false,
        state.to_string(),
    )?;
    ensure(state["workflow_running"] == true, state.to_string())?;
    operator::clear(&ch.pipeline, &ch.arn).await?;
    let state = operator::state(&ch.pipeline, &ch.arn).await?;
    ensure(
        state["cue_now"]
            .as_str()
            .is_some_and(|text| Cue::decode(text).is_ok_and(|c| c.is_clear())),
        state.to_string(),
    )?;
    let accepted = accepted_sets(s, &ch.arn);
    ensure(
        accepted.last().map(String::as_str) == Some(r#"{"v":1,"show":[]}"#),
        format!("{accepted:?}"),
    )?;
    // Mistakes are named.
    let err = operator::show_now(&ch.pipeline, &ch.arn, "nope")
        .await
        .unwrap_err();
    ensure(
        err.to_string().contains("not in the catalog"),
        err.to_string(),
    )?;
    let err = operator::state(&ch.pipeline, "my-channel")
        .await
        .unwrap_err();
    ensure(
        err.to_string().contains("not an IVS channel ARN"),
        err.to_string(),
    )
}

/// The operator's pause, as `adctl pause` runs it: kept in the state item,
/// so a thumbnail on-thumbnail handles while paused shows nothing, the
/// operator's own show still does, and a resume lets the next sighting show.
async fn operator_pause_holds_automatic_cards_until_resumed(env: Arc<Env>) -> Result<(), Failed> {
    use backend::operator;
    let rules = Rules {
        max_active: 2,
        ..Rules::default()
    };
    let ch = Channel::as_role(&env, &env.operator, "operatorPause", rules);
    let s = &env.standin.state;
    let until = operator::pause(&ch.pipeline, &ch.arn, 600).await?;
    ensure(until == T0 + 600, format!("paused until {until}"))?;
    let state = operator::state(&ch.pipeline, &ch.arn).await?;
    ensure(state["paused"] == true, state.to_string())?;

    let report = ch.thumbnail(s, 0, &[("mug", 90.0)]).await?;
    ensure(report.shown.is_empty(), format!("{report:?}"))?;
    ensure(
        accepted_sets(s, &ch.arn).is_empty(),
        "nothing reached viewers",
    )?;

    ch.clock.advance(2);
    operator::show_now(&ch.pipeline, &ch.arn, "cap").await?;
    ensure(
        accepted_sets(s, &ch.arn) == [r#"{"v":1,"show":[{"id":"cap","left":10}]}"#],
        format!("{:?}", accepted_sets(s, &ch.arn)),
    )?;

    ch.clock.advance(1);
    operator::pause(&ch.pipeline, &ch.arn, 0).await?;
    let state = operator::state(&ch.pipeline, &ch.arn).await?;
    ensure(state["paused"] == false, state.to_string())?;
    let report = ch.thumbnail(s, 1, &[("mug", 90.0)]).await?;
    ensure(
        report.shown == vec![format!("{} mug", ch.arn)],
        format!("{report:?}"),
    )
}

/// The operator's pin for a time given and unpin of one card, as adctl runs
/// them: viewers get the cue of what remains.
async fn operator_pins_for_a_time_and_unpins_one_card(env: Arc<Env>) -> Result<(), Failed> {
    use backend::operator;
    let rules = Rules {
        max_active: 2,
        ..Rules::default()
    };
    let ch = Channel::as_role(&env, &env.operator, "operatorPin", rules);
    let s = &env.standin.state;
    operator::pin(&ch.pipeline, &ch.arn, "mug", Some(45)).await?;
    ch.clock.advance(1);
    operator::pin(&ch.pipeline, &ch.arn, "cap", None).await?;
    ch.clock.advance(1);
    let unpinned = operator::unpin(&ch.pipeline, &ch.arn, "mug").await?;
    ensure(unpinned.is_some(), "mug was showing")?;
    let again = operator::unpin(&ch.pipeline, &ch.arn, "mug").await?;
    ensure(again.is_none(), "nothing to unpin the second time")?;
    ensure(
        accepted_sets(s, &ch.arn)
            == [
                r#"{"v":1,"show":[{"id":"mug","left":45}]}"#,
                r#"{"v":1,"show":[{"id":"cap","left":10},{"id":"mug","left":44}]}"#,
                r#"{"v":1,"show":[{"id":"cap","left":9}]}"#,
            ],
        format!("{:?}", accepted_sets(s, &ch.arn)),
    )?;
    let err = operator::unpin(&ch.pipeline, &ch.arn, "nope")
        .await
        .unwrap_err();
    ensure(
        err.to_string().contains("not in the catalog"),
        err.to_string(),
    )
}

/// After `MAX_WORKFLOW_STEPS`, on-tick hands the channel to a new execution
/// with StartExecution (so a long show never hits Step Functions' history
/// limit). It runs as the on-tick role, whose grant the permissions test
/// checks.
async fn on_tick_hands_over_to_a_successor_execution(env: Arc<Env>) -> Result<(), Failed> {
    use backend::handlers::{on_tick, MAX_WORKFLOW_STEPS};
    let ch = Channel::new(&env, "handover", Rules::default());
    ch.thumbnail(&env.standin.state, 0, &[("mug", 90.0)])
        .await?;
    let first = ch.pipeline.store.load(&ch.arn).await?.workflow;
    ch.clock.advance(5);
    let tick = pipeline(
        &env.on_tick,
        TABLE,
        &env.quiet_machine,
        &env.catalog,
        Rules::default(),
        ch.clock.clone(),
    );
    let input = serde_json::json!({
        "channel_arn": ch.arn, "execution": first, "iteration": MAX_WORKFLOW_STEPS - 1
    });
    let out = on_tick(&tick, LambdaEvent::new(input, Context::default())).await?;
    ensure(out.done, format!("this execution ends: {out:?}"))?;
    let state = tick.store.load(&ch.arn).await?;
    ensure(
        state.workflow != first && state.lease_held(T0 + 5),
        format!("a successor holds the channel: {state:?}"),
    )?;
    ensure(
        ch.executions(&env).await? == 2,
        "the successor execution was started",
    )
}
