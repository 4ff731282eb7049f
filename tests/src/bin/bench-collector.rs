//! Benchmark: the measurement collector's throughput on one core, in its two
//! homes.
//!
//! `cargo run --release -p e2e-tests --bin bench-collector [-- BATCHES]`
//!
//! Each batch is what one player's beacon carries at most: 50 events of one
//! viewer, every event new (so each is checked, deduplicated and counted).
//! * **studio**: the collector's rules (`Collector::accept_batch`: decode,
//!   field bounds, catalog, show tag, rate per viewer) and the studio's
//!   SQLite store (one transaction per batch, WAL), on a file in a temporary
//!   folder;
//! * **Lambda handler**: the function URL event as Lambda delivers it (JSON
//!   text, through CloudFront: the origin secret and each viewer's address)
//!   through `from_function_url`, `handle` and `to_function_url`, back to
//!   JSON text, with the writes answered by an in-memory store. This is the
//!   handler's own CPU per event: in AWS each beacon adds one Kinesis
//!   `PutRecords`, a wait, not CPU, which Lambda scales out with concurrency;
//! * **aggregator**: the same events as Kinesis records in batches of
//!   10,000 (`aggregator::read_batch`: decode, shards, stream order), the
//!   viewable rule's verdicts, the counter sums and the raw lines: its CPU
//!   per event. In AWS each event adds its conditional claim `PutItem` and
//!   each impression a marker, which are waits (up to 16 claims in flight).
//!
//! Everything runs on this thread (a current-thread runtime), so the
//! thread's CPU clock is one core's work. The issue's target: 20,000
//! events/s locally.

use ad_contract::measure::{EventBatch, EventKind, OpaqueId, ViewerEvent};
use ad_contract::{Catalog, ChannelId, ProductId, ShowId, ShowRef};
use async_trait::async_trait;
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use backend::collector::{from_function_url, handle, to_function_url, CollectorService};
use backend::measure::{
    Collector, HourCount, MeasureReader, MeasureStore, MeasureStoreError, Outcome, RecordSummary,
    Recorded, ShowCounts, ShowSigner,
};
use e2e_tests::thread_cpu;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const EVENTS_PER_BATCH: usize = 50;
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
const NOW: u64 = 1_790_000_000;

/// A counter's key: channel, product, show and measure.
type CounterKey = (String, String, u64, &'static str);

/// The writes of the Lambda's store, kept in memory: dedupe set and
/// counters, as DynamoFirehoseStore keeps them in DynamoDB.
#[derive(Default)]
struct MemoryStore {
    seen: Mutex<HashSet<String>>,
    counts: Mutex<HashMap<CounterKey, u64>>,
}

#[async_trait]
impl MeasureStore for MemoryStore {
    async fn record(&self, events: &[Recorded]) -> Result<RecordSummary, MeasureStoreError> {
        let mut summary = RecordSummary::default();
        let (Ok(mut seen), Ok(mut counts)) = (self.seen.lock(), self.counts.lock()) else {
            return Err(MeasureStoreError::because("poisoned"));
        };
        for e in events {
            if !seen.insert(e.dedupe_key()) {
                summary.add(Outcome::Duplicate);
            } else if e.robot {
                summary.add(Outcome::Robot);
            } else {
                *counts
                    .entry((
                        e.channel.clone(),
                        e.product.clone(),
                        e.show,
                        e.measure.as_str(),
                    ))
                    .or_default() += 1;
                // The per-hour counter's key, as the Lambda builds it.
                let _ = e.hour();
                summary.add(Outcome::Counted);
            }
        }
        Ok(summary)
    }
}

#[async_trait]
impl MeasureReader for MemoryStore {
    async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
        Ok(Vec::new())
    }
    async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
        Ok(Vec::new())
    }
}

