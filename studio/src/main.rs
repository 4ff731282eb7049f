use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    studio::app::run(studio::app::Args::parse()).await
}
