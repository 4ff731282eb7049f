//! The on-thumbnail and workflow handlers over the real wire: DynamoDB and Step
//! Functions on moto server, IVS PutMetadata, Rekognition DetectCustomLabels
//! and Lambda Invoke on the project's stand-in. One moto and one stand-in
//! serve every scenario (each on its own channel), started before and
//! stopped after the trials.
//!
//! Every function's client goes through a recording proxy
//! (`e2e_tests::aws_calls`), signed as the role it plays; after the trials
//! the calls are compared with the reviewed list that
//! `infra/test/permissions.test.ts` checks against the stack's IAM policies.

use ad_contract::{Catalog, Cue};
use backend::decision::Rules;
use backend::handlers::{on_thumbnail, HandlerError, Pipeline};
use backend::ports::{Clock, SystemClock};
use e2e_tests::aws_calls::{self, RecordingProxy};
use e2e_tests::standin::{ChannelMode, RunningStandIn, StandIn};
use e2e_tests::*;
use lambda_runtime::{Context, LambdaEvent};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUCKET: &str = "ivs-recordings";
const TABLE: &str = "ad-state";
const T0: u64 = 1_790_000_000;

struct Env {
    standin: RunningStandIn,
    _moto: Moto,
    proxy: RecordingProxy,
    /// The harness's own clients (setup and inspection), straight to moto
    /// and the stand-in, not recorded.
    clients: TestClients,
    /// The functions' clients, each signed as its role, through the proxy.
    on_thumbnail: TestClients,
    on_thumbnail_builtin: TestClients,
    on_tick: TestClients,
    /// `adctl`: runs with the operator's credentials, not a stack role.
    operator: TestClients,
    /// on-thumbnail deployed over a LATEST-storage recording configuration,
    /// which the stack does not create.
    latest_storage: TestClients,
    catalog: Catalog,
    /// A machine that succeeds at once: scenarios that test on-thumbnail see
    /// their starts recorded without a workflow ticking in the background.
    quiet_machine: String,
    /// The shipped workflow definition.
    republish_machine: String,
}

fn catalog() -> Catalog {
    Catalog::from_json(&catalog_json()).expect("test catalog is valid")
}

fn catalog_json() -> String {
    let product = |id: &str, min: u32, display: u32, cooldown: u32| {
        serde_json::json!({
            "id": id, "labels": [id, format!("{id}-logo")], "title": format!("The {id}"),
            "description": "", "price": "$10.00", "image_url": format!("img/{id}.png"),
            "link_url": format!("https://shop.example.com/{id}"),
            "min_confidence": min, "display_seconds": display, "cooldown_seconds": cooldown
        })
    };
    serde_json::json!({"products": [
        product("mug", 70, 20, 60),
        product("cap", 50, 10, 30),
        product("blink", 60, 3, 0),
    ]})
    .to_string()
}

impl Env {
    async fn start() -> anyhow::Result<Self> {
        let standin = StandIn::start().await?;
        let proxy = RecordingProxy::start(&standin.url).await?;
        // moto's Step Functions invoke Lambda through the proxy.
        let moto = Moto::start(proxy.port)?;
        proxy.set_moto(&moto.url);
        let clients = TestClients::new(&moto.url, &standin.url).await;
        let on_thumbnail = TestClients::through(&proxy, "on-thumbnail").await;
        let on_thumbnail_builtin = TestClients::through(&proxy, "on-thumbnail-builtin").await;
        let on_tick = TestClients::through(&proxy, "on-tick").await;
        let operator = TestClients::through(&proxy, "operator").await;
        let latest_storage = TestClients::through(&proxy, "on-thumbnail-latest-storage").await;
        clients.create_table(TABLE).await?;
        let quiet_machine = clients
            .create_state_machine(
                "quiet",
                r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#,
            )
            .await?;
        let republish_machine = clients
            .create_state_machine("republish", &workflow_definition())
            .await?;
        Ok(Self {
            standin,
            _moto: moto,
            proxy,
            clients,
            on_thumbnail,
            on_thumbnail_builtin,
            on_tick,
            operator,
            latest_storage,
            catalog: catalog(),
            quiet_machine,
            republish_machine,
        })
    }
}

/// One scenario's channel and pipeline.
struct Channel {
    id: String,
    arn: String,
    clock: Arc<TestClock>,
    pipeline: Pipeline,
}

impl Channel {
    /// A channel whose pipeline plays on-thumbnail.
    fn new(env: &Env, name: &str, rules: Rules) -> Self {
        Self::as_role(env, &env.on_thumbnail, name, rules)
    }

    fn as_role(env: &Env, clients: &TestClients, name: &str, rules: Rules) -> Self {
        let id: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let arn = channel_arn(&id);
        env.standin.state.add_channel(&arn, ChannelMode::Live);
        let clock = TestClock::at(T0);
        let pipeline = pipeline(
            clients,
            TABLE,
            &env.quiet_machine,
            &env.catalog,
            rules,
            clock.clone(),
        );
        Self {
            id,
            arn,
            clock,
            pipeline,
        }
    }

    fn key(&self, n: u32) -> String {
        thumbnail_key(&self.id, n)
    }

    async fn thumbnail(
        &self,
        standin: &StandIn,
        n: u32,
        labels: &[(&str, f32)],
    ) -> Result<backend::handlers::ThumbnailReport, HandlerError> {
        let key = self.key(n);
        standin.set_labels(&key, labels);
        let event = s3_event(BUCKET, &[&key]);
        on_thumbnail(&self.pipeline, LambdaEvent::new(event, Context::default())).await
    }

    async fn executions(&self, env: &Env) -> anyhow::Result<usize> {
        let out = env
            .clients
            .sfn
            .list_executions()
            .state_machine_arn(&env.quiet_machine)
            .send()
            .await?;
        let names: Vec<_> = out
            .executions()
            .iter()
            .map(|e| e.name().to_string())
            .collect();
        Ok(names
            .iter()
            .filter(|n| n.starts_with(&format!("{}-", self.id)))
            .count())
    }
}