/// `batches` beacon bodies: each its own viewer (the rate bound is per
/// viewer), events spread over the catalog's products and the four kinds.
fn bodies(catalog: &Catalog, signer: &ShowSigner, batches: usize) -> anyhow::Result<Vec<String>> {
    let channel = ChannelId::parse("benchchannel").map_err(anyhow::Error::msg)?;
    let shows: Vec<ShowRef> = catalog
        .products()
        .iter()
        .map(|p| {
            let product: ProductId = p.id.clone();
            let show = ShowId(1_789_999_000_000);
            ShowRef {
                tag: signer.tag(&channel, &product, show),
                channel: channel.clone(),
                product,
                show,
            }
        })
        .collect();
    let kinds = [
        EventKind::Impression,
        EventKind::Viewable,
        EventKind::Open,
        EventKind::Dismiss,
    ];
    Ok((0..batches)
        .map(|b| {
            EventBatch {
                replay: false,
                viewer: OpaqueId::from_lossy(&format!("v{b:011}")),
                events: (0..EVENTS_PER_BATCH)
                    .map(|i| ViewerEvent {
                        id: OpaqueId::from_lossy(&format!("e{i:03}")),
                        kind: kinds[i % kinds.len()],
                        // Each impression's viewable on its show, as a
                        // player sends them (the viewable rule).
                        show: shows[(b + i / kinds.len()) % shows.len()].clone(),
                    })
                    .collect(),
            }
            .to_json()
        })
        .collect())
}

fn report(name: &str, events: usize, cpu: Duration, wall: Duration) {
    let per_s = |d: Duration| events as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "{name:<16} events={events:<7} one core: {:>9.0} events/s ({:.2} µs/event CPU)   wall: {:>9.0} events/s",
        per_s(cpu),
        cpu.as_secs_f64() * 1e6 / events.max(1) as f64,
        per_s(wall),
    );
}

