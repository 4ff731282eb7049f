//! Lambda behind a function URL: players' measurement beacons and the
//! tracking links of QR codes and Open buttons (see `backend::collector`).
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use backend::aws::S3CatalogSource;
use backend::collector::{
    follow_catalog, from_function_url, handle_measured, to_function_url, CollectorConfig,
    CollectorService,
};
use backend::live_catalog::{LiveCatalog, CHECK_EVERY_SECONDS};
use backend::measure::Collector;
use backend::measure_aws::KinesisQueue;
use backend::runtime::{init_json_logs, sdk_config, settings};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    let settings = settings().await?;
    let config = CollectorConfig::from_lookup(|name| settings.get(name).cloned())?;
    let sdk = sdk_config(&config.region).await;
    // The live catalog, when the stack gives one: read now, then followed.
    let live = config.catalog_object.as_ref().map(|(bucket, key)| {
        LiveCatalog::following(
            config.catalog.clone(),
            "bundled",
            std::sync::Arc::new(S3CatalogSource {
                s3: aws_sdk_s3::Client::new(&sdk),
                bucket: bucket.clone(),
                key: key.clone(),
            }),
            CHECK_EVERY_SECONDS,
        )
    });
    let service = CollectorService {
        collector: Collector::new(config.catalog, config.signer),
        store: Box::new(KinesisQueue {
            kinesis: aws_sdk_kinesis::Client::new(&sdk),
            stream: config.stream,
        }),
        clock: Box::new(backend::calendar::unix_now),
        origin_secret: config.origin_secret,
    };
    if let Some(live) = &live {
        follow_catalog(&service.collector, live, backend::calendar::unix_now()).await;
    }
    let service = &service;
    let live = &live;
    // Lambda sets it; the metrics' `Function` dimension.
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let function = function.as_str();
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            if let Some(live) = live {
                follow_catalog(&service.collector, live, backend::calendar::unix_now()).await;
            }
            let (response, metrics) =
                handle_measured(service, &from_function_url(&event.payload)).await;
            // One embedded-metric-format line a request (stdout goes to the
            // log group; CloudWatch makes the metrics the alarms watch).
            let now_ms = backend::calendar::unix_now_ms();
            println!("{}", metrics.emf(function, now_ms));
            Ok::<_, lambda_runtime::Error>(to_function_url(response))
        },
    ))
    .await
}
