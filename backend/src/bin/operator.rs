//! Lambda behind a function URL with AuthType AWS_IAM: an operator's pin,
//! unpin, clear, pause, resume and state read, on the function's clock (see
//! `backend::operator_api`).
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use backend::collector::{from_function_url, to_function_url};
use backend::config::{Config, Role};
use backend::operator_api::handle_operator;
use backend::runtime::{build_pipeline, init_json_logs, sdk_config, settings, Clients};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    let settings = settings().await?;
    let config = Config::from_lookup(Role::Operator, |name| settings.get(name).cloned())?;
    let clients = Clients::new(&sdk_config(&config.region).await);
    let pipeline = build_pipeline(&config, &clients, true).await?;
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            let response = handle_operator(pipeline, &from_function_url(&event.payload)).await;
            Ok::<_, lambda_runtime::Error>(to_function_url(response))
        },
    ))
    .await
}
