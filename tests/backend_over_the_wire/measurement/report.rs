//! The report reads sums, with calls that do not grow with the events.

use super::*;

scenarios!(the_report_reads_sums_with_calls_that_do_not_grow_with_events,);

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
