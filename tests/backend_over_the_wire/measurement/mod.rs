//! Measurement over the wire: the collector, the stream, the aggregator and
//! the report, under forged traffic, bad input, concurrency and 10,000
//! viewers. This module holds what its scenario modules share: the
//! stream, bucket and secrets they set up, and the events they send.

use super::*;

pub(crate) mod abuse;
pub(crate) mod collector;
pub(crate) mod crowd;
pub(crate) mod report;
pub(crate) mod secrets;

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

pub(crate) fn signer() -> backend::measure::ShowSigner {
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
        replay: false,
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
