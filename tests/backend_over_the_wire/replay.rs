//! Replay in AWS, over moto: every function that publishes cues keeps them
//! in the recordings bucket (`cue-log/`), and IVS's recording-ended file,
//! whose S3 notification reaches on-thumbnail, becomes the recording's
//! `cues.json` and an entry of `recordings/index.json`.

use super::*;
use ad_contract::timeline::CueTimeline;
use backend::handlers::on_tick;
use backend::replay::{CueLog, INDEX_KEY};
use backend::replay_aws::S3RecordingArchive;

scenarios!(
    a_recording_gets_its_cue_timeline_and_an_index_entry,
    the_builtin_detectors_function_keeps_cues_and_finishes_recordings_too,
);

/// The pipeline with replay on, as the stack deploys it (`RECORDINGS_BUCKET`).
fn with_replay(mut pipeline: Pipeline, clients: &TestClients) -> Pipeline {
    pipeline.replay = Some(Arc::new(CueLog::new(Arc::new(S3RecordingArchive {
        s3: clients.s3.clone(),
        bucket: BUCKET.into(),
    }))));
    pipeline
}

fn rfc3339(unix: u64) -> String {
    studio::civil::Utc::from_unix_millis(i64::try_from(unix * 1000).unwrap_or(i64::MAX))
        .rfc3339_millis()
}

/// Writes IVS's `recording-ended.json` for the channel's recording (the
/// layout `thumbnail_key` uses), returning its key.
async fn recording_ended(
    env: &Env,
    ch: &Channel,
    started: u64,
    ended: u64,
) -> anyhow::Result<String> {
    let key = format!(
        "ivs/v1/{ACCOUNT}/{id}/2026/11/24/17/5/rec{id}/events/recording-ended.json",
        id = ch.id
    );
    let body = serde_json::json!({
        "version": "v1",
        "channel_arn": ch.arn,
        "recording_started_at": rfc3339(started),
        "recording_ended_at": rfc3339(ended),
        "recording_status": "RECORDING_ENDED",
        "media": {"hls": {"duration_ms": (ended - started) * 1000, "path": "media/hls",
            "playlist": "master.m3u8", "renditions": [{"path": "480p30", "playlist": "playlist.m3u8"}]}}
    });
    env.clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(body.to_string().into_bytes().into())
        .send()
        .await?;
    Ok(key)
}

/// The `cues.json` written for the recording whose end is `ended_key`, and
/// the recording's prefix.
async fn written_timeline(env: &Env, ended_key: &str) -> Result<(String, CueTimeline), Failed> {
    let prefix = ended_key.trim_end_matches("/events/recording-ended.json");
    let timeline =
        CueTimeline::from_json(&read(env, &format!("{prefix}/media/hls/cues.json")).await?)
            .map_err(|e| format!("cues.json does not read: {e}"))?;
    Ok((prefix.to_owned(), timeline))
}

/// Each marker as (seconds, product).
fn markers_of(timeline: &CueTimeline) -> Vec<(f64, String)> {
    timeline
        .markers()
        .into_iter()
        .map(|m| (m.at, m.product.as_str().to_owned()))
        .collect()
}

async fn read(env: &Env, key: &str) -> anyhow::Result<String> {
    let out = env
        .clients
        .s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await?;
    Ok(String::from_utf8(out.body.collect().await?.to_vec())?)
}

