//! The local chain: every thumbnail the studio writes goes through the
//! built-in detector and the backend's own on-thumbnail handler and decision
//! core, and cues go into the stream through the channel's PutMetadata. The
//! workflow's re-publishing runs as a timer task calling the on-tick handler.
//! Only the edges differ from AWS: state in memory, images from the
//! thumbnail folder, the workflow as a task.

use crate::channel::Channel;
use ad_contract::Catalog;
use async_trait::async_trait;
use backend::decision::Rules;
use backend::handlers::{handle_thumbnails, tick, Pipeline, ThumbnailRecord};
use backend::local::{ChannelWorkflow, FolderDetector, MemoryStateStore};
use backend::ports::{CuePublisher, PublishError, RetryPolicy, SystemClock, WorkflowInput};
use backend::sightings::RecentSightings;
use detector::{BuiltinDetector, Reference, VisionError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bucket name the local S3 events carry (the folder detector ignores it).
pub const LOCAL_BUCKET: &str = "studio-thumbnails";

/// PutMetadata on the studio's channel, in process.
pub struct ChannelPublisher {
    pub channel: Arc<Channel>,
    /// When the last cue was accepted (for the thumbnail-to-cue figure).
    pub last_accepted: Mutex<Option<Instant>>,
}

#[async_trait]
impl CuePublisher for ChannelPublisher {
    async fn put_metadata(&self, _channel_arn: &str, metadata: &str) -> Result<(), PublishError> {
        let now = Instant::now();
        match self.channel.put_metadata(metadata, now) {
            Ok(()) => {
                if let Ok(mut last) = self.last_accepted.lock() {
                    *last = Some(now);
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The catalog's reference images: the demo's logos are drawn in code, other
/// catalogs' are files beside the catalog.
pub fn references(
    catalog: &Catalog,
    catalog_dir: Option<&Path>,
) -> Result<Vec<Reference>, VisionError> {
    let (references, without) =
        backend::builtin::references_from_catalog(catalog, |source| match catalog_dir {
            Some(dir) => std::fs::read(dir.join(source))
                .map_err(|e| format!("{}: {e}", dir.join(source).display())),
            None => source
                .strip_suffix(".png")
                .and_then(crate::demo::logo_png)
                .ok_or_else(|| format!("the demo draws no logo called {source:?}")),
        })?;
    if !without.is_empty() {
        tracing::warn!(products = ?without, "products without reference_images cannot be detected");
    }
    Ok(references)
}

/// The built-in detector for `catalog`: its reference images, and its
/// wordmarks read as text when any product has one (the text models come
/// from `scripts/setup.sh`; a missing model says so).
pub fn detector(
    catalog: &Catalog,
    catalog_dir: Option<&Path>,
) -> Result<BuiltinDetector, VisionError> {
    let detector = BuiltinDetector::new(references(catalog, catalog_dir)?)?;
    backend::builtin::with_catalog_wordmarks(
        detector,
        catalog,
        &detector::text::default_models_dir(),
    )
}

pub struct LocalChain {
    pipeline: Arc<Pipeline>,
    publisher: Arc<ChannelPublisher>,
    sightings: Arc<RecentSightings>,
}

impl LocalChain {
    /// The pipeline the chain decides with: the operator's routes act on
    /// the same state, with the same rules and clock.
    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.pipeline.clone()
    }

    /// What the detector saw on the last thumbnails and what the decision
    /// core did with it, for the console.
    pub fn sightings(&self) -> Arc<RecentSightings> {
        self.sightings.clone()
    }

    /// The pipeline over the local edges, and the task running its workflow.
    pub fn start(
        channel: Arc<Channel>,
        catalog: Catalog,
        detector: Arc<BuiltinDetector>,
        thumbnails_dir: PathBuf,
        rules: Rules,
        measurement: Option<backend::measure::ShowSigner>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (starts, mut start_rx) = tokio::sync::mpsc::unbounded_channel::<WorkflowInput>();
        let publisher = Arc::new(ChannelPublisher {
            channel: channel.clone(),
            last_accepted: Mutex::new(None),
        });
        let min_confidence = catalog
            .products()
            .iter()
            .map(|p| p.min_confidence)
            .fold(100.0_f32, f32::min);
        let sightings = Arc::new(RecentSightings::new(crate::console_api::SIGHTINGS_KEPT));
        let pipeline = Arc::new(Pipeline {
            catalog: Arc::new(catalog),
            rules,
            region: channel.info.region.clone(),
            store: Arc::new(MemoryStateStore::default()),
            publisher: publisher.clone(),
            detector: Some(Arc::new(FolderDetector {
                root: thumbnails_dir,
                detector,
                min_confidence,
            })),
            workflow: Arc::new(ChannelWorkflow(starts)),
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            // Events are made here as the frames are written: never late.
            max_event_age: None,
            measurement,
            sightings: Some(sightings.clone()),
        });
        let runner_pipeline = pipeline.clone();
        let runner = tokio::spawn(async move {
            while let Some(input) = start_rx.recv().await {
                tokio::spawn(run_workflow(runner_pipeline.clone(), input));
            }
        });
        (
            Self {
                pipeline,
                publisher,
                sightings,
            },
            runner,
        )
    }

    /// Runs the on-thumbnail handler for a thumbnail just written at
    /// `written_at`; logs what it showed and how long the cue took.
    pub async fn on_thumbnail_written(&self, key: &str, written_at: Instant) {
        let now = i64::try_from(self.pipeline.clock.now()).unwrap_or(i64::MAX);
        let record = ThumbnailRecord::created(LOCAL_BUCKET, key, now);
        match handle_thumbnails(&self.pipeline, std::slice::from_ref(&record)).await {
            Ok(report) if !report.shown.is_empty() => {
                let accepted = self.publisher.last_accepted.lock().ok().and_then(|l| *l);
                let ms = accepted
                    .map(|a| a.saturating_duration_since(written_at).as_secs_f64() * 1000.0);
                // Where on the show's timeline the cue lands (it is stamped
                // at the live frame): the viewer's delay, free of buffering.
                let show_secs = accepted.and_then(|a| self.publisher.channel.show_secs_at(a));
                tracing::info!(key, shown = ?report.shown, thumbnail_to_cue_ms = ms, cue_at_show_secs = show_secs, "products shown");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(key, error = %backend::ports::Chain(&e), "local chain: thumbnail failed")
            }
        }
    }
}

/// The generic workflow's loop (what `republish.asl.json` does): a step, then
/// wait as long as it says, until it says done.
async fn run_workflow(pipeline: Arc<Pipeline>, mut input: WorkflowInput) {
    loop {
        match tick(&pipeline, input.clone()).await {
            Ok(out) if out.done => return,
            Ok(out) => {
                input.iteration = out.iteration;
                tokio::time::sleep(Duration::from_secs(out.wait_seconds.max(1))).await;
            }
            Err(e) => {
                // Step Functions would retry a failed step a bounded number
                // of times; the lease in the state lets a later thumbnail
                // start a fresh workflow.
                tracing::warn!(error = %backend::ports::Chain(&e), "workflow step failed; stopping this execution");
                return;
            }
        }
    }
}