fn ensure(condition: bool, what: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn cue(text: &str) -> Cue {
    Cue::decode(text).unwrap_or_default()
}

/// The cues IVS accepted for a channel, each without its `seq` (checked in
/// `late_joiner_gets_the_republished_cue`), so scenarios
/// compare the overlay sets.
fn accepted_sets(standin: &StandIn, channel: &str) -> Vec<String> {
    standin
        .accepted(channel)
        .iter()
        .map(|text| {
            Cue {
                seq: None,
                ..cue(text)
            }
            .encode()
            .unwrap_or_else(|e| format!("unencodable: {e}"))
        })
        .collect()
}

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

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    // Handler warnings and errors on stderr: a failing scenario shows why.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let env = match runtime.block_on(Env::start()) {
        Ok(env) => Arc::new(env),
        Err(e) => {
            eprintln!("test environment did not start: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let handle = runtime.handle().clone();
    let mut trials = Vec::new();
    macro_rules! trial {
        ($name:ident) => {{
            let (env, handle) = (env.clone(), handle.clone());
            trials.push(Trial::test(stringify!($name), move || {
                run(&handle, $name(env))
            }));
        }};
    }
    trial!(first_sighting_shows);
    trial!(inside_window_no_reshow_then_cooldown_then_again);
    trial!(two_products_in_one_frame);
    trial!(at_most_k_most_confident_wins);
    trial!(frame_with_no_label);
    trial!(below_confidence_is_not_shown);
    trial!(duplicate_event_shows_once);
    trial!(twenty_concurrent_invocations_show_once);
    trial!(throttling_storm_is_bounded);
    trial!(rate_limit_is_what_ivs_enforces);
    trial!(channel_not_broadcasting_resets_state);
    trial!(malformed_event_is_a_clear_error);
    trial!(non_thumbnail_keys_are_skipped);
    trial!(stale_events_show_nothing);
    trial!(model_not_ready_changes_nothing);
    trial!(late_joiner_gets_the_republished_cue);
    trial!(operator_show_state_clear);
    trial!(builtin_detector_reads_thumbnails_from_s3);
    trial!(lambda_start_up_warms_with_granted_calls_only);
    trial!(on_tick_hands_over_to_a_successor_execution);
    trial!(functions_read_their_secrets_at_start_up);
    trial!(collector_counts_each_event_once_and_streams_it_raw);
    trial!(forged_and_replayed_traffic_counts_as_the_rules_say);
    trial!(the_report_reads_sums_with_calls_that_do_not_grow_with_events);
    trial!(collector_refuses_bad_input_and_changes_no_count);
    trial!(collector_loses_no_event_in_100_concurrent_batches);
    trial!(measurement_counts_10000_viewers_exactly_through_throttling);
    // Which trials run decides what the permissions check may conclude.
    let complete = args.filter.is_none() && args.skip.is_empty() && !args.list;
    let mut conclusion = libtest_mimic::run(&args, trials);
    if !args.list {
        // A failed scenario may have stopped before some of its calls: then
        // only "every call is listed" is judged, not "every listed call made".
        let complete = complete && !conclusion.has_failed();
        match aws_calls::check_against_reviewed_list(&env.proxy.calls(), complete) {
            Ok(()) => eprintln!(
                "AWS calls: each is in tests/aws-calls.json{}",
                if complete {
                    ", and each listed call was made"
                } else {
                    ""
                }
            ),
            Err(e) => {
                eprintln!("AWS calls do not match the reviewed list:\n{e}");
                conclusion.num_failed += 1;
            }
        }
    }
    drop(env);
    runtime.shutdown_timeout(Duration::from_secs(2));
    conclusion.exit_code()
}

/// Scenarios run at once. Those that time cues against the wall clock hold
/// it for reading; those that load moto with hundreds of concurrent calls
/// hold it for writing, so they never overlap (a loaded 2-core CI machine
/// delayed a 3 s window's clear to 8 s).
static WALL_CLOCK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn run(
    handle: &tokio::runtime::Handle,
    f: impl Future<Output = Result<(), Failed>>,
) -> Result<(), Failed> {
    handle.block_on(f)
}

/// The functions start as in Lambda: configuration from the environment,
/// clients from one SDK configuration, warmed. Every warm-up call must
/// succeed, which in AWS means it is one the role is granted (the recorded
/// calls are checked against the stack's policies).
async fn lambda_start_up_warms_with_granted_calls_only(env: Arc<Env>) -> Result<(), Failed> {
    use backend::config::{self, Config, Role};
    use backend::runtime::{build_pipeline, warm_up, Clients};
    let dir = std::env::temp_dir().join(format!("lambda-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let catalog_path = dir.join("catalog.json");
    std::fs::write(&catalog_path, catalog_json())?;
    for (name, role) in [
        ("on-thumbnail", Role::OnThumbnail),
        ("on-tick", Role::OnTick),
    ] {
        let vars = std::collections::HashMap::from([
            (config::TABLE_NAME, TABLE.to_string()),
            (config::STATE_MACHINE_ARN, env.quiet_machine.clone()),
            (config::AWS_REGION, REGION.to_string()),
            (config::CATALOG_PATH, catalog_path.display().to_string()),
            (
                config::REKOGNITION_PROJECT_VERSION_ARN,
                format!("arn:aws:rekognition:{REGION}:{ACCOUNT}:project/shop/version/shop.1/1"),
            ),
        ]);
        let config =
            Config::from_lookup(role, |k| vars.get(k).cloned()).map_err(|e| format!("{e}"))?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&env.proxy.url)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                name, "testing", None, None, "tests",
            ))
            .load()
            .await;
        let clients = Clients::new(&sdk);
        build_pipeline(&config, &clients, true).await?;
        let store = backend::aws::DynamoStateStore::new(clients.dynamodb.clone(), TABLE);
        let failures = warm_up(&store).await;
        ensure(
            failures.is_empty(),
            format!("{name}: warm-up failed: {failures:?}"),
        )?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
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

/// `DETECTOR=builtin` as the on-thumbnail Lambda runs it: the configuration
/// from the environment, references from the catalog (one in S3, one beside
/// the catalog file), each thumbnail read from S3 (moto) and analysed in
/// process; garbage and missing objects are skipped, never fatal.
async fn builtin_detector_reads_thumbnails_from_s3(env: Arc<Env>) -> Result<(), Failed> {
    use backend::config::{self, Config, Role};
    use detector_eval::scenes::{load_sprite, scene, seed_logos_dir, Condition};
    let s3 = env.clients.s3.clone();
    let seeds = seed_logos_dir();
    for bucket in [BUCKET, "brand-refs"] {
        let _ = s3.create_bucket().bucket(bucket).send().await;
    }
    s3.put_object()
        .bucket("brand-refs")
        .key("aws/aws-1.png")
        .body(std::fs::read(seeds.join("aws-1.png"))?.into())
        .send()
        .await?;
    let dir = std::env::temp_dir().join(format!("builtin-lambda-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(seeds.join("aws-2.png"), dir.join("aws-2.png"))?;
    let product = |id: &str, references: &[&str], wordmark: &str| {
        serde_json::json!({
            "id": id, "labels": [id], "title": id, "price": "$1.00",
            "image_url": format!("img/{id}.png"), "link_url": format!("https://shop.example.com/{id}"),
            "min_confidence": 60, "display_seconds": 20, "cooldown_seconds": 60,
            "reference_images": references, "wordmark": wordmark
        })
    };
    let catalog_path = dir.join("catalog.json");
    std::fs::write(
        &catalog_path,
        serde_json::json!({"products": [
            // One reference in S3, one beside the catalog.
            product("aws", &["s3://brand-refs/aws/aws-1.png", "aws-2.png"], ""),
            // No reference image: found by its wordmark alone.
            product("twitch", &[], "twitch"),
        ]})
        .to_string(),
    )?;
    let vars = std::collections::HashMap::from([
        (config::TABLE_NAME, TABLE.to_string()),
        (config::STATE_MACHINE_ARN, env.quiet_machine.clone()),
        (config::AWS_REGION, REGION.to_string()),
        (config::CATALOG_PATH, catalog_path.display().to_string()),
        (config::DETECTOR, "builtin".to_string()),
        (
            config::DETECTOR_TEXT_MODELS,
            detector::text::default_models_dir().display().to_string(),
        ),
    ]);
    let config = Config::from_lookup(Role::OnThumbnail, |k| vars.get(k).cloned())
        .map_err(|e| format!("{e}"))?;
    // The Lambda reads s3:// references at start-up, as on-thumbnail.
    let lambda_s3 = env.on_thumbnail_builtin.s3.clone();
    let detector = backend::runtime::builtin_detector(&config, &lambda_s3).await?;
    let _ = std::fs::remove_dir_all(&dir);
    // The wordmark signal came with the Lambda's start-up: a frame with the
    // twitch logo names twitch, which has no reference image.
    let twitch = load_sprite("twitch", &seeds.join("twitch-1.png"))?;
    let twitch_frame = scene(Condition::Clean, 3, &[twitch], &[]);
    let gray = detector::gray::decode(&twitch_frame.jpeg)?;
    let found: Vec<String> = detector
        .detect(&gray, 60.0)
        .into_iter()
        .map(|f| f.label)
        .collect();
    ensure(
        found.iter().any(|l| l == "twitch"),
        format!("the wordmark-only product is read as text: {found:?}"),
    )?;
    let ch = Channel::as_role(
        &env,
        &env.on_thumbnail_builtin,
        "builtin-detector",
        Rules::default(),
    );
    let mut pipeline = pipeline(
        &env.on_thumbnail_builtin,
        TABLE,
        &env.quiet_machine,
        &config.catalog,
        Rules::default(),
        ch.clock.clone(),
    );
    pipeline.detector = Some(Arc::new(backend::aws::S3BuiltinDetector {
        s3: lambda_s3,
        detector: Arc::new(detector),
        min_confidence: 60.0,
    }));
    // A thumbnail with the aws logo on a busy background, as IVS writes it.
    let aws = load_sprite("aws", &seeds.join("aws-1.png"))?;
    let frame = scene(Condition::Clean, 7, &[aws], &[]);
    s3.put_object()
        .bucket(BUCKET)
        .key(ch.key(0))
        .body(frame.jpeg.into())
        .send()
        .await?;
    let event = |n: u32| LambdaEvent::new(s3_event(BUCKET, &[&ch.key(n)]), Context::default());
    let report = on_thumbnail(&pipeline, event(0)).await?;
    ensure(
        report.shown == vec![format!("{} aws", ch.arn)],
        format!("{report:?}"),
    )?;
    let accepted = accepted_sets(&env.standin.state, &ch.arn);
    ensure(
        accepted == vec![r#"{"v":1,"show":[{"id":"aws","left":20}]}"#.to_string()],
        format!("cues: {accepted:?}"),
    )?;
    // Not an image, and no object at all: skipped with a reason, state kept.
    s3.put_object()
        .bucket(BUCKET)
        .key(ch.key(1))
        .body(b"not a jpeg".to_vec().into())
        .send()
        .await?;
    for n in [1, 2] {
        let report = on_thumbnail(&pipeline, event(n)).await?;
        ensure(
            report.skipped == 1 && report.failed == 0,
            format!("{report:?}"),
        )?;
    }
    let state = pipeline.store.load(&ch.arn).await?;
    ensure(state.version == T0 * 1000, format!("{state:?}"))
}

// ---- The collector Lambda: DynamoDB counters and Firehose to S3 on moto ----

/// The raw events' Firehose delivery stream (`{measure_stream}`).
const MEASURE_STREAM: &str = "ad-measure-events";
const RAW_BUCKET: &str = "ad-measure-raw";
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";
/// Shards of the measurement stream: more than one, so the aggregator's
/// per-shard bookkeeping is exercised.
const MEASURE_SHARDS: i32 = 2;

/// The measurement table (with its `report` index), the stream, the
/// delivery stream and the raw bucket, once.
async fn measurement_setup(env: &Env) -> Result<(), Failed> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    static SETUP: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let moto = env._moto.url.clone();
    let setup_sdk = sdk_config().await;
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let text = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    SETUP
        .get_or_try_init(|| async {
            env.clients
                .dynamodb
                .create_table()
                .table_name(aws_calls::MEASURE_TABLE)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(text("pk")?)
                .attribute_definitions(text("gpk")?)
                .attribute_definitions(text("gsk")?)
                .key_schema(key("pk", KeyType::Hash)?)
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(backend::measure_aws::REPORT_INDEX)
                        .key_schema(key("gpk", KeyType::Hash)?)
                        .key_schema(key("gsk", KeyType::Range)?)
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build()?,
                )
                .send()
                .await?;
            env.clients
                .s3
                .create_bucket()
                .bucket(RAW_BUCKET)
                .send()
                .await?;
            let kinesis = aws_sdk_kinesis::Client::from_conf(
                aws_sdk_kinesis::config::Builder::from(&setup_sdk)
                    .endpoint_url(&moto)
                    .build(),
            );
            kinesis
                .create_stream()
                .stream_name(aws_calls::MEASURE_EVENTS)
                .shard_count(MEASURE_SHARDS)
                .send()
                .await?;
            let firehose = aws_sdk_firehose::Client::from_conf(
                aws_sdk_firehose::config::Builder::from(&setup_sdk)
                    .endpoint_url(&moto)
                    .build(),
            );
            firehose
                .create_delivery_stream()
                .delivery_stream_name(MEASURE_STREAM)
                .extended_s3_destination_configuration(
                    aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
                        .bucket_arn(format!("arn:aws:s3:::{RAW_BUCKET}"))
                        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/firehose"))
                        .prefix("events/")
                        .build()?,
                )
                .send()
                .await?;
            Ok::<(), anyhow::Error>(())
        })
        .await
        .map_err(|e| format!("measurement setup: {e:#}"))?;
    Ok(())
}

/// The secrets as the stack makes them (names the reviewed list knows),
/// made once by the harness; their ARNs.
async fn stack_secrets(env: &Env) -> Result<(String, String), Failed> {
    static ARNS: tokio::sync::OnceCell<(String, String)> = tokio::sync::OnceCell::const_new();
    let arns = ARNS
        .get_or_try_init(|| async {
            let client = secrets_client(env, "harness").await;
            let mut arns = Vec::new();
            for (name, value) in [
                (aws_calls::MEASUREMENT_KEY_SECRET, "2a".repeat(32)),
                (aws_calls::ORIGIN_VERIFY_SECRET, ORIGIN_SECRET.to_string()),
            ] {
                let made = client
                    .create_secret()
                    .name(name)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(|e| format!("create secret {name}: {e:?}"))?;
                arns.push(made.arn().unwrap_or_default().to_owned());
            }
            Ok::<_, String>((arns[0].clone(), arns[1].clone()))
        })
        .await?;
    Ok(arns.clone())
}

/// What the tests' CloudFront sends the collector (`x-origin-verify`).
const ORIGIN_SECRET: &str = "origin-secret-of-the-tests-0123456789";

async fn secrets_client(env: &Env, role: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&sdk_config_as(role).await)
            .endpoint_url(&env.proxy.url)
            .build(),
    )
}

/// Each function reads the settings the stack keeps in Secrets Manager at
/// start-up, as its own role (the permissions test holds the grants to
/// these calls), and a missing or doubled secret stops it with the reason.
async fn functions_read_their_secrets_at_start_up(env: Arc<Env>) -> Result<(), Failed> {
    let (key_arn, origin_arn) = stack_secrets(&env).await?;
    let vars = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("TABLE_NAME".to_string(), "t".to_string())])
            .collect()
    };
    for role in ["on-thumbnail", "on-thumbnail-builtin", "on-tick"] {
        let settings = backend::secrets::resolve(
            &secrets_client(&env, role).await,
            vars(&[("MEASUREMENT_KEY_SECRET_ARN", &key_arn)]),
        )
        .await
        .map_err(|e| format!("{role}: {e}"))?;
        assert_eq!(settings.get("MEASUREMENT_KEY"), Some(&"2a".repeat(32)));
        assert!(!settings.contains_key("MEASUREMENT_KEY_SECRET_ARN"));
        assert_eq!(settings.get("TABLE_NAME").map(String::as_str), Some("t"));
    }
    let settings = backend::secrets::resolve(
        &secrets_client(&env, "collector").await,
        vars(&[
            ("MEASUREMENT_KEY_SECRET_ARN", &key_arn),
            ("ORIGIN_VERIFY_SECRET_ARN", &origin_arn),
        ]),
    )
    .await
    .map_err(|e| format!("collector: {e}"))?;
    assert_eq!(
        settings.get("ORIGIN_VERIFY").map(String::as_str),
        Some(ORIGIN_SECRET)
    );
    // A secret that is not there, and a setting given both ways.
    let missing = format!("{key_arn}-gone");
    let err = backend::secrets::resolve(
        &secrets_client(&env, "harness").await,
        vars(&[("MEASUREMENT_KEY_SECRET_ARN", &missing)]),
    )
    .await
    .expect_err("no such secret");
    let text = err.to_string();
    assert!(
        text.starts_with("MEASUREMENT_KEY_SECRET_ARN: cannot read secret")
            && text.contains("secretsmanager:GetSecretValue"),
        "{text}"
    );
    let err = backend::secrets::resolve(
        &secrets_client(&env, "harness").await,
        vars(&[
            ("MEASUREMENT_KEY_SECRET_ARN", &key_arn),
            ("MEASUREMENT_KEY", "00"),
        ]),
    )
    .await
    .expect_err("both");
    assert!(err.to_string().contains("give one of them"), "{err}");
    Ok(())
}

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

