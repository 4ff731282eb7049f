//! The Lambda handlers, as plain async functions over a [`Pipeline`].
//!
//! Each has two layers, as in aws-lambda-rust-runtime's examples: the
//! business function ([`handle_thumbnails`], [`tick`]) takes plain values, and
//! the Lambda wrapper ([`on_thumbnail`], [`on_tick`]) only parses the event
//! into them. The studio's local chain calls the business functions, with no
//! event JSON and no Lambda types; tests call either.

use crate::decision::{self, ChannelState, Rules, StateChange};
use crate::measure::ShowSigner;
use crate::ports::{
    Chain, Clock, CuePublisher, DetectError, Detector, ImageRef, PublishError, RetryPolicy,
    SaveOutcome, ServiceError, StateStore, StoreError, WorkflowInput, WorkflowStarter,
};
use crate::thumbnail_key::{channel_id_of, ThumbnailKey};
use ad_contract::{Catalog, ChannelId, Cue};
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use tracing::{error, info, warn};

pub use crate::decision::MAX_WORKFLOW_STEPS;

/// Everything a handler needs: the catalog, the rules and the edges.
pub struct Pipeline {
    /// The catalog as it is now (an operator may change it during a show).
    pub catalog: Arc<crate::live_catalog::LiveCatalog>,
    pub rules: Rules,
    pub region: String,
    pub store: Arc<dyn StateStore>,
    pub publisher: Arc<dyn CuePublisher>,
    /// `None` in functions that never look at images (the workflow step).
    pub detector: Option<Arc<dyn Detector>>,
    pub workflow: Arc<dyn WorkflowStarter>,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    /// Thumbnail events older than this many seconds (by their `eventTime`,
    /// against `clock`) are skipped and counted as stale; `None` takes
    /// every event (the studio, whose events are made as frames are).
    pub max_event_age: Option<u64>,
    /// With measurement on, every cue is stamped with its channel and each
    /// show's tag before it is sent (see [`crate::measure`]).
    pub measurement: Option<ShowSigner>,
    /// Where each thumbnail's detections and verdicts go for the operator's
    /// console (`None`: nowhere).
    pub sightings: Option<Arc<dyn crate::sightings::SightingLog>>,
    /// Where published cues are kept for the recordings' replay timelines,
    /// and the recordings bucket whose recording-ended events on-thumbnail
    /// turns into `cues.json` (`None`: no replay timeline; the studio
    /// writes its own).
    pub replay: Option<Arc<crate::replay::CueLog>>,
}

impl Pipeline {
    /// The catalog in effect now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.catalog()
    }

    /// Makes `version` the catalog in effect, once the detector is ready
    /// for it (its index rebuilt if references changed). On error nothing
    /// changed.
    pub async fn replace_catalog(
        &self,
        version: crate::live_catalog::CatalogVersion,
    ) -> Result<(), crate::live_catalog::CatalogChangeError> {
        if let Some(detector) = &self.detector {
            detector
                .follow_catalog(&version.catalog)
                .await
                .map_err(|error| crate::live_catalog::CatalogChangeError::Detector {
                    version: version.version.clone(),
                    error,
                })?;
        }
        info!(version = %version.version, products = version.catalog.products().len(), "catalog version in effect");
        self.catalog.set(version);
        Ok(())
    }

    /// Follows a catalog changed at its source (checked at most every
    /// [`crate::live_catalog::CHECK_EVERY_SECONDS`]). A change that cannot
    /// be read or used is logged and the last good catalog stays: a bad
    /// edit must not stop a show.
    pub async fn follow_catalog(&self) {
        let now = self.clock.now();
        let result = match self.catalog.poll(now).await {
            Ok(Some(version)) => self.replace_catalog(version).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            error!(error = %Chain(&e), "catalog change not taken");
        }
    }
}

/// True when an event from `event_unix` (seconds) is more than `max_age`
/// seconds old at `now`. An event from the future (clock skew between S3
/// and Lambda) is not stale.
pub fn is_stale(event_unix: i64, now: u64, max_age: u64) -> bool {
    now as i128 - event_unix as i128 > max_age as i128
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("malformed event: {0}")]
    MalformedEvent(String),
    #[error("{failed} of {total} record(s) failed; first: {first}")]
    RecordsFailed {
        failed: usize,
        total: usize,
        first: String,
    },
    #[error("channel state")]
    Store(#[from] StoreError),
    #[error("channel {0}: too many concurrent writes, gave up after bounded retries")]
    Contended(String),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::MalformedEvent(_) => "MalformedEvent",
            HandlerError::RecordsFailed { .. } => "RecordsFailed",
            HandlerError::Store(_) => "StateStoreError",
            HandlerError::Contended(_) => "Contended",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: Chain(&e).to_string(),
        }
    }
}

