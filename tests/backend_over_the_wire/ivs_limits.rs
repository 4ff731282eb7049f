//! IVS's limits as IVS enforces them: throttling, the 5-a-second rate, and a
//! channel that stops broadcasting.

use super::*;

scenarios!(
    throttling_storm_is_bounded,
    rate_limit_is_what_ivs_enforces,
    channel_not_broadcasting_resets_state,
);

async fn throttling_storm_is_bounded(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "throttle-storm", Rules::default());
    env.standin
        .state
        .add_channel(&ch.arn, ChannelMode::Throttled);
    let started = Instant::now();
    let r = ch
        .thumbnail(&env.standin.state, 0, &[("mug", 90.0)])
        .await?;
    let calls = env.standin.state.calls(&ch.arn);
    ensure(
        calls.len() == ch.pipeline.retry.attempts as usize,
        format!(
            "{} PutMetadata calls, expected {}",
            calls.len(),
            ch.pipeline.retry.attempts
        ),
    )?;
    ensure(
        started.elapsed() < Duration::from_secs(5),
        "gave up quickly",
    )?;
    // The show stands: the workflow re-publishes once IVS accepts again.
    ensure(r.shown.len() == 1, format!("{r:?}"))?;
    ensure(
        ch.executions(&env).await? == 1,
        "workflow started to re-publish",
    )
}

async fn rate_limit_is_what_ivs_enforces(env: Arc<Env>) -> Result<(), Failed> {
    // The stand-in itself: a 6th PutMetadata within a second is throttled.
    let arn = channel_arn("ratelimit");
    env.standin.state.add_channel(&arn, ChannelMode::Live);
    let mut results = Vec::new();
    for _ in 0..6 {
        results.push(
            env.clients
                .ivs
                .put_metadata()
                .channel_arn(&arn)
                .metadata(r#"{"v":1,"show":[]}"#)
                .send()
                .await
                .map_err(|e| e.into_service_error()),
        );
    }
    ensure(
        results[..5].iter().all(Result::is_ok),
        format!("{results:?}"),
    )?;
    ensure(
        matches!(&results[5], Err(e) if e.is_throttling_exception()),
        format!("{:?}", results[5]),
    )
}

async fn channel_not_broadcasting_resets_state(env: Arc<Env>) -> Result<(), Failed> {
    let ch = Channel::new(&env, "offline", Rules::default());
    let s = &env.standin.state;
    ch.thumbnail(s, 0, &[("mug", 90.0)]).await?;
    ensure(
        !ch.pipeline.store.load(&ch.arn).await?.products.is_empty(),
        "shown while live",
    )?;
    // The stream ends; the product is still in view on a later thumbnail of
    // a new broadcast after its window, but IVS says the channel is offline.
    s.add_channel(&ch.arn, ChannelMode::NotBroadcasting);
    ch.clock.advance(100);
    let r = ch.thumbnail(s, 1, &[("mug", 90.0)]).await?;
    ensure(r.shown.is_empty(), format!("{r:?}"))?;
    let state = ch.pipeline.store.load(&ch.arn).await?;
    ensure(
        state.products.is_empty() && state.workflow.is_empty(),
        format!("state reset: {state:?}"),
    )?;
    let calls = s.calls(&ch.arn);
    ensure(
        calls.len() == 2,
        format!("no retry loop: {} calls", calls.len()),
    )?;
    ensure(
        ch.executions(&env).await? == 1,
        "no workflow for an offline channel",
    )
}