/// The report reads the counters' sums with `Query` on its index: the same
/// calls for 100,000 events' worth of counters as for 1,000 (one a day of its
/// range, for shows and for hours), and the sums whole. Counted through a
/// metering proxy, signed as the report function's role.
async fn the_report_reads_sums_with_calls_that_do_not_grow_with_events(
    env: Arc<Env>,
) -> Result<(), Failed> {
    use backend::aggregate::CounterKey;
    measurement_setup(&env).await?;
    const SHOWS: u64 = 20;
    let proxy = RecordingProxy::start_with_faults(
        &env.standin.url,
        aws_calls::Faults {
            throttled_share: 0.0,
            item_writes_a_second: u64::MAX,
        },
    )
    .await?;
    proxy.set_moto(&env._moto.url);
    let harness = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
            .endpoint_url(&env._moto.url)
            .build(),
    );
    let report = backend::measure_aws::DynamoCounters::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk_config_as("report").await)
                .endpoint_url(&proxy.url)
                .build(),
        ),
        aws_calls::MEASURE_TABLE,
    )
    .days(T0 - 86_400, T0 + 86_400);
    let mut calls_per_read = Vec::new();
    for per_show in [50u64, 5_000] {
        // The counter items the aggregator writes, one per show and one per
        // hour, holding `per_show` impressions each.
        for i in 0..SHOWS {
            let show = (T0 + i * 600) * 1000;
            let at = T0 + i * 600;
            for key in [
                CounterKey::Show {
                    channel: "reportCalls".into(),
                    product: "mug".into(),
                    show,
                },
                CounterKey::Hour {
                    hour: backend::calendar::hour_of(at),
                    channel: "reportCalls".into(),
                    product: format!("mug{i}"),
                },
            ] {
                let s = aws_sdk_dynamodb::types::AttributeValue::S;
                let n = |v: u64| aws_sdk_dynamodb::types::AttributeValue::N(v.to_string());
                harness
                    .put_item()
                    .table_name(aws_calls::MEASURE_TABLE)
                    .item("pk", s(key.pk()))
                    .item("gpk", s(key.report_partition()))
                    .item("gsk", s(key.report_sort()))
                    .item("channel", s("reportCalls".into()))
                    .item("product", s("mug".into()))
                    .item("first_at", n(at))
                    .item("impression", n(per_show))
                    .send()
                    .await
                    .map_err(|e| format!("counter item: {e:?}"))?;
            }
        }
        let before = proxy
            .ledger()
            .calls
            .get("dynamodb:Query")
            .copied()
            .unwrap_or(0);
        let shows = report.shows().await.map_err(|e| e.to_string())?;
        let hours = report.hours().await.map_err(|e| e.to_string())?;
        let after = proxy
            .ledger()
            .calls
            .get("dynamodb:Query")
            .copied()
            .unwrap_or(0);
        calls_per_read.push(after - before);
        let impressions: u64 = shows
            .iter()
            .filter(|s| s.channel == "reportCalls")
            .map(|s| s.impressions)
            .sum();
        assert_eq!(impressions, SHOWS * per_show, "the sums whole");
        let hourly: u64 = hours
            .iter()
            .filter(|h| h.channel == "reportCalls")
            .map(|h| h.count)
            .sum();
        assert_eq!(hourly, SHOWS * per_show);
    }
    // Three days, shows and hours: six calls, for 1,000 events' worth and
    // for 100,000.
    assert_eq!(calls_per_read, vec![6, 6], "Query calls per report read");
    aws_calls::check_against_reviewed_list(&proxy.calls(), false)?;
    Ok(())
}