/// What one on-thumbnail invocation did (the function's return value).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThumbnailReport {
    pub records: usize,
    pub thumbnails: usize,
    pub skipped: usize,
    /// `<channel-arn> <product-id>` for every product shown.
    pub shown: Vec<String>,
    pub model_not_ready: bool,
    pub failed: usize,
    /// Thumbnails skipped because their event was older than the bound.
    #[serde(default)]
    pub stale: usize,
    /// Recordings whose end was turned into `cues.json` and an index entry.
    #[serde(default)]
    pub recordings: usize,
}

/// One S3 notification record, as [`handle_thumbnails`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailRecord {
    /// `ObjectCreated:Put` and the like; other events are skipped.
    pub event_name: String,
    pub bucket: Option<String>,
    /// The object key as S3 events spell it (URL-encoded).
    pub key: Option<String>,
    /// When S3 wrote the object (Unix seconds): an old one is stale.
    pub event_unix: i64,
}

impl ThumbnailRecord {
    /// A thumbnail just written to `bucket` at `key`, at `event_unix`. IVS
    /// thumbnail keys hold only letters, digits, `/`, `-`, `_` and `.`,
    /// which S3 events do not escape, so an IVS key goes in as it is.
    pub fn created(bucket: &str, key: &str, event_unix: i64) -> Self {
        Self {
            event_name: "ObjectCreated:Put".into(),
            bucket: Some(bucket.into()),
            key: Some(key.into()),
            event_unix,
        }
    }
}

/// The Lambda wrapper: an S3 event notification into [`ThumbnailRecord`]s,
/// then [`handle_thumbnails`].
pub async fn on_thumbnail(
    p: &Pipeline,
    event: LambdaEvent<Value>,
) -> Result<ThumbnailReport, HandlerError> {
    let s3: S3Event = serde_json::from_value(event.payload).map_err(|e| {
        HandlerError::MalformedEvent(format!(
            "not an S3 event notification ({e}); on-thumbnail expects S3 ObjectCreated events from the IVS recording bucket"
        ))
    })?;
    let records: Vec<ThumbnailRecord> = s3
        .records
        .iter()
        .map(|r| ThumbnailRecord {
            event_name: r.event_name.clone().unwrap_or_default(),
            bucket: r.s3.bucket.name.clone(),
            key: r.s3.object.key.clone(),
            event_unix: r.event_time.timestamp(),
        })
        .collect();
    handle_thumbnails(p, &records).await
}

