//! Lambda behind a function URL with AuthType AWS_IAM: the counters for the
//! hosted dashboard (see `backend::report_api`).
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use backend::collector::{from_function_url, to_function_url};
use backend::measure_aws::DynamoCounters;
use backend::report_api::{handle_report, ReportConfig};
use backend::runtime::{init_json_logs, sdk_config};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    let config = ReportConfig::from_lookup(|name| std::env::var(name).ok())?;
    let sdk = sdk_config(&config.region).await;
    let counters = DynamoCounters::new(aws_sdk_dynamodb::Client::new(&sdk), config.table);
    let counters = &counters;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            let response = handle_report(counters, &from_function_url(&event.payload)).await;
            Ok::<_, lambda_runtime::Error>(to_function_url(response))
        },
    ))
    .await
}