async fn a_recording_gets_its_cue_timeline_and_an_index_entry(env: Arc<Env>) -> Result<(), Failed> {
    let rules = Rules {
        max_active: 2,
        ..Rules::default()
    };
    let mut ch = Channel::new(&env, "replayRecording", rules);
    ch.pipeline = with_replay(ch.pipeline, &env.on_thumbnail);
    // As deployed, on-thumbnail keeps what it saw for the operator.
    ch.pipeline.sightings = Some(Arc::new(backend::sightings_aws::S3SightingLog {
        s3: env.on_thumbnail.s3.clone(),
        bucket: BUCKET.into(),
        clock: ch.clock.clone(),
    }));
    // The recording starts at T0; the first thumbnail shows the mug at +2 s.
    ch.clock.advance(2);
    let report = ch
        .thumbnail(&env.standin.state, 1, &[("mug", 90.0)])
        .await?;
    ensure(
        report.shown.len() == 1,
        format!("the mug shows: {report:?}"),
    )?;
    let execution = ch.pipeline.store.load(&ch.arn).await?.workflow;
    // The workflow's re-sends (on-tick's own role and log) count down the
    // same card: the timeline keeps one cue for them.
    let tick = with_replay(
        pipeline(
            &env.on_tick,
            TABLE,
            &env.quiet_machine,
            &env.catalog,
            rules,
            ch.clock.clone(),
        ),
        &env.on_tick,
    );
    // Every 5 s of the show, one workflow step (after the mug at +2 s:
    // +7, +12, +17), then the cap beside it at +20 s, then +25, +30, +35:
    // the mug's 20 s end at +22 and the cap's 10 s at +30, so on-tick clears.
    for (iteration, advance) in [5, 5, 5, 3, 5, 5, 5].into_iter().enumerate() {
        ch.clock.advance(advance);
        // IVS takes 5 PutMetadata a second on a channel (the stand-in too).
        tokio::time::sleep(Duration::from_millis(400)).await;
        if advance == 3 {
            ch.thumbnail(&env.standin.state, 2, &[("cap", 80.0)])
                .await?;
            continue;
        }
        let input = serde_json::json!({"channel_arn": ch.arn, "execution": execution, "iteration": iteration});
        on_tick(&tick, LambdaEvent::new(input, Context::default())).await?;
    }
    let accepted = accepted_sets(&env.standin.state, &ch.arn);
    ensure(accepted.len() >= 5, format!("cues sent: {accepted:?}"))?;

    // The recording ends at +40 s: IVS writes recording-ended.json, and S3
    // notifies on-thumbnail.
    let ended_key = recording_ended(&env, &ch, T0, T0 + 40).await?;
    let event = s3_event(BUCKET, &[&ended_key]);
    let report = on_thumbnail(&ch.pipeline, LambdaEvent::new(event, Context::default())).await?;
    ensure(
        report.recordings == 1 && report.failed == 0,
        format!("{report:?}"),
    )?;

    let (prefix, timeline) = written_timeline(&env, &ended_key).await?;
    let at: Vec<f64> = timeline.cues.iter().map(|c| c.at).collect();
    let products = |t: f64| -> Vec<String> {
        timeline
            .cards_at(t)
            .iter()
            .map(|i| i.id.as_str().to_owned())
            .collect()
    };
    ensure(
        timeline.duration_secs == 40.0,
        format!("duration {}", timeline.duration_secs),
    )?;
    ensure(
        at.first() == Some(&2.0),
        format!("the mug's cue at +2 s: {at:?}"),
    )?;
    ensure(products(1.0).is_empty(), "nothing before the first cue")?;
    ensure(
        products(10.0) == ["mug"],
        format!("at 10 s: {:?}", products(10.0)),
    )?;
    ensure(
        products(21.0) == ["mug", "cap"],
        format!("at 21 s: {:?}", products(21.0)),
    )?;
    ensure(
        products(35.0).is_empty(),
        format!("at 35 s: {:?}", products(35.0)),
    )?;
    // Re-sends dropped: the mug, the cap beside it, the mug's end, the clear.
    ensure(timeline.cues.len() <= 4, format!("re-sends kept: {at:?}"))?;
    let markers = markers_of(&timeline);
    ensure(
        markers == [(2.0, "mug".to_owned()), (20.0, "cap".to_owned())],
        format!("markers {markers:?}"),
    )?;
    ensure(
        timeline.catalogs.len() == 1
            && timeline.catalogs[0].1.products().len() == env.catalog.products().len(),
        "the catalog version the cues name is in cues.json",
    )?;

    // The index lists it, with what the player page needs.
    let index: Vec<Value> = serde_json::from_str(&read(&env, INDEX_KEY).await?)
        .map_err(|e| format!("the index is not a JSON array: {e}"))?;
    let entry = index
        .iter()
        .find(|e| e["recording"] == format!("/{prefix}/"))
        .ok_or("the recording is not in the index")?;
    ensure(
        entry["playlist"] == format!("/{prefix}/media/hls/master.m3u8"),
        format!("{entry}"),
    )?;
    ensure(
        entry["cues"] == format!("/{prefix}/media/hls/cues.json"),
        format!("{entry}"),
    )?;
    ensure(
        entry["products"] == serde_json::json!(["cap", "mug"]),
        format!("{entry}"),
    )?;
    ensure(entry["duration_secs"] == 40.0, format!("{entry}"))?;

    // S3 delivers an event again: the same files, one index entry.
    let event = s3_event(BUCKET, &[&ended_key]);
    on_thumbnail(&ch.pipeline, LambdaEvent::new(event, Context::default())).await?;
    let again: Vec<Value> = serde_json::from_str(&read(&env, INDEX_KEY).await?).unwrap_or_default();
    let entries = again
        .iter()
        .filter(|e| e["recording"] == format!("/{prefix}/"))
        .count();
    ensure(entries == 1, format!("{entries} entries for one recording"))?;

    // A recording-ended file that is not IVS's: a clear error, nothing lost.
    let broken = format!(
        "ivs/v1/{ACCOUNT}/{id}/2026/11/24/17/5/broken{id}/events/recording-ended.json",
        id = ch.id
    );
    env.clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(&broken)
        .body(b"{\"channel_arn\": 7}".to_vec().into())
        .send()
        .await?;
    let event = s3_event(BUCKET, &[&broken]);
    match on_thumbnail(&ch.pipeline, LambdaEvent::new(event, Context::default())).await {
        Err(e) => ensure(
            e.to_string().contains("channel_arn"),
            format!("names the field: {e}"),
        )?,
        Ok(r) => return Err(format!("a broken recording-ended.json was taken: {r:?}").into()),
    }
    Ok(())
}

