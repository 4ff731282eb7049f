//! The backend's test harness, over `test-support` (ports, processes, moto,
//! the raw HTTP client):
//!
//! * [`standin::StandIn`]: our IVS / Rekognition / Lambda-Invoke stand-in;
//! * helpers to build the backend's real [`Pipeline`] against them, and S3
//!   event fixtures shaped like the ones AWS sends.

pub mod aws_calls;
pub mod standin;

use ad_contract::Catalog;
use backend::aws::{DynamoStateStore, IvsPublisher, RekognitionDetector, SfnWorkflow};
use backend::decision::{Rules, UnixSeconds};
use backend::handlers::Pipeline;
use backend::ports::{Clock, RetryPolicy};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use test_support::{sdk_config_as, ACCOUNT, REGION};

/// A clock the test moves.
#[derive(Default)]
pub struct TestClock(pub AtomicU64);

impl TestClock {
    pub fn at(t: UnixSeconds) -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(t)))
    }
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> UnixSeconds {
        self.0.load(Ordering::SeqCst)
    }
}

/// Counts the requests SDK clients send, per operation, retries included:
/// the round trips a handler makes (`bench-on-thumbnail` prints them). The
/// operation is read off the wire: the `X-Amz-Target` of the JSON protocols
/// (DynamoDB, Step Functions, Rekognition), else the path's last segment
/// (IVS's `/PutMetadata`).
#[derive(Clone, Debug, Default)]
pub struct CallCounter(Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>);

impl CallCounter {
    /// The counts since the last take, and zero from here.
    pub fn take(&self) -> std::collections::BTreeMap<String, u64> {
        self.0
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target.rsplit('.').next().unwrap_or(target).to_string(),
            None => {
                let path = request.uri().split('?').next().unwrap_or_default();
                path.rsplit('/').next().unwrap_or_default().to_string()
            }
        };
        if let Ok(mut calls) = self.0.lock() {
            *calls.entry(operation).or_default() += 1;
        }
        Ok(())
    }
}

/// SDK clients pointed at moto (DynamoDB, Step Functions, S3) and the stand-in
/// (IVS, Rekognition).
#[derive(Clone)]
pub struct TestClients {
    /// Every request these clients sent, per operation.
    pub calls: CallCounter,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub ivs: aws_sdk_ivs::Client,
    pub rekognition: aws_sdk_rekognition::Client,
    /// moto's S3 (path-style), for thumbnails and reference images.
    pub s3: aws_sdk_s3::Client,
}

impl TestClients {
    pub async fn new(moto_url: &str, standin_url: &str) -> Self {
        Self::with_endpoints(moto_url, standin_url, "testing").await
    }

    /// Clients of a function playing `role`, every service through the
    /// recording proxy.
    pub async fn through(proxy: &aws_calls::RecordingProxy, role: &str) -> Self {
        Self::with_endpoints(&proxy.url, &proxy.url, role).await
    }

    async fn with_endpoints(moto_url: &str, standin_url: &str, role: &str) -> Self {
        let sdk = sdk_config_as(role).await;
        let calls = CallCounter::default();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .endpoint_url(moto_url)
                    .interceptor(calls.clone())
                    .build(),
            ),
            sfn: aws_sdk_sfn::Client::from_conf(
                aws_sdk_sfn::config::Builder::from(&sdk)
                    .endpoint_url(moto_url)
                    .interceptor(calls.clone())
                    .build(),
            ),
            ivs: aws_sdk_ivs::Client::from_conf(
                aws_sdk_ivs::config::Builder::from(&sdk)
                    .endpoint_url(standin_url)
                    .retry_config(aws_config::retry::RetryConfig::disabled())
                    .interceptor(calls.clone())
                    .build(),
            ),
            rekognition: aws_sdk_rekognition::Client::from_conf(
                aws_sdk_rekognition::config::Builder::from(&sdk)
                    .endpoint_url(standin_url)
                    .interceptor(calls.clone())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&sdk)
                    .endpoint_url(moto_url)
                    .force_path_style(true)
                    .interceptor(calls.clone())
                    .build(),
            ),
            calls,
        }
    }

    /// Creates the state table as the CDK stack does.
    pub async fn create_table(&self, name: &str) -> anyhow::Result<()> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        self.dynamodb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("channel")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("channel")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .send()
            .await?;
        Ok(())
    }

    /// Creates a state machine from `definition`; returns its ARN.
    pub async fn create_state_machine(
        &self,
        name: &str,
        definition: &str,
    ) -> anyhow::Result<String> {
        let out = self
            .sfn
            .create_state_machine()
            .name(name)
            .definition(definition)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/republish-workflow"))
            .send()
            .await?;
        Ok(out.state_machine_arn().to_string())
    }
}