/// The collector as deployed: its stream client signed as the `collector`
/// role, through the proxy.
async fn collector(env: &Env) -> Result<backend::collector::CollectorService, Failed> {
    measurement_setup(env).await?;
    let sdk = sdk_config_as("collector").await;
    Ok(backend::collector::CollectorService {
        collector: backend::measure::Collector::new(env.catalog.clone(), signer()),
        store: Box::new(backend::measure_aws::KinesisQueue {
            kinesis: aws_sdk_kinesis::Client::from_conf(
                aws_sdk_kinesis::config::Builder::from(&sdk)
                    .endpoint_url(&env.proxy.url)
                    .build(),
            ),
            stream: aws_calls::MEASURE_EVENTS.into(),
        }),
        clock: Box::new(|| T0),
        origin_secret: None,
    })
}

/// The aggregator as deployed: signed as the `aggregator` role.
async fn counter_store(env: &Env) -> backend::measure_aws::CounterStore {
    let sdk = sdk_config_as("aggregator").await;
    backend::measure_aws::CounterStore {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .endpoint_url(&env.proxy.url)
                .build(),
        ),
        table: aws_calls::MEASURE_TABLE.into(),
        firehose: aws_sdk_firehose::Client::from_conf(
            aws_sdk_firehose::config::Builder::from(&sdk)
                .endpoint_url(&env.proxy.url)
                .build(),
        ),
        delivery_stream: MEASURE_STREAM.into(),
        clock: Box::new(|| T0),
    }
}

