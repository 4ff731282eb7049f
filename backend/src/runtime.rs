//! Start-up shared by the binaries: JSON logs, SDK clients built once and
//! warmed, the [`Pipeline`] assembled from a validated [`Config`].

use crate::aws::{DynamoStateStore, IvsPublisher, RekognitionDetector, SfnWorkflow};
use crate::config::{Config, DetectorChoice};
use crate::handlers::Pipeline;
use crate::ports::{Detector, RetryPolicy, SystemClock};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

/// JSON logs, one object per line, level from `RUST_LOG` (default `info`).
pub fn init_json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .try_init();
}

/// The shared SDK configuration for `region` (credentials and endpoints from
/// the environment, as the SDK always reads them).
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .load()
        .await
}

/// The process's settings (its environment), with each one kept in Secrets
/// Manager read: see [`crate::secrets`]. Without a `*_SECRET_ARN` variable
/// no call is made.
pub async fn settings(
) -> Result<std::collections::HashMap<String, String>, crate::secrets::SecretError> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    if !vars
        .iter()
        .any(|(name, _)| name.ends_with(crate::secrets::SECRET_ARN_SUFFIX))
    {
        return Ok(vars.into_iter().collect());
    }
    let region = std::env::var(crate::config::AWS_REGION).unwrap_or_default();
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config(&region).await);
    crate::secrets::resolve(&client, vars).await
}

/// Clients, built once per process.
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ivs: aws_sdk_ivs::Client,
    pub rekognition: aws_sdk_rekognition::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        // PutMetadata retries are ours (bounded, jittered, and never on
        // ChannelNotBroadcasting), so the SDK's own are off for IVS.
        let ivs = aws_sdk_ivs::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            ivs: aws_sdk_ivs::Client::from_conf(ivs),
            rekognition: aws_sdk_rekognition::Client::new(sdk),
            sfn: aws_sdk_sfn::Client::new(sdk),
            s3: aws_sdk_s3::Client::new(sdk),
        }
    }
}

/// Why a function could not start: its detector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("built-in detector")]
    Builtin(#[source] detector::VisionError),
}

/// Reads a catalog's `reference_images` for the built-in detector: paths
/// are relative to the catalog file (bundled with the function),
/// `s3://bucket/key` entries are read from S3 (at start-up, and again when
/// a changed catalog names other references).
pub struct LambdaReferences {
    pub s3: aws_sdk_s3::Client,
    pub catalog_path: std::path::PathBuf,
    pub text_models_dir: std::path::PathBuf,
}

impl LambdaReferences {
    pub fn new(config: &Config, s3: &aws_sdk_s3::Client) -> Self {
        Self {
            s3: s3.clone(),
            catalog_path: config.catalog_path.clone(),
            text_models_dir: config.text_models_dir.clone(),
        }
    }
}

#[async_trait::async_trait]
impl crate::builtin::BuiltinFactory for LambdaReferences {
    async fn build(
        &self,
        catalog: &ad_contract::Catalog,
    ) -> Result<detector::BuiltinDetector, detector::VisionError> {
        use std::collections::HashMap;
        let base = self
            .catalog_path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let mut fetched: HashMap<String, Result<Vec<u8>, String>> = HashMap::new();
        for product in catalog.products() {
            for source in &product.reference_images {
                if fetched.contains_key(source) {
                    continue;
                }
                let bytes = match source.strip_prefix("s3://").and_then(|r| r.split_once('/')) {
                    Some((bucket, key)) => {
                        crate::aws::S3BuiltinDetector::read_object(&self.s3, bucket, key)
                            .await
                            .map_err(|e| crate::ports::Chain(&e).to_string())
                    }
                    None => std::fs::read(base.join(source)).map_err(|e| {
                        format!(
                            "{} (paths are relative to the catalog, {}): {e}",
                            base.join(source).display(),
                            self.catalog_path.display()
                        )
                    }),
                };
                fetched.insert(source.clone(), bytes);
            }
        }
        let (references, without) = crate::builtin::references_from_catalog(catalog, |source| {
            fetched
                .get(source)
                .cloned()
                .unwrap_or_else(|| Err("not fetched".into()))
        })?;
        if !without.is_empty() {
            warn!(products = ?without, "products without reference_images cannot be detected by the built-in detector");
        }
        let detector = detector::BuiltinDetector::new(references)?;
        attach_wordmarks(detector, catalog, &self.text_models_dir)
    }
}

/// The built-in detector for the configured catalog.
pub async fn builtin_detector(
    config: &Config,
    s3: &aws_sdk_s3::Client,
) -> Result<detector::BuiltinDetector, InitError> {
    use crate::builtin::BuiltinFactory;
    LambdaReferences::new(config, s3)
        .build(&config.catalog)
        .await
        .map_err(InitError::Builtin)
}

/// The wordmark signal, when the catalog has wordmarks: the text models are
/// packaged beside the catalog by the stack (`Config::text_models_dir`).
#[cfg(feature = "text")]
fn attach_wordmarks(
    detector: detector::BuiltinDetector,
    catalog: &ad_contract::Catalog,
    models_dir: &std::path::Path,
) -> Result<detector::BuiltinDetector, detector::VisionError> {
    crate::builtin::with_catalog_wordmarks(detector, catalog, models_dir)
}