/// The Lambda ARN the workflow definition is given in tests.
pub fn tick_function_arn() -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:on-tick")
}

/// The shipped workflow definition with the tick function substituted, as
/// the CDK app does at deploy time.
pub fn workflow_definition() -> String {
    backend::WORKFLOW_DEFINITION.replace("${TickFunctionArn}", &tick_function_arn())
}

/// Builds the backend's real pipeline over the test clients.
pub fn pipeline(
    clients: &TestClients,
    table: &str,
    state_machine_arn: &str,
    catalog: &Catalog,
    rules: Rules,
    clock: Arc<dyn Clock>,
) -> Pipeline {
    Pipeline {
        catalog: Arc::new(backend::live_catalog::LiveCatalog::fixed(
            catalog.clone(),
            "bundled",
        )),
        rules,
        region: REGION.into(),
        store: Arc::new(DynamoStateStore::new(clients.dynamodb.clone(), table)),
        publisher: Arc::new(IvsPublisher::new(clients.ivs.clone())),
        detector: Some(Arc::new(RekognitionDetector::new(
            clients.rekognition.clone(),
            format!("arn:aws:rekognition:{REGION}:{ACCOUNT}:project/shop/version/shop.1/1"),
            catalog
                .products()
                .iter()
                .map(|p| p.min_confidence)
                .fold(100.0, f32::min),
        ))),
        workflow: Arc::new(SfnWorkflow::new(clients.sfn.clone(), state_machine_arn)),
        clock,
        retry: RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        },
        // As deployed at 5 s thumbnails: two intervals and 30 s.
        max_event_age: Some(40),
        measurement: None,
        sightings: None,
        replay: None,
    }
}

/// The channel ARN for a channel id in the test account.
pub fn channel_arn(channel_id: &str) -> String {
    format!("arn:aws:ivs:{REGION}:{ACCOUNT}:channel/{channel_id}")
}

/// A SEQUENTIAL thumbnail key for a channel.
pub fn thumbnail_key(channel_id: &str, n: u32) -> String {
    format!("ivs/v1/{ACCOUNT}/{channel_id}/2026/11/24/17/5/rec{channel_id}/media/thumbnails/thumb{n}.jpg")
}

/// Now, as S3 writes an event's `eventTime`. Scenarios run on a test clock
/// set before the real now, so their events are never stale.
pub fn event_time_now() -> String {
    studio::civil::Utc::from_system_time(std::time::SystemTime::now()).rfc3339_millis()
}

/// An S3 ObjectCreated notification as AWS delivers it (moto's own lack
/// `userIdentity` and do not parse as `S3Event`).
pub fn s3_event(bucket: &str, keys: &[&str]) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": event_time_now(),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAEXAMPLE:ivs-recording"},
                "requestParameters": {"sourceIPAddress": "10.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "thumbnails",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": format!("arn:aws:s3:::{bucket}")
                    },
                    "object": {
                        "key": key,
                        "size": 48213,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "sequencer": "0055AED6DCD90281E5"
                    }
                }
            })
        })
        .collect();
    json!({ "Records": records })
}

pub use detector_eval::memory::{peak_rss_mib, peak_rss_since_reset_mib, reset_peak_rss};

/// This thread's CPU time: what a benchmark's own work cost on one core,
/// whatever else the machine runs.
#[allow(unsafe_code)]
pub fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
