//! A show that succeeds: 10,000 viewers at once, counted exactly through
//! throttling, at a price per viewer from the list prices.

use super::*;

scenarios!(measurement_counts_10000_viewers_exactly_through_throttling,);

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