/// S3 ObjectCreated → detect → decide → conditional write → PutMetadata →
/// start the workflow, record by record.
pub async fn handle_thumbnails(
    p: &Pipeline,
    records: &[ThumbnailRecord],
) -> Result<ThumbnailReport, HandlerError> {
    p.follow_catalog().await;
    let mut report = ThumbnailReport {
        records: records.len(),
        ..ThumbnailReport::default()
    };
    let mut first_failure = None;
    for (index, record) in records.iter().enumerate() {
        let event_name = record.event_name.as_str();
        if !event_name.starts_with("ObjectCreated:") {
            info!(
                record = index,
                event_name, "skipped: not an ObjectCreated event"
            );
            report.skipped += 1;
            continue;
        }
        let (Some(bucket), Some(encoded_key)) = (&record.bucket, &record.key) else {
            let why = format!("record {index}: s3.bucket.name or s3.object.key is missing");
            error!(record = index, "{why}");
            report.failed += 1;
            first_failure.get_or_insert(why);
            continue;
        };
        let decoded_key = crate::thumbnail_key::url_decode(encoded_key);
        if crate::replay::recording_ended_prefix(&decoded_key).is_some() {
            let Some(log) = &p.replay else {
                info!(record = index, key = %decoded_key, "skipped: a recording ended, and replay is off (RECORDINGS_BUCKET unset)");
                report.skipped += 1;
                continue;
            };
            let expired_before_ms = log.retention_days.map(|days| {
                p.clock
                    .now_ms()
                    .saturating_sub(days.saturating_mul(86_400_000))
            });
            match crate::replay::finish_recording(
                log.archive.as_ref(),
                &decoded_key,
                expired_before_ms,
            )
            .await
            {
                Ok(done) => {
                    info!(record = index, cues_json = %done.cues_key, cues = done.cues, "recording finished for replay");
                    report.recordings += 1;
                }
                Err(e) => {
                    let why = format!("record {index}: {}", Chain(&e));
                    error!(record = index, error = %Chain(&e), "recording not finished for replay");
                    report.failed += 1;
                    first_failure.get_or_insert(why);
                }
            }
            continue;
        }
        let key = match ThumbnailKey::parse_event_key(encoded_key) {
            Ok(k) => k,
            Err(why) => {
                info!(record = index, key = %encoded_key, reason = %why, "skipped: not an IVS thumbnail");
                report.skipped += 1;
                continue;
            }
        };
        report.thumbnails += 1;
        if let Some(max_age) = p.max_event_age {
            let event_unix = record.event_unix;
            let now = p.clock.now();
            if is_stale(event_unix, now, max_age) {
                warn!(
                    channel = %key.channel_arn(&p.region),
                    key = %encoded_key,
                    age_seconds = now as i64 - event_unix,
                    max_age_seconds = max_age,
                    "skipped: stale thumbnail event (delivered late); an old frame does not show a product now"
                );
                report.stale += 1;
                continue;
            }
        }
        let image = ImageRef::S3 {
            bucket: bucket.clone(),
            key: decoded_key,
        };
        match process_thumbnail(p, &key, &image).await {
            Ok(shown) => report.shown.extend(shown),
            Err(ThumbnailFailure::ModelNotReady(why)) => {
                // One line per invocation, however many records hit it.
                if !report.model_not_ready {
                    error!(channel = %key.channel_arn(&p.region), reason = %why, "detection model not running; no state changed");
                }
                report.model_not_ready = true;
            }
            Err(ThumbnailFailure::BadImage(why)) => {
                warn!(channel = %key.channel_arn(&p.region), key = %encoded_key, reason = %why, "skipped: image cannot be analysed");
                report.skipped += 1;
            }
            Err(ThumbnailFailure::Failed(why)) => {
                error!(channel = %key.channel_arn(&p.region), key = %encoded_key, reason = %why, "thumbnail failed");
                report.failed += 1;
                first_failure.get_or_insert(why);
            }
        }
    }
    match first_failure {
        // Failing the invocation lets Lambda's bounded async retries and the
        // on-failure destination take it; redoing the records that succeeded
        // is harmless (the decision is idempotent per display window).
        Some(first) => Err(HandlerError::RecordsFailed {
            failed: report.failed,
            total: report.records,
            first,
        }),
        None => Ok(report),
    }
}

enum ThumbnailFailure {
    ModelNotReady(String),
    BadImage(String),
    Failed(String),
}

async fn process_thumbnail(
    p: &Pipeline,
    key: &ThumbnailKey,
    image: &ImageRef,
) -> Result<Vec<String>, ThumbnailFailure> {
    let channel = key.channel_arn(&p.region);
    let detector = p
        .detector
        .as_ref()
        .ok_or_else(|| ThumbnailFailure::Failed("no detector configured".into()))?;
    // The channel's state is read while the detector works: every event
    // decides on it, and the two calls do not depend on each other, so the
    // read costs no wall time of its own. A state that changes in between
    // makes the conditional write fail and the decision is taken again on a
    // fresh read, as for any concurrent writer.
    let (state, detections) = tokio::join!(p.store.load(&channel), detector.detect(image));
    let detections = detections.map_err(|e| match e {
        DetectError::ModelNotReady(m) => ThumbnailFailure::ModelNotReady(m.to_string()),
        DetectError::BadImage(m) => ThumbnailFailure::BadImage(m.to_string()),
        DetectError::Other(m) => ThumbnailFailure::Failed(format!("detector: {m}")),
    })?;
    let state =
        state.map_err(|e| ThumbnailFailure::Failed(Chain(&HandlerError::from(e)).to_string()))?;

    let catalog = p.catalog();
    let (decision, _state) = save_with_retry_from(p, &channel, state, |state, now| {
        decision::decide(&detections, &catalog, state, now, &p.rules, &key.channel_id)
    })
    .await
    .map_err(|e| ThumbnailFailure::Failed(Chain(&e).to_string()))?;

    for d in &decision.labels {
        info!(
            channel = %channel,
            label = %d.label,
            product = d.product.as_ref().map(|p| p.as_str()).unwrap_or(""),
            confidence = d.confidence,
            outcome = d.outcome.as_str(),
            "decision"
        );
    }
    if decision.labels.is_empty() {
        info!(channel = %channel, outcome = "no_label", "decision");
    }

    let mut published = None;
    if let Some(cue) = &decision.cue {
        match publish_cue(p, &channel, cue).await {
            Err(PublishError::NotBroadcasting(_)) => {
                reset_channel(p, &channel).await;
                return Ok(Vec::new());
            }
            Err(e) => {
                warn!(channel = %channel, error = %Chain(&e), "cue not published; the workflow re-publishes it")
            }
            Ok(sent) => published = sent.encode().ok(),
        }
    }
    if let Some(log) = &p.sightings {
        let ImageRef::S3 {
            key: object_key, ..
        } = image;
        log.record(crate::sightings::Sighting::new(
            &channel,
            object_key,
            p.clock.now(),
            &detections,
            &decision.labels,
            published,
        ))
        .await;
    }
    if let Some(execution) = &decision.start_workflow {
        start_workflow(p, &channel, execution).await;
    }
    Ok(decision
        .shown()
        .into_iter()
        .map(|id| format!("{channel} {id}"))
        .collect())
}