/// The stack grants the built-in detector's on-thumbnail the same replay
/// calls: it keeps the cues it publishes and finishes recordings.
async fn the_builtin_detectors_function_keeps_cues_and_finishes_recordings_too(
    env: Arc<Env>,
) -> Result<(), Failed> {
    let mut ch = Channel::as_role(
        &env,
        &env.on_thumbnail_builtin,
        "replayBuiltin",
        Rules::default(),
    );
    ch.pipeline = with_replay(ch.pipeline, &env.on_thumbnail_builtin);
    ch.pipeline.detector = None;
    // The stack lets it keep its sightings for the operator too.
    {
        use backend::sightings::SightingLog as _;
        let log = backend::sightings_aws::S3SightingLog {
            s3: env.on_thumbnail_builtin.s3.clone(),
            bucket: BUCKET.into(),
            clock: ch.clock.clone(),
        };
        let key = ch.key(3);
        log.record(backend::sightings::Sighting::new(
            &ch.arn,
            &key,
            T0,
            &[],
            &[],
            None,
        ))
        .await;
        // Read back as the operator function would (the harness's client:
        // on-thumbnail only writes them).
        let reader = backend::sightings_aws::S3SightingLog {
            s3: env.clients.s3.clone(),
            bucket: BUCKET.into(),
            clock: ch.clock.clone(),
        };
        let kept = reader.newest_of(&ch.arn, 5).await?;
        ensure(
            kept.len() == 1 && kept[0]["key"] == key.as_str(),
            format!("{kept:?}"),
        )?;
    }
    ch.clock.advance(4);
    backend::operator::show_now(&ch.pipeline, &ch.arn, "mug")
        .await
        .map_err(|e| format!("show: {e}"))?;
    let ended_key = recording_ended(&env, &ch, T0, T0 + 30).await?;
    let event = s3_event(BUCKET, &[&ended_key]);
    let report = on_thumbnail(&ch.pipeline, LambdaEvent::new(event, Context::default())).await?;
    ensure(report.recordings == 1, format!("{report:?}"))?;
    let (_, timeline) = written_timeline(&env, &ended_key).await?;
    let markers = markers_of(&timeline);
    ensure(
        markers == [(4.0, "mug".to_owned())],
        format!("markers {markers:?}"),
    )
}