/// Batches the stand-in event source mapping has delivered (each try).
static DELIVERIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Records a batch the event source mapping delivers at most.
const AGGREGATOR_BATCH: usize = 100;

/// What the Lambda service does with the aggregator: reads each shard from
/// where it last left off (GetShardIterator, GetRecords, with the harness's
/// own credentials: the service's reads, not the function's), and delivers
/// the new records in order, in batches of at most [`AGGREGATOR_BATCH`], as
/// the Kinesis event the function gets. One drain at a time (a shard has
/// one invocation at a time). Returns the batches it delivered.
async fn drain_stream(
    env: &Env,
) -> Result<Vec<aws_lambda_events::event::kinesis::KinesisEvent>, Failed> {
    let store = counter_store(env).await;
    drain_stream_with(env, &store, AGGREGATOR_BATCH, 1).await
}

/// [`drain_stream`] into `store`, in batches of `batch` records, each
/// delivered up to `tries` times while it fails (the mapping's retries).
async fn drain_stream_with(
    env: &Env,
    store: &backend::measure_aws::CounterStore,
    batch: usize,
    tries: u32,
) -> Result<Vec<aws_lambda_events::event::kinesis::KinesisEvent>, Failed> {
    use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
    static READ_UP_TO: tokio::sync::Mutex<BTreeMap<String, String>> =
        tokio::sync::Mutex::const_new(BTreeMap::new());
    let mut read_up_to = READ_UP_TO.lock().await;
    let kinesis = aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(&sdk_config().await)
            .endpoint_url(&env._moto.url)
            .build(),
    );
    let shards = kinesis
        .list_shards()
        .stream_name(aws_calls::MEASURE_EVENTS)
        .send()
        .await?;
    let mut delivered = Vec::new();
    for shard in shards.shards() {
        let shard_id = shard.shard_id().to_string();
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(aws_calls::MEASURE_EVENTS)
            .shard_id(&shard_id);
        iterator = match read_up_to.get(&shard_id) {
            Some(seq) => iterator
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            None => {
                iterator.shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            }
        };
        let mut next = iterator.send().await?.shard_iterator;
        let mut records = Vec::new();
        while let Some(it) = next.take() {
            let out = kinesis.get_records().shard_iterator(it).send().await?;
            if out.records().is_empty() {
                break;
            }
            records.extend(out.records().iter().cloned());
            next = out.next_shard_iterator;
        }
        for chunk in records.chunks(batch) {
            let mut event = KinesisEvent::default();
            event.records = chunk
                .iter()
                .map(|r| {
                    let mut record = KinesisEventRecord::default();
                    record.event_id = Some(format!("{shard_id}:{}", r.sequence_number()));
                    record.event_source = Some("aws:kinesis".into());
                    record.kinesis.sequence_number = r.sequence_number().to_string();
                    record.kinesis.partition_key = r.partition_key().unwrap_or("").to_string();
                    record.kinesis.data.extend_from_slice(r.data().as_ref());
                    record
                })
                .collect();
            let mut tried = 0;
            loop {
                tried += 1;
                DELIVERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match backend::aggregator::handle_batch(store, &event).await {
                    Ok(_) => break,
                    Err(e) if tried >= tries => {
                        return Err(
                            format!("the aggregator failed a batch {tried} times: {e}").into()
                        )
                    }
                    Err(_) => continue,
                }
            }
            if let Some(last) = chunk.last() {
                read_up_to.insert(shard_id.clone(), last.sequence_number().to_string());
            }
            delivered.push(event);
        }
    }
    Ok(delivered)
}

