//! Lambda on the measurement stream (a Kinesis event source mapping): counts
//! the collector's events (see `backend::aggregator`).
use aws_lambda_events::event::kinesis::KinesisEvent;
use backend::aggregator::{handle_batch, AggregatorConfig};
use backend::collector::emf_line;
use backend::measure_aws::CounterStore;
use backend::runtime::{init_json_logs, sdk_config};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    let config = AggregatorConfig::from_lookup(|name| std::env::var(name).ok())?;
    let sdk = sdk_config(&config.region).await;
    let store = CounterStore {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        table: config.table,
        firehose: aws_sdk_firehose::Client::new(&sdk),
        delivery_stream: config.delivery_stream,
        clock: Box::new(backend::calendar::unix_now),
    };
    let store = &store;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let function = function.as_str();
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisEvent>| async move {
            // A failed batch is an error: the service delivers it again.
            let metrics = handle_batch(store, &event.payload).await?;
            let now_ms = backend::calendar::unix_now_ms();
            println!("{}", emf_line(function, now_ms, &metrics.named()));
            Ok::<_, lambda_runtime::Error>(())
        },
    ))
    .await
}
