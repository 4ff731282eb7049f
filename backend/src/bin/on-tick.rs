//! Lambda: one step of the generic re-publishing workflow (Step Functions Task).
use backend::config::{Config, Role};
use backend::handlers::on_tick;
use backend::runtime::{build_pipeline, init_json_logs, sdk_config, settings, Clients};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    let settings = settings().await?;
    let config = Config::from_lookup(Role::OnTick, |name| settings.get(name).cloned())?;
    let clients = Clients::new(&sdk_config(&config.region).await);
    let pipeline = build_pipeline(&config, &clients, true).await?;
    // Borrowed by every invocation: the runtime serves this one function
    // until the process ends.
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        on_tick(pipeline, event).await
    }))
    .await
}