fn signer() -> backend::measure::ShowSigner {
    backend::measure::ShowSigner::new(&[42; 32]).expect("a 32-byte key")
}

/// A real show of `product` on `channel`, tagged with the collector's key.
fn show_ref(channel: &str, product: &str, show: u64) -> ad_contract::ShowRef {
    let channel = ad_contract::ChannelId::parse(channel).expect("channel id");
    let product = ad_contract::ProductId::parse(product).expect("product id");
    let tag = signer().tag(&channel, &product, ad_contract::ShowId(show));
    ad_contract::ShowRef {
        channel,
        product,
        show: ad_contract::ShowId(show),
        tag,
    }
}

fn batch(
    viewer: &str,
    events: &[(&str, ad_contract::measure::EventKind, &ad_contract::ShowRef)],
) -> String {
    ad_contract::measure::EventBatch {
        viewer: ad_contract::measure::OpaqueId::from_lossy(viewer),
        events: events
            .iter()
            .map(|(id, kind, show)| ad_contract::measure::ViewerEvent {
                id: ad_contract::measure::OpaqueId::from_lossy(id),
                kind: *kind,
                show: (*show).clone(),
            })
            .collect(),
    }
    .to_json()
}

/// A beacon from viewer `n`'s own address (a crowd is many addresses).
fn post_from(body: String, n: usize) -> backend::collector::HttpRequest {
    backend::collector::HttpRequest {
        source_ip: format!("10.{}.{}.{}", n / 65_536 % 256, n / 256 % 256, n % 256),
        ..post(body, CHROME)
    }
}

fn post(body: String, user_agent: &str) -> backend::collector::HttpRequest {
    backend::collector::HttpRequest {
        method: "POST".into(),
        path: "/measure/events".into(),
        user_agent: user_agent.into(),
        source_ip: "203.0.113.9".into(),
        body: Some(body),
        ..Default::default()
    }
}

/// The counters as `adctl report` reads them: with the operator's
/// credentials (the collector's role may not read them), over the days
/// around the tests' clock.
fn counters(env: &Env) -> backend::measure_aws::DynamoCounters {
    backend::measure_aws::DynamoCounters::new(
        env.operator.dynamodb.clone(),
        aws_calls::MEASURE_TABLE,
    )
    .days(T0 - 86_400, T0 + 86_400)
}

async fn show_counts(
    env: &Env,
    channel: &str,
    show: u64,
) -> Result<backend::measure::ShowCounts, Failed> {
    Ok(counters(env)
        .shows()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|s| s.channel == channel && s.show == show)
        .unwrap_or_default())
}

