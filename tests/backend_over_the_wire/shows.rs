//! What on-thumbnail shows: first sighting, the display window and cooldown,
//! K cards at once, confidence, and one show however many invocations race.

use super::*;

scenarios!(
    first_sighting_shows,
    inside_window_no_reshow_then_cooldown_then_again,
    two_products_in_one_frame,
    at_most_k_most_confident_wins,
    frame_with_no_label,
    below_confidence_is_not_shown,
    duplicate_event_shows_once,
    twenty_concurrent_invocations_show_once,
);

async fn first_sighting_shows(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "first-sighting", Rules::default());
    let report = ch
        .thumbnail(&env.standin.state, 0, &[("mug", 91.5)])
        .await?;
    ensure(
        report.shown == vec![format!("{} mug", ch.arn)],
        format!("{report:?}"),
    )?;
    let accepted = accepted_sets(&env.standin.state, &ch.arn);
    ensure(
        accepted == vec![r#"{"v":1,"show":[{"id":"mug","left":20}]}"#.to_string()],
        format!("cues: {accepted:?}"),
    )?;
    let state = ch.pipeline.store.load(&ch.arn).await?;
    ensure(
        state.version == T0 * 1000 && state.lease_held(T0),
        format!("{state:?}"),
    )?;
    ensure(
        ch.executions(&env).await? == 1,
        "one workflow execution started",
    )
}

async fn inside_window_no_reshow_then_cooldown_then_again(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "window-cooldown", Rules::default());
    let s = &env.standin.state;
    ch.thumbnail(s, 0, &[("mug", 90.0)]).await?;
    ch.clock.advance(5);
    let r = ch.thumbnail(s, 1, &[("mug", 95.0)]).await?;
    ensure(
        r.shown.is_empty(),
        "a sighting inside the window does not re-show",
    )?;
    ch.clock.advance(15); // T0+20: window over, cooldown until T0+80
    let r = ch.thumbnail(s, 2, &[("mug", 95.0)]).await?;
    ensure(r.shown.is_empty(), "cooldown holds after the window")?;
    ch.clock.advance(59);
    let r = ch.thumbnail(s, 3, &[("mug", 95.0)]).await?;
    ensure(r.shown.is_empty(), "cooldown holds until its last second")?;
    ch.clock.advance(1); // T0+80
    let r = ch.thumbnail(s, 4, &[("mug", 95.0)]).await?;
    ensure(r.shown.len() == 1, "after the cooldown it shows again")?;
    let accepted = s.accepted(&ch.arn);
    ensure(
        accepted.len() == 2,
        format!("exactly two shows: {accepted:?}"),
    )
}

async fn two_products_in_one_frame(env: Arc<Env>) -> Result<(), Failed> {
    let rules = Rules {
        max_active: 2,
        ..Rules::default()
    };
    let ch = Channel::new(&env, "two-products", rules);
    let r = ch
        .thumbnail(
            &env.standin.state,
            0,
            &[("cap-logo", 66.0), ("mug", 88.0), ("stranger", 99.0)],
        )
        .await?;
    ensure(r.shown.len() == 2, format!("{r:?}"))?;
    let accepted = accepted_sets(&env.standin.state, &ch.arn);
    ensure(
        accepted
            == vec![
                r#"{"v":1,"show":[{"id":"mug","left":20},{"id":"cap","left":10}]}"#.to_string(),
            ],
        format!("one cue carries both, most confident first: {accepted:?}"),
    )
}

async fn at_most_k_most_confident_wins(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "k-limit", Rules::default());
    ch.thumbnail(&env.standin.state, 0, &[("cap", 60.0), ("mug", 95.0)])
        .await?;
    let accepted = accepted_sets(&env.standin.state, &ch.arn);
    ensure(
        accepted == vec![r#"{"v":1,"show":[{"id":"mug","left":20}]}"#.to_string()],
        format!("{accepted:?}"),
    )
}

async fn frame_with_no_label(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "no-label", Rules::default());
    let r = ch.thumbnail(&env.standin.state, 0, &[]).await?;
    ensure(
        r.thumbnails == 1 && r.shown.is_empty() && r.failed == 0,
        format!("{r:?}"),
    )?;
    ensure(env.standin.state.calls(&ch.arn).is_empty(), "no cue")?;
    let state = ch.pipeline.store.load(&ch.arn).await?;
    ensure(state.version == 0, "no state written")
}

async fn below_confidence_is_not_shown(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "low-confidence", Rules::default());
    let r = ch
        .thumbnail(&env.standin.state, 0, &[("mug", 69.0)])
        .await?;
    ensure(r.shown.is_empty(), format!("{r:?}"))
}

async fn duplicate_event_shows_once(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "duplicate-event", Rules::default());
    let key = ch.key(0);
    env.standin.state.set_labels(&key, &[("mug", 90.0)]);
    let event = s3_event(BUCKET, &[&key]);
    let a = on_thumbnail(
        &ch.pipeline,
        LambdaEvent::new(event.clone(), Context::default()),
    )
    .await?;
    let b = on_thumbnail(&ch.pipeline, LambdaEvent::new(event, Context::default())).await?;
    ensure(
        a.shown.len() == 1 && b.shown.is_empty(),
        format!("{a:?} {b:?}"),
    )?;
    ensure(env.standin.state.accepted(&ch.arn).len() == 1, "one cue")?;
    ensure(ch.executions(&env).await? == 1, "one workflow start")
}

async fn twenty_concurrent_invocations_show_once(env: Arc<Env>) -> Result<(), Failed> {
    let _alone = WALL_CLOCK.write().await;
    let ch = Arc::new(Channel::new(&env, "concurrent", Rules::default()));
    let mut tasks = Vec::new();
    for n in 0..20 {
        let (ch, env) = (ch.clone(), env.clone());
        tasks.push(tokio::spawn(async move {
            ch.thumbnail(&env.standin.state, n, &[("mug", 80.0 + n as f32 / 2.0)])
                .await
        }));
    }
    let mut shown = 0;
    for t in tasks {
        let report = t.await.map_err(|e| e.to_string())??;
        shown += report.shown.len();
    }
    ensure(shown == 1, format!("{shown} shows"))?;
    ensure(env.standin.state.accepted(&ch.arn).len() == 1, "one cue")?;
    ensure(ch.executions(&env).await? == 1, "one workflow start")
}