/// Load, decide, conditionally save; on a conflict reload and decide again,
/// a bounded number of times. The one write loop of every handler: `decide`
/// is a transition of [`crate::decision`]. Returns the transition that was
/// written (or that needed no write) and the state it leaves.
pub(crate) async fn save_with_retry<T, F>(
    p: &Pipeline,
    channel: &str,
    decide: F,
) -> Result<(T, ChannelState), HandlerError>
where
    T: StateChange,
    F: Fn(&ChannelState, u64) -> T,
{
    let state = p.store.load(channel).await?;
    save_with_retry_from(p, channel, state, decide).await
}

/// [`save_with_retry`] from a state already read: the first decision is
/// taken on it, and each conflict reads the state again.
pub(crate) async fn save_with_retry_from<T, F>(
    p: &Pipeline,
    channel: &str,
    first_read: ChannelState,
    decide: F,
) -> Result<(T, ChannelState), HandlerError>
where
    T: StateChange,
    F: Fn(&ChannelState, u64) -> T,
{
    let attempts = p.retry.attempts * 3;
    let mut read = Some(first_read);
    for attempt in 0..attempts {
        let state = match read.take() {
            Some(state) => state,
            None => p.store.load(channel).await?,
        };
        let transition = decide(&state, p.clock.now());
        let Some(new_state) = transition.new_state() else {
            return Ok((transition, state));
        };
        match p.store.save(channel, new_state, state.version).await? {
            SaveOutcome::Saved => {
                let saved = new_state.clone();
                return Ok((transition, saved));
            }
            SaveOutcome::Conflict => tokio::time::sleep(p.retry.delay(attempt)).await,
        }
    }
    Err(HandlerError::Contended(channel.into()))
}