/// Built without the `text` feature: the reference images alone find the
/// products (the stack builds on-thumbnail with it when the catalog names
/// wordmarks).
#[cfg(not(feature = "text"))]
fn attach_wordmarks(
    detector: detector::BuiltinDetector,
    catalog: &ad_contract::Catalog,
    _models_dir: &std::path::Path,
) -> Result<detector::BuiltinDetector, detector::VisionError> {
    let wordmarks = crate::builtin::wordmarks_from_catalog(catalog);
    if !wordmarks.is_empty() {
        warn!(
            ?wordmarks,
            "built without the text feature: wordmarks are not read; the reference images alone find these products"
        );
    }
    Ok(detector)
}

/// Opens the DynamoDB connection at init, so the first event does not pay
/// for DNS and TLS (~0.9 s at 128 MB), with a call the role is granted for
/// its real work (a GetItem). Returns the failures.
///
/// Only DynamoDB: IAM grants are exactly the calls made (the permissions
/// test, `infra/test/permissions.test.ts`, holds the stack to that), and IVS,
/// Rekognition and Step Functions have no call within the existing grants
/// that is harmless to make: ListChannels and DescribeProjects need
/// account-wide grants. Their first call pays its handshake; DynamoDB's
/// GetItem comes first on every event anyway.
pub async fn warm_up(store: &DynamoStateStore) -> Vec<String> {
    store
        .warm_up()
        .await
        .err()
        .map(|e| crate::ports::Chain(&e).to_string())
        .into_iter()
        .collect()
}

/// Builds the pipeline; with `with_detector`, the Rekognition detector too.
/// With `warm`, see [`warm_up`]; a failing warm-up is logged, not fatal: the
/// event's own call reports the real problem.
pub async fn build_pipeline(
    config: &Config,
    clients: &Clients,
    warm: bool,
) -> Result<Pipeline, InitError> {
    let store = DynamoStateStore::new(clients.dynamodb.clone(), &config.table_name);
    let publisher = IvsPublisher::new(clients.ivs.clone());
    let workflow = SfnWorkflow::new(clients.sfn.clone(), &config.state_machine_arn);
    let min_confidence = config
        .catalog
        .products()
        .iter()
        .map(|p| p.min_confidence)
        .fold(100.0_f32, f32::min);
    let detector: Option<Arc<dyn Detector>> = match &config.detector {
        None => None,
        Some(DetectorChoice::Rekognition {
            project_version_arn,
        }) => Some(Arc::new(RekognitionDetector::new(
            clients.rekognition.clone(),
            project_version_arn,
            min_confidence,
        ))),
        Some(DetectorChoice::Builtin) => {
            let factory = Arc::new(LambdaReferences::new(config, &clients.s3));
            let live = crate::builtin::LiveBuiltin::new(factory, &config.catalog)
                .await
                .map_err(InitError::Builtin)?;
            Some(Arc::new(crate::aws::S3BuiltinDetector {
                s3: clients.s3.clone(),
                detector: Arc::new(live),
            }))
        }
    };
    if warm {
        let started = Instant::now();
        for failure in warm_up(&store).await {
            warn!(error = %failure, "warm-up call failed");
        }
        info!(ms = started.elapsed().as_millis() as u64, "clients warmed");
    }
    let pipeline = Pipeline {
        catalog: Arc::new(live_catalog(config, &clients.s3)),
        rules: config.rules,
        region: config.region.clone(),
        store: Arc::new(store),
        publisher: Arc::new(publisher),
        detector,
        workflow: Arc::new(workflow),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy::default(),
        max_event_age: Some(config.max_event_age_seconds),
        measurement: config.measurement.clone(),
        // The operator's console reads what on-thumbnail saw.
        sightings: config.recordings_bucket.as_ref().map(|bucket| {
            Arc::new(crate::sightings_aws::S3SightingLog {
                s3: clients.s3.clone(),
                bucket: bucket.clone(),
                clock: Arc::new(SystemClock),
            }) as Arc<dyn crate::sightings::SightingLog>
        }),
        replay: config.recordings_bucket.as_ref().map(|bucket| {
            let mut log =
                crate::replay::CueLog::new(Arc::new(crate::replay_aws::S3RecordingArchive {
                    s3: clients.s3.clone(),
                    bucket: bucket.clone(),
                }));
            log.retention_days = config.recordings_retention_days;
            Arc::new(log)
        }),
    };
    // The live catalog is read now, at init, not by the first event.
    pipeline.follow_catalog().await;
    Ok(pipeline)
}

/// The catalog the functions decide with: the bundled one, following
/// `CATALOG_OBJECT` when it is set.
pub fn live_catalog(config: &Config, s3: &aws_sdk_s3::Client) -> crate::live_catalog::LiveCatalog {
    use crate::live_catalog::{LiveCatalog, CHECK_EVERY_SECONDS};
    match &config.catalog_object {
        None => LiveCatalog::fixed(config.catalog.clone(), "bundled"),
        Some((bucket, key)) => {
            let object = Arc::new(crate::aws::S3CatalogSource {
                s3: s3.clone(),
                bucket: bucket.clone(),
                key: key.clone(),
            });
            let live = LiveCatalog::following(
                config.catalog.clone(),
                "bundled",
                object.clone(),
                CHECK_EVERY_SECONDS,
            );
            // Only the operator function writes the catalog (its role may).
            match config.role {
                crate::config::Role::Operator => live.with_history(object),
                _ => live,
            }
        }
    }
}