fn main() -> anyhow::Result<()> {
    let batches: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2000);
    let catalog_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../studio/demo/catalog.json");
    let catalog = Catalog::from_json(&std::fs::read_to_string(catalog_path)?)
        .map_err(|e| anyhow::anyhow!("{catalog_path}: {e}"))?;
    let signer = ShowSigner::new(&[7; 32])?;
    let bodies = bodies(&catalog, &signer, batches)?;
    let events = batches * EVENTS_PER_BATCH;
    println!(
        "bench-collector: {batches} batches of {EVENTS_PER_BATCH} new events ({} products in the catalog)",
        catalog.products().len()
    );

    // The studio: rules and SQLite.
    let dir = test_support::TempDir::new("bench-collector")?;
    let store = studio::measure_store::SqliteMeasureStore::open(&dir.path().join("measure.db"))?;
    let collector = Collector::new(catalog.clone(), signer.clone());
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let mut counted = 0;
    let mut accepted_events = Vec::new();
    for (b, body) in bodies.iter().enumerate() {
        // Each viewer on its own address, as a crowd is.
        let address = format!("10.{}.{}.{}", b >> 16 & 255, b >> 8 & 255, b & 255);
        let accepted = collector
            .accept_batch(body, &address, CHROME, NOW)
            .map_err(|e| anyhow::anyhow!("refused: {e}"))?;
        anyhow::ensure!(
            accepted.refused.is_empty(),
            "refused: {:?}",
            accepted.refused
        );
        counted += store.record_now(&accepted.events)?.counted;
        accepted_events.extend(accepted.events);
    }
    report(
        "studio (SQLite)",
        events,
        thread_cpu() - cpu0,
        wall0.elapsed(),
    );
    anyhow::ensure!(counted == events, "counted {counted} of {events}");

    // The Lambda handler, from event text to response text.
    // As deployed: through CloudFront, with the origin secret and each
    // viewer's own address.
    const ORIGIN_SECRET: &str = "bench-origin-secret-0123456789";
    let requests: Vec<String> = bodies
        .iter()
        .enumerate()
        .map(|(b, body)| {
            serde_json::json!({
                "version": "2.0",
                "rawPath": "/measure/events",
                "rawQueryString": "",
                "headers": {
                    "content-type": "text/plain;charset=UTF-8",
                    "user-agent": CHROME,
                    "x-origin-verify": ORIGIN_SECRET,
                    "cloudfront-viewer-address": format!("10.{}.{}.{}:443", b >> 16 & 255, b >> 8 & 255, b & 255),
                },
                "requestContext": {
                    "accountId": "anonymous",
                    "apiId": "bench",
                    "domainName": "bench.lambda-url.us-east-1.on.aws",
                    "domainPrefix": "bench",
                    "http": {"method": "POST", "path": "/measure/events", "protocol": "HTTP/1.1",
                             "sourceIp": "203.0.113.9", "userAgent": CHROME},
                    "requestId": "r", "routeKey": "$default", "stage": "$default",
                    "time": "03/Dec/2026:00:00:00 +0000", "timeEpoch": 1_790_000_000_000u64
                },
                "body": body,
                "isBase64Encoded": false
            })
            .to_string()
        })
        .collect();
    let service = CollectorService {
        collector: Collector::new(catalog, signer),
        store: Box::new(MemoryStore::default()),
        clock: Box::new(|| NOW),
        origin_secret: Some(ORIGIN_SECRET.into()),
    };
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let ok = rt.block_on(async {
        let mut ok = 0;
        for text in &requests {
            let event: LambdaFunctionUrlRequest = serde_json::from_str(text)?;
            let response = to_function_url(handle(&service, &from_function_url(&event)).await);
            let out = serde_json::to_string(&response)?;
            if response.status_code == 200 && !out.is_empty() {
                ok += 1;
            }
        }
        Ok::<_, anyhow::Error>(ok)
    })?;
    report(
        "Lambda handler",
        events,
        thread_cpu() - cpu0,
        wall0.elapsed(),
    );
    anyhow::ensure!(ok == batches, "{ok} of {batches} batches answered 200");

    // The aggregator's CPU: the events as stream records, in batches.
    let records: Vec<_> = accepted_events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut record = aws_lambda_events::event::kinesis::KinesisEventRecord::default();
            // Two shards, by viewer and show, as the stream's partition key.
            let shard = format!(
                "shardId-00000000000{}",
                e.viewer_show().bytes().map(u64::from).sum::<u64>() % 2
            );
            record.event_id = Some(format!("{shard}:{}", 49_000_000 + i));
            record.kinesis.sequence_number = (49_000_000 + i).to_string();
            record
                .kinesis
                .data
                .extend_from_slice(&serde_json::to_vec(e).unwrap_or_default());
            record
        })
        .collect();
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let mut summed = 0u64;
    for chunk in records.chunks(10_000) {
        let mut event = aws_lambda_events::event::kinesis::KinesisEvent::default();
        event.records = chunk.to_vec();
        let (shards, metrics) = backend::aggregator::read_batch(&event);
        anyhow::ensure!(metrics.bad_records == 0, "bad records");
        for events in shards.into_values() {
            let mut claimed: Vec<Recorded> = events.into_iter().map(|e| e.event).collect();
            let _asked = backend::aggregate::viewables_to_look_up(&claimed);
            backend::aggregate::mark_viewables_without_impression(
                &mut claimed,
                &Default::default(),
            );
            let raw: usize = claimed
                .iter()
                .map(|e| serde_json::to_vec(e).map_or(0, |l| l.len()))
                .sum();
            anyhow::ensure!(raw > 0, "raw lines");
            summed += backend::aggregate::counter_updates(&claimed)
                .iter()
                .filter(|u| matches!(u.key, backend::aggregate::CounterKey::Show { .. }))
                .flat_map(|u| u.counts.values())
                .sum::<u64>();
        }
    }
    report(
        "aggregator (CPU)",
        events,
        thread_cpu() - cpu0,
        wall0.elapsed(),
    );
    anyhow::ensure!(summed == events as u64, "summed {summed} of {events}");
    Ok(())
}