async fn collector_counts_each_event_once_and_streams_it_raw(env: Arc<Env>) -> Result<(), Failed> {
    // Drains the shared stream: not during the load test (see below).
    let _quiet = WALL_CLOCK.read().await;
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
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        Ok::<String, std::io::Error>(answer)
    };
    let host = format!("127.0.0.1:{port}");
    let report = get("/measure/report?format=json", host.clone(), Some("t0ken")).await?;
    let (head, body) = report.split_once("\r\n\r\n").unwrap_or_default();
    assert!(head.starts_with("HTTP/1.1 200"), "{report}");
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
        page.starts_with("HTTP/1.1 200") && page.contains("<script"),
        "{page}"
    );
    let no_token = get("/measure/report", host, None).await?;
    assert!(no_token.starts_with("HTTP/1.1 401"), "{no_token}");
    let rebound = get("/measure/report", "attacker.example".into(), Some("t0ken")).await?;
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
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

/// List prices (us-east-1, on demand, as of 2025) the load test prices its
/// recorded calls at; docs/figures.md states them.
mod list_prices {
    /// Kinesis Data Streams on demand, per GB ingested (records rounded up
    /// to 1 KB) and per GB retrieved.
    pub const KINESIS_INGEST_GB: f64 = 0.08;
    pub const KINESIS_RETRIEVAL_GB: f64 = 0.04;
    /// DynamoDB on demand, per million write and read request units.
    pub const DYNAMODB_MILLION_WRU: f64 = 0.625;
    pub const DYNAMODB_MILLION_RRU: f64 = 0.125;
    /// Firehose direct put, per GB (records rounded up to 5 KB).
    pub const FIREHOSE_GB: f64 = 0.029;
    /// Lambda arm64: per million requests, per GB-second.
    pub const LAMBDA_MILLION_REQUESTS: f64 = 0.20;
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    /// CloudFront, per million HTTPS requests (North America).
    pub const CLOUDFRONT_MILLION_REQUESTS: f64 = 1.00;
}