/// Sends a cue with PutMetadata, retrying throttling a bounded number of times
/// with jittered backoff, and returns the cue as sent (see [`cue_as_sent`]).
/// Validation errors are logged with the cue and not retried;
/// ChannelNotBroadcasting is returned at once.
pub async fn publish_cue(p: &Pipeline, channel: &str, cue: &Cue) -> Result<Cue, PublishError> {
    let cue = cue_as_sent(p, channel, cue)?;
    let text = cue
        .encode()
        .map_err(|e| PublishError::Invalid(ServiceError::caused_by(e.to_string(), e)))?;
    let mut retry = 0;
    loop {
        match p.publisher.put_metadata(channel, &text).await {
            Ok(()) => {
                info!(channel = %channel, cue = %text, "cue published");
                keep_for_replay(p, channel, &cue).await;
                return Ok(cue);
            }
            Err(PublishError::Throttled(m)) if retry + 1 < p.retry.attempts => {
                warn!(channel = %channel, attempt = retry + 1, "PutMetadata throttled; retrying: {m}");
                tokio::time::sleep(p.retry.delay(retry)).await;
                retry += 1;
            }
            Err(e @ PublishError::Invalid(_)) => {
                error!(channel = %channel, cue = %text, error = %Chain(&e), "IVS refused the cue; not retried");
                return Err(e);
            }
            Err(e @ PublishError::NotBroadcasting(_)) => {
                info!(channel = %channel, "channel is not broadcasting; resetting its state");
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Keeps a published cue in the replay's cue log, when there is one.
async fn keep_for_replay(p: &Pipeline, channel: &str, cue: &Cue) {
    let Some(log) = &p.replay else { return };
    match ChannelId::from_arn(channel) {
        Ok(channel_id) => {
            log.keep(&channel_id, p.clock.now_ms(), cue, &p.catalog.current())
                .await
        }
        Err(e) => warn!(channel = %channel, error = %e, "replay: cue not kept (not a channel ARN)"),
    }
}

/// The decision core's cue as a channel carries it: stamped with the channel
/// and each show's tag when measurement is on; without it no one reports on
/// a show, so the show ids are left out and the cue is what it was before
/// shows existed.
pub(crate) fn cue_as_sent(p: &Pipeline, channel: &str, cue: &Cue) -> Result<Cue, PublishError> {
    let mut cue = cue.clone();
    if let Some(signer) = &p.measurement {
        let channel_id = ChannelId::from_arn(channel)
            .map_err(|e| PublishError::Invalid(format!("channel ARN {channel}: {e}").into()))?;
        signer.stamp(&mut cue, &channel_id);
    } else {
        cue.show.iter_mut().for_each(|item| item.show = None);
    }
    Ok(cue)
}

/// The stream ended: forget the channel's cards, cooldowns and workflow.
pub(crate) async fn reset_channel(p: &Pipeline, channel: &str) {
    let result = save_with_retry(p, channel, decision::reset).await;
    if let Err(e) = result {
        error!(channel = %channel, error = %Chain(&e), "could not reset channel state");
    }
}

/// Starts the workflow; if that fails, gives the lease back so the next
/// thumbnail of the channel tries again.
pub(crate) async fn start_workflow(p: &Pipeline, channel: &str, execution: &str) {
    let input = WorkflowInput {
        channel_arn: channel.into(),
        execution: execution.into(),
        iteration: 0,
    };
    match p.workflow.start(&input).await {
        Ok(()) => info!(channel = %channel, execution, "workflow started"),
        Err(e) => {
            error!(channel = %channel, execution, error = %Chain(&e), "workflow did not start; releasing its lease");
            let released = save_with_retry(p, channel, |state, now| {
                decision::release_lease(state, execution, now)
            })
            .await;
            if let Err(e) = released {
                error!(channel = %channel, error = %Chain(&e), "could not release the workflow lease; it lapses by itself");
            }
        }
    }
}

/// What one workflow step returns: the next step's input plus when to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickOutput {
    pub channel_arn: String,
    pub execution: String,
    pub iteration: u64,
    pub done: bool,
    pub wait_seconds: u64,
}

/// The Lambda wrapper: the workflow's input, then [`tick`].
pub async fn on_tick(p: &Pipeline, event: LambdaEvent<Value>) -> Result<TickOutput, HandlerError> {
    let input: WorkflowInput = serde_json::from_value(event.payload).map_err(|e| {
        HandlerError::MalformedEvent(format!(
            "{e}; on-tick expects {{\"channel_arn\": \"arn:aws:ivs:...\", \"execution\": \"<name>\", \"iteration\": 0}}"
        ))
    })?;
    tick(p, input).await
}

/// One step of the generic workflow: re-publish the channel's current cue (a
/// clear cue once the last display window ended) and say when to come back.
pub async fn tick(p: &Pipeline, input: WorkflowInput) -> Result<TickOutput, HandlerError> {
    p.follow_catalog().await;
    let catalog = p.catalog();
    let channel = input.channel_arn.as_str();
    let (plan, _) = save_with_retry(p, channel, |state, now| {
        decision::tick(
            state,
            &catalog,
            now,
            &p.rules,
            &input.execution,
            input.iteration,
            channel_id_of(channel),
        )
    })
    .await?;

    if let Some(cue) = &plan.cue {
        if let Err(e) = publish_cue(p, channel, cue).await {
            if matches!(e, PublishError::NotBroadcasting(_)) {
                reset_channel(p, channel).await;
                return Ok(TickOutput {
                    channel_arn: input.channel_arn,
                    execution: input.execution,
                    iteration: input.iteration + 1,
                    done: true,
                    wait_seconds: 0,
                });
            }
            warn!(channel = %channel, error = %Chain(&e), "re-publish failed; next step tries again");
        }
    }
    if let Some(name) = &plan.successor {
        start_workflow(p, channel, name).await;
    }
    let done = plan.done;
    info!(channel = %channel, execution = %input.execution, iteration = input.iteration, done, wait_seconds = plan.wait_seconds, "workflow step");
    Ok(TickOutput {
        channel_arn: input.channel_arn,
        execution: input.execution,
        iteration: input.iteration + 1,
        done,
        wait_seconds: plan.wait_seconds,
    })
}
