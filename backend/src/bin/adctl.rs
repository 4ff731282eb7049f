//! Operator CLI over the same adapters as the Lambdas.
//!
//! ```text
//! adctl show  --channel arn:aws:ivs:...:channel/abc --product aurora-mug
//! adctl clear --channel arn:aws:ivs:...:channel/abc
//! adctl state --channel arn:aws:ivs:...:channel/abc
//! adctl products
//! ```
//! Settings come from flags or the same environment variables the Lambdas
//! read (`TABLE_NAME`, `STATE_MACHINE_ARN`, `CATALOG_PATH`, `AWS_REGION`, ...);
//! AWS credentials and endpoints as for any AWS SDK program.
use anyhow::Context as _;
use backend::config::{self, Config, Role};
use backend::runtime::{build_pipeline, sdk_config, Clients};
use clap::{Parser, Subcommand};
use std::collections::HashMap;

#[derive(Parser)]
#[command(version, about = "Operate product overlays on IVS channels")]
struct Cli {
    /// DynamoDB state table.
    #[arg(long, env = config::TABLE_NAME)]
    table: Option<String>,
    /// The re-publishing workflow's ARN.
    #[arg(long, env = config::STATE_MACHINE_ARN)]
    state_machine: Option<String>,
    /// Catalog JSON file.
    #[arg(long, env = config::CATALOG_PATH, default_value = "catalog.json")]
    catalog: String,
    /// AWS region of the channels.
    #[arg(long, env = config::AWS_REGION)]
    region: Option<String>,
    /// At most this many products at once on a channel.
    #[arg(long, env = config::MAX_ACTIVE_PRODUCTS)]
    max_active: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a product on a channel now (ignores its cooldown).
    Show {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        product: String,
    },
    /// Take every card off a channel now.
    Clear {
        #[arg(long)]
        channel: String,
    },
    /// Print a channel's state as JSON.
    State {
        #[arg(long)]
        channel: String,
    },
    /// Check the catalog (every field, all problems at once) and list its
    /// product ids and labels. Needs no AWS settings: run it before a deploy.
    Products,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Products = cli.command {
        let text = std::fs::read_to_string(&cli.catalog)
            .with_context(|| format!("cannot read the catalog {}", cli.catalog))?;
        let catalog = ad_contract::Catalog::from_json(&text)
            .map_err(|e| anyhow::anyhow!("catalog {}: {e}", cli.catalog))?;
        for p in catalog.products() {
            println!("{}\t{}\t{}", p.id, p.labels.join(","), p.title);
        }
        return Ok(());
    }
    let mut vars = HashMap::new();
    vars.insert(config::CATALOG_PATH, Some(cli.catalog.clone()));
    vars.insert(config::TABLE_NAME, cli.table.clone());
    vars.insert(config::STATE_MACHINE_ARN, cli.state_machine.clone());
    vars.insert(config::AWS_REGION, cli.region.clone());
    vars.insert(config::MAX_ACTIVE_PRODUCTS, cli.max_active.clone());
    let config = Config::from_lookup(Role::Operator, |name| {
        vars.get(name)
            .cloned()
            .flatten()
            .or_else(|| std::env::var(name).ok())
    })?;
    let clients = Clients::new(&sdk_config(&config.region).await);
    let pipeline = build_pipeline(&config, &clients, false)
        .await
        .map_err(anyhow::Error::msg)?;
    let out = match cli.command {
        Command::Show { channel, product } => {
            let cue = backend::operator::show_now(&pipeline, &channel, &product).await?;
            serde_json::json!({ "published": cue.encode().unwrap_or_default() })
        }
        Command::Clear { channel } => {
            let cue = backend::operator::clear(&pipeline, &channel).await?;
            serde_json::json!({ "published": cue.encode().unwrap_or_default() })
        }
        Command::State { channel } => backend::operator::state(&pipeline, &channel).await?,
        Command::Products => serde_json::Value::Null,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).context("printing")?
    );
    Ok(())
}
