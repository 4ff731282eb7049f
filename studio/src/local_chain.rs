//! The local chain: every thumbnail the studio writes goes through the
//! built-in detector and the backend's own on-thumbnail handler and decision
//! core, and cues go into the stream through the channel's PutMetadata. The
//! workflow's re-publishing runs as a timer task calling the on-tick handler.
//! Only the edges differ from AWS: state in memory, images from the
//! thumbnail folder, the workflow as a task.

use crate::catalog_store::CatalogStore;
use crate::channel::Channel;
use ad_contract::Catalog;
use async_trait::async_trait;
use backend::builtin::{BuiltinFactory, LiveBuiltin};
use backend::decision::Rules;
use backend::handlers::{handle_thumbnails, tick, Pipeline, ThumbnailRecord};
use backend::live_catalog::{CatalogVersion, LiveCatalog};
use backend::local::{ChannelWorkflow, FolderDetector, MemoryStateStore};
use backend::ports::{CuePublisher, PublishError, RetryPolicy, SystemClock, WorkflowInput};
use backend::sightings::RecentSightings;
use detector::{BuiltinDetector, Reference, VisionError};
use std::path::PathBuf;
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

/// Reads a catalog's reference images in the studio: images uploaded from
/// the console (`references/…`, kept in the catalog's history), files
/// beside `--catalog`, or the demo's logos, drawn in code.
pub struct StudioReferences {
    pub store: Arc<CatalogStore>,
    /// The folder of `--catalog` (`None`: the demo catalog).
    pub catalog_dir: Option<PathBuf>,
    pub models_dir: PathBuf,
}

impl StudioReferences {
    fn read(&self, source: &str) -> Result<Vec<u8>, String> {
        if source.starts_with(crate::catalog_store::REFERENCE_PREFIX) {
            if let Some(bytes) = self.store.reference(source).map_err(|e| e.to_string())? {
                return Ok(bytes);
            }
        }
        match &self.catalog_dir {
            Some(dir) => std::fs::read(dir.join(source))
                .map_err(|e| format!("{}: {e}", dir.join(source).display())),
            None => source
                .strip_suffix(".png")
                .and_then(crate::demo::logo_png)
                .ok_or_else(|| {
                    format!("no uploaded reference and no demo logo is called {source:?}; upload it from the console")
                }),
        }
    }

    /// The catalog's references, read now.
    pub fn references(&self, catalog: &Catalog) -> Result<Vec<Reference>, VisionError> {
        let (references, without) =
            backend::builtin::references_from_catalog(catalog, |source| self.read(source))?;
        if !without.is_empty() {
            tracing::warn!(products = ?without, "products without reference_images cannot be detected");
        }
        Ok(references)
    }
}

#[async_trait]
impl BuiltinFactory for StudioReferences {
    /// The built-in detector for `catalog`: its reference images, and its
    /// wordmarks read as text when any product has one (the text models
    /// come from `scripts/setup.sh`; a missing model says so).
    async fn build(&self, catalog: &Catalog) -> Result<BuiltinDetector, VisionError> {
        let references = self.references(catalog)?;
        let catalog = catalog.clone();
        let models_dir = self.models_dir.clone();
        // Analysing references and loading the text models is CPU work.
        tokio::task::spawn_blocking(move || {
            let detector = BuiltinDetector::new(references)?;
            backend::builtin::with_catalog_wordmarks(detector, &catalog, &models_dir)
        })
        .await
        .map_err(|e| VisionError::Reference {
            label: "(every product)".into(),
            source_name: "the catalog".into(),
            problem: format!("the detector's build stopped: {e}"),
        })?
    }
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
        catalog: CatalogVersion,
        detector: Arc<LiveBuiltin>,
        thumbnails_dir: PathBuf,
        rules: Rules,
        measurement: Option<backend::measure::ShowSigner>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (starts, mut start_rx) = tokio::sync::mpsc::unbounded_channel::<WorkflowInput>();
        let publisher = Arc::new(ChannelPublisher {
            channel: channel.clone(),
            last_accepted: Mutex::new(None),
        });
        let sightings = Arc::new(RecentSightings::new(crate::console_api::SIGHTINGS_KEPT));
        let pipeline = Arc::new(Pipeline {
            catalog: Arc::new(LiveCatalog::fixed(
                (*catalog.catalog).clone(),
                catalog.version,
            )),
            rules,
            region: channel.info.region.clone(),
            store: Arc::new(MemoryStateStore::default()),
            publisher: publisher.clone(),
            detector: Some(Arc::new(FolderDetector {
                root: thumbnails_dir,
                detector,
            })),
            workflow: Arc::new(ChannelWorkflow(starts)),
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            // Events are made here as the frames are written: never late.
            max_event_age: None,
            measurement,
            sightings: Some(sightings.clone()),
            replay: None,
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
