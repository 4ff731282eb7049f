//! The measurement dashboard for a deployed stack, on this machine: reads the
//! stack's counters table with your AWS credentials (see
//! `studio::aws_dashboard` for why it is not hosted).
use anyhow::Context as _;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Serve the measurement dashboard over a deployed stack's counters, on 127.0.0.1")]
struct Args {
    /// The stack's counters table (output MeasurementTable).
    #[arg(long, env = "MEASURE_TABLE_NAME")]
    measure_table: String,
    /// The stack's region.
    #[arg(long, env = "AWS_REGION")]
    region: String,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sdk = backend::runtime::sdk_config(&args.region).await;
    let counters = backend::measure_aws::DynamoCounters::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        args.measure_table.clone(),
    );
    // Fail now, with the reason, if the credentials cannot read the table.
    counters
        .shows()
        .await
        .with_context(|| format!("cannot read the counters table {}", args.measure_table))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let port = listener.local_addr()?.port();
    let token = studio::aws_dashboard::new_token();
    println!(
        "dashboard of {} ({}): http://127.0.0.1:{port}/dashboard/#token={token}",
        args.measure_table, args.region
    );
    println!("Ctrl-C stops it.");
    let app = studio::aws_dashboard::app(counters, token, port);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving the dashboard")
}