/// 10,000 viewers each send an impression and a viewable, and 1,000 phones
/// scan, through a proxy that throttles one DynamoDB or Kinesis call in
/// ten and holds every item to 1,000 writes a second. What the player and
/// the event source mapping do on failure is done here: a batch answered
/// 503 is sent again, a failed stream batch is delivered again. Then the
/// counters equal the events sent, none lost and none twice; no counter
/// item takes more than one write per delivered batch; and the collector's
/// own metric (what the `CollectorFailedBatches` alarm watches) counts the
/// batches that failed. Prints the figures docs/figures.md quotes.
async fn measurement_counts_10000_viewers_exactly_through_throttling(
    env: Arc<Env>,
) -> Result<(), Failed> {
    use ad_contract::measure::EventKind::*;
    use futures_util::StreamExt;
    const VIEWERS: usize = 10_000;
    const SCANS: usize = 1_000;
    let _alone = WALL_CLOCK.write().await;
    measurement_setup(&env).await?;
    let proxy = RecordingProxy::start_with_faults(
        &env.standin.url,
        aws_calls::Faults {
            throttled_share: 0.10,
            item_writes_a_second: 1_000,
        },
    )
    .await?;
    proxy.set_moto(&env._moto.url);
    // The SDK's standard retries as deployed (3 attempts), with backoffs
    // in milliseconds instead of seconds: what is tested is that nothing
    // is lost or counted twice, not how long a throttled call waits.
    let quick_retries = aws_config::retry::RetryConfig::standard()
        .with_initial_backoff(Duration::from_millis(2))
        .with_max_backoff(Duration::from_millis(20));
    let collector_sdk = sdk_config_as("collector")
        .await
        .into_builder()
        .retry_config(quick_retries.clone())
        .build();
    let service = Arc::new(backend::collector::CollectorService {
        collector: backend::measure::Collector::new(env.catalog.clone(), signer()),
        store: Box::new(backend::measure_aws::KinesisQueue {
            kinesis: aws_sdk_kinesis::Client::from_conf(
                aws_sdk_kinesis::config::Builder::from(&collector_sdk)
                    .endpoint_url(&proxy.url)
                    .build(),
            ),
            stream: aws_calls::MEASURE_EVENTS.into(),
        }),
        clock: Box::new(|| T0),
        origin_secret: None,
    });
    let show = show_ref("crowd", "mug", T0 * 1000 + 900);
    let started = Instant::now();
    // Each viewer's beacon until it is taken, as the player's queue does.
    let (mut failed_batches, mut answered_503) = (0u64, 0u64);
    let mut pending: Vec<usize> = (0..VIEWERS).collect();
    for _round in 0..10 {
        if pending.is_empty() {
            break;
        }
        let answers: Vec<(usize, backend::collector::HttpResponse, u64)> =
            futures_util::stream::iter(pending.iter().map(|&v| {
                let service = service.clone();
                let show = show.clone();
                async move {
                    let body = batch(
                        &format!("crowd{v}"),
                        &[("i", Impression, &show), ("v", Viewable, &show)],
                    );
                    let (answer, metrics) =
                        backend::collector::handle_measured(&service, &post_from(body, v)).await;
                    (v, answer, metrics.failed_batches)
                }
            }))
            .buffer_unordered(32)
            .collect()
            .await;
        pending.clear();
        for (v, answer, failed) in answers {
            failed_batches += failed;
            match answer.status {
                200 => {}
                503 => {
                    answered_503 += 1;
                    pending.push(v)
                }
                other => return Err(format!("viewer {v}: {other} {}", answer.body).into()),
            }
        }
    }
    assert!(pending.is_empty(), "{} beacons never taken", pending.len());
    let link = signer().link(
        ad_contract::measure::LinkKind::Scan,
        &show.channel,
        &show.product,
        show.show,
    );
    let lost_links: u64 = futures_util::stream::iter((0..SCANS).map(|i| {
        let service = service.clone();
        let path = format!("/r/{}", link.token());
        async move {
            let request = backend::collector::HttpRequest {
                method: "GET".into(),
                path,
                user_agent: CHROME.into(),
                source_ip: format!("198.18.{}.{}", i / 250, i % 250 + 1),
                ..Default::default()
            };
            backend::collector::handle_measured(&service, &request)
                .await
                .1
                .lost_links
        }
    }))
    .buffer_unordered(32)
    .collect::<Vec<u64>>()
    .await
    .into_iter()
    .sum();
    let collected = started.elapsed();
    // The aggregator, as deployed (batches up to 10,000, SDK retries), its
    // writes through the same faults; a failed batch is delivered again.
    let aggregator_sdk = sdk_config_as("aggregator")
        .await
        .into_builder()
        .retry_config(quick_retries)
        .build();
    let store = backend::measure_aws::CounterStore {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&aggregator_sdk)
                .endpoint_url(&proxy.url)
                .build(),
        ),
        table: aws_calls::MEASURE_TABLE.into(),
        firehose: aws_sdk_firehose::Client::from_conf(
            aws_sdk_firehose::config::Builder::from(&aggregator_sdk)
                .endpoint_url(&proxy.url)
                .build(),
        ),
        delivery_stream: MEASURE_STREAM.into(),
        clock: Box::new(|| T0),
    };
    let deliveries_before = DELIVERIES.load(std::sync::atomic::Ordering::Relaxed);
    let aggregating = Instant::now();
    drain_stream_with(&env, &store, 10_000, 20).await?;
    let aggregated = aggregating.elapsed();
    let deliveries = DELIVERIES.load(std::sync::atomic::Ordering::Relaxed) - deliveries_before;

    let counts = show_counts(&env, "crowd", T0 * 1000 + 900).await?;
    assert_eq!(lost_links, 0, "no scan lost");
    assert_eq!(
        (counts.impressions, counts.viewable, counts.scans),
        (VIEWERS as u64, VIEWERS as u64, SCANS as u64),
        "exactly the events sent"
    );
    let ledger = proxy.ledger();
    assert!(ledger.throttled > 0, "the proxy throttled nothing");
    let counter_writes = |prefix: &str| {
        ledger
            .writes_per_item
            .iter()
            .filter(|(pk, _)| pk.starts_with(prefix) && pk.contains("#crowd#"))
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    };
    let (show_writes, hour_writes) = (counter_writes("s#"), counter_writes("h#"));
    // One write per counter item per delivered batch at most (its retry
    // rounds included), whatever the audience.
    assert!(
        show_writes <= deliveries * u64::from(backend::measure_aws::WRITE_ROUNDS),
        "{show_writes} writes to the show's counters in {deliveries} deliveries"
    );
    assert!(ledger.max_item_writes_a_second <= 1_000);
    // The collector's metric saw exactly the batches answered 503.
    assert_eq!(failed_batches, answered_503);
    let events = (2 * VIEWERS + SCANS) as f64;
    let ddb_writes: u64 = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
        .iter()
        .map(|a| ledger.calls.get(*a).copied().unwrap_or(0))
        .sum();
    let updates = ledger
        .calls
        .get("dynamodb:UpdateItem")
        .copied()
        .unwrap_or(0);
    let gb = |bytes: f64| bytes / 1e9;
    use list_prices::*;
    let kinesis_cost =
        gb(ledger.kinesis_kb_units as f64 * 1024.0) * (KINESIS_INGEST_GB + KINESIS_RETRIEVAL_GB);
    // A counter update writes the item and its `report` index entry; an
    // impression marker is a write, its look-up a strongly consistent read.
    let dynamodb_cost = (ddb_writes + updates + ledger.batch_items_written) as f64 / 1e6
        * DYNAMODB_MILLION_WRU
        + ledger.batch_keys_read as f64 / 1e6 * DYNAMODB_MILLION_RRU;
    let firehose_cost = gb(ledger.firehose_5kb_units as f64 * 5120.0) * FIREHOSE_GB;
    let requests = (VIEWERS + SCANS) as f64;
    // The collector: 256 MB, 20 ms a request (its bench: a few ms of CPU);
    // the aggregator: 256 MB, 5 s a batch of 10,000 (generous).
    let lambda_cost = (requests + deliveries as f64) / 1e6 * LAMBDA_MILLION_REQUESTS
        + (requests * 0.25 * 0.020 + deliveries as f64 * 0.25 * 5.0) * LAMBDA_GB_SECOND;
    let cloudfront_cost = requests / 1e6 * CLOUDFRONT_MILLION_REQUESTS;
    let per_million = |cost: f64| cost / events * 1e6;
    let aws = kinesis_cost + dynamodb_cost + firehose_cost + lambda_cost;
    println!(
        "measurement at an audience: {VIEWERS} viewers x 2 events + {SCANS} scans = {events} events; \
         collected in {:.1} s over moto, aggregated in {:.1} s ({deliveries} batch deliveries)",
        collected.as_secs_f64(),
        aggregated.as_secs_f64()
    );
    println!(
        "  throttled calls injected: {} (10% of DynamoDB and Kinesis calls); beacons answered 503 and sent again: {failed_batches}; counts exact",
        ledger.throttled
    );
    println!(
        "  writes to the show's counter item: {show_writes}; to an hour's: {hour_writes}; most writes to one item in a second: {}",
        ledger.max_item_writes_a_second
    );
    println!(
        "  calls: {:?}; impression markers written {}, looked up {}; Kinesis {} records ({} KB units); Firehose {} records ({} bytes)",
        ledger.calls,
        ledger.batch_items_written,
        ledger.batch_keys_read,
        ledger.kinesis_records,
        ledger.kinesis_kb_units,
        ledger.firehose_records,
        ledger.firehose_bytes
    );
    println!(
        "  cost per million counted events at list prices: Kinesis ${:.3}, DynamoDB ${:.3}, Firehose ${:.3}, Lambda ${:.3}: AWS ${:.2}; plus CloudFront requests ${:.2}",
        per_million(kinesis_cost),
        per_million(dynamodb_cost),
        per_million(firehose_cost),
        per_million(lambda_cost),
        per_million(aws),
        per_million(cloudfront_cost)
    );
    // Every call the load made is one the stack grants.
    aws_calls::check_against_reviewed_list(&proxy.calls(), false)?;
    Ok(())
}
