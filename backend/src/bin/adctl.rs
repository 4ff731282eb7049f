//! Operator CLI over the same adapters as the Lambdas.
//!
//! ```text
//! adctl show  --channel arn:aws:ivs:...:channel/abc --product aurora-mug
//! adctl clear --channel arn:aws:ivs:...:channel/abc
//! adctl state --channel arn:aws:ivs:...:channel/abc
//! adctl products
//! adctl report --studio http://127.0.0.1:8080 --token <token> [--format table|csv|json]
//! adctl report --measure-table <table> --region us-east-1 [--format ...]
//! adctl reconcile --measure-table <table> --events-bucket <bucket> --region us-east-1 --from 2026-12-01 [--to 2026-12-06]
//! adctl recordings --bucket <recordings bucket> --region us-east-1 [--player-url https://<player>] [--format table|json]
//! adctl recordings --studio http://127.0.0.1:8080
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
    /// AWS region of the channels (before or after the command).
    #[arg(long, env = config::AWS_REGION, global = true)]
    region: Option<String>,
    /// At most this many products at once on a channel.
    #[arg(long, env = config::MAX_ACTIVE_PRODUCTS)]
    max_active: Option<String>,
    /// Act through the studio at this address (its `/operator/<action>`
    /// routes, with --operator-token) instead of from this machine: every
    /// window and pause then starts on the studio's clock, whatever this
    /// machine's says. Without it, show, unpin, clear, pause, resume and
    /// sold-out write the state table directly, on this machine's clock.
    #[arg(long, env = "ADCTL_OPERATOR_URL", global = true)]
    operator_url: Option<String>,
    /// The token the studio printed, for --operator-url.
    #[arg(long, env = "ADCTL_OPERATOR_TOKEN", global = true)]
    operator_token: Option<String>,
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
        /// For this many seconds instead of its display time (at most an
        /// hour, as a catalog's display time).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(ad_contract::MAX_DISPLAY_SECONDS)))]
        seconds: Option<u32>,
    },
    /// Take one product's card off a channel now (its cooldown starts).
    Unpin {
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
    /// Pause automatic showing on a channel: detections show no card until
    /// `resume` or the pause's end (cards already up stay; `show` still
    /// works). Its end is reckoned by this machine's clock, as `show`'s is.
    Pause {
        #[arg(long)]
        channel: String,
        /// How long, in seconds (at most 12 hours).
        #[arg(long, default_value_t = backend::decision::MAX_PAUSE_SECONDS,
              value_parser = clap::value_parser!(u64).range(1..=backend::decision::MAX_PAUSE_SECONDS))]
        seconds: u64,
    },
    /// Resume automatic showing on a channel.
    Resume {
        #[arg(long)]
        channel: String,
    },
    /// Mark a product sold out on a channel (its card says so, with no QR
    /// code and no link), or back in stock with `--back`.
    SoldOut {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        product: String,
        #[arg(long)]
        back: bool,
    },
    /// Print a channel's state as JSON.
    State {
        #[arg(long)]
        channel: String,
    },
    /// Check the catalog (every field, all problems at once) and list its
    /// product ids and labels. Needs no AWS settings: run it before a deploy.
    Products,
    /// Impressions, viewable impressions, view rate, opens, scans and
    /// click-through rate per channel, product and show, from the store the
    /// dashboard reads.
    #[command(group(clap::ArgGroup::new("store").required(true).args(["studio", "measure_table"])))]
    Report {
        /// The studio's address (its store); the token it printed goes in
        /// --token.
        #[arg(long)]
        studio: Option<String>,
        /// The report token the studio printed.
        #[arg(long, env = "STUDIO_REPORT_TOKEN", requires = "studio")]
        token: Option<String>,
        /// The stack's counters table (output MeasurementTable), read with
        /// your AWS credentials in --region.
        #[arg(long, env = config::MEASURE_TABLE_NAME, conflicts_with = "studio")]
        measure_table: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: backend::measure::ReportFormat,
    },
    /// Recount the raw events in S3 (outputs EventsBucket) for the shows that
    /// started from --from to --to, and compare them with the counters
    /// (MeasurementTable), per show and measure. Prints every difference;
    /// exit code 1 when there is one.
    Reconcile {
        #[arg(long, env = config::MEASURE_TABLE_NAME)]
        measure_table: String,
        /// The raw events' bucket (output EventsBucket).
        #[arg(long)]
        events_bucket: String,
        /// First day of the shows, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: String,
        /// Last day of the shows, YYYY-MM-DD (UTC); default: --from.
        #[arg(long)]
        to: Option<String>,
        /// Days of raw events read past --to: scans of a show arrive after
        /// it, up to the links' lifetime.
        #[arg(long, default_value_t = 1)]
        days_after: u64,
    },
    /// The recorded shows, newest first, with their length, products and
    /// replay: the stack's index (recordings/index.json in the recordings
    /// bucket, output RecordingsBucket) or the studio's list.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["studio", "bucket"])))]
    Recordings {
        /// The studio's address.
        #[arg(long)]
        studio: Option<String>,
        /// The stack's recordings bucket (output RecordingsBucket), read
        /// with your AWS credentials in --region.
        #[arg(long, env = config::RECORDINGS_BUCKET, conflicts_with = "studio")]
        bucket: Option<String>,
        /// The player's address (output PlayerUrl): each row links its
        /// replay on the replays page.
        #[arg(long)]
        player_url: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: RecordingsFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RecordingsFormat {
    Table,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Report {
        studio,
        token,
        measure_table,
        format,
    } = &cli.command
    {
        let shows = match (studio, measure_table) {
            (Some(studio), _) => {
                let token = token.as_deref().context(
                    "--token is missing: give the report token the studio printed (or STUDIO_REPORT_TOKEN)",
                )?;
                studio_report(studio, token).await?
            }
            (None, Some(table)) => {
                let region = cli
                    .region
                    .as_deref()
                    .context("--region is missing: give the stack's region (or AWS_REGION)")?;
                let counters = backend::measure_aws::DynamoCounters::new(
                    aws_sdk_dynamodb::Client::new(&sdk_config(region).await),
                    table.clone(),
                );
                counters
                    .shows()
                    .await
                    .with_context(|| format!("reading the counters table {table}"))?
            }
            (None, None) => anyhow::bail!("give --studio or --measure-table"),
        };
        print!("{}", backend::measure::render_report(&shows, *format));
        return Ok(());
    }
    if let Command::Recordings {
        studio,
        bucket,
        player_url,
        format,
    } = &cli.command
    {
        let entries = match (studio, bucket) {
            (Some(studio), _) => studio_recordings(studio).await?,
            (None, Some(bucket)) => {
                let region = cli
                    .region
                    .as_deref()
                    .context("--region is missing: give the stack's region (or AWS_REGION)")?;
                bucket_recordings(region, bucket).await?
            }
            (None, None) => anyhow::bail!("give --studio or --bucket"),
        };
        let player_url = player_url.as_deref().or(studio.as_deref());
        match format {
            RecordingsFormat::Table => {
                print!(
                    "{}",
                    backend::replay::render_recordings(&entries, player_url)
                )
            }
            RecordingsFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&entries).context("printing")?
            ),
        }
        return Ok(());
    }
    if let Command::Reconcile {
        measure_table,
        events_bucket,
        from,
        to,
        days_after,
    } = &cli.command
    {
        use backend::calendar::{parse_day, DAY_SECONDS};
        use backend::reconcile::{day_prefixes, differences, raw_counts};
        let region = cli
            .region
            .as_deref()
            .context("--region is missing: give the stack's region (or AWS_REGION)")?;
        let from = parse_day(from).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
        let to = match to {
            Some(to) => parse_day(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?,
            None => from,
        };
        anyhow::ensure!(to >= from, "--to is before --from");
        let sdk = sdk_config(region).await;
        let counters = backend::measure_aws::DynamoCounters::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            measure_table.clone(),
        )
        .days(from, to)
        .shows()
        .await
        .with_context(|| format!("reading the counters table {measure_table}"))?;
        let prefixes = day_prefixes("events/", from, to + (*days_after).min(400) * DAY_SECONDS);
        let raw = backend::measure_aws::read_raw_events(
            &aws_sdk_s3::Client::new(&sdk),
            events_bucket,
            &prefixes,
        )
        .await
        .with_context(|| format!("reading the raw events in s3://{events_bucket}"))?;
        // Raw events of shows outside the range are not compared.
        let shows_in_range = |show: u64| (from..to + DAY_SECONDS).contains(&(show / 1000));
        let events: Vec<_> = raw
            .events
            .iter()
            .filter(|e| shows_in_range(e.show))
            .collect();
        let found = differences(&raw_counts(events.iter().copied()), &counters);
        println!(
            "{} raw files, {} events ({} lines not events), {} shows counted",
            raw.files,
            raw.events.len(),
            raw.bad_lines,
            counters.len()
        );
        for d in &found {
            println!(
                "{}\t{}\t{}\t{}\traw {}\tcounted {}",
                d.channel,
                d.product,
                d.show,
                d.measure.as_str(),
                d.raw,
                d.counted
            );
        }
        if found.is_empty() {
            println!("no difference");
            return Ok(());
        }
        std::process::exit(1);
    }
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
    if let Some(url) = &cli.operator_url {
        let (action, body) = operator_request(&cli.command).context(
            "--operator-url applies to show, unpin, clear, pause, resume, sold-out and state",
        )?;
        let token = cli.operator_token.as_deref().context(
            "--operator-token is missing: give the token the studio printed (or ADCTL_OPERATOR_TOKEN). \
             For the stack's operator function (IAM-signed), see docs/deploy.md",
        )?;
        let out = studio_operator(url, token, action, &body).await?;
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("printing")?
        );
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
    let pipeline = build_pipeline(&config, &clients, false).await?;
    let out = match cli.command {
        Command::Show {
            channel,
            product,
            seconds,
        } => {
            let cue = backend::operator::pin(&pipeline, &channel, &product, seconds).await?;
            serde_json::json!({ "published": cue.encode().unwrap_or_default() })
        }
        Command::Unpin { channel, product } => {
            let cue = backend::operator::unpin(&pipeline, &channel, &product).await?;
            serde_json::json!({ "published": cue.and_then(|c| c.encode().ok()) })
        }
        Command::Clear { channel } => {
            let cue = backend::operator::clear(&pipeline, &channel).await?;
            serde_json::json!({ "published": cue.encode().unwrap_or_default() })
        }
        Command::Pause { channel, seconds } => {
            let until = backend::operator::pause(&pipeline, &channel, seconds).await?;
            serde_json::json!({ "paused_until": until })
        }
        Command::Resume { channel } => {
            backend::operator::pause(&pipeline, &channel, 0).await?;
            serde_json::json!({ "paused_until": 0 })
        }
        Command::SoldOut {
            channel,
            product,
            back,
        } => {
            let cue = backend::operator::sold_out(&pipeline, &channel, &product, !back).await?;
            serde_json::json!({ "published": cue.and_then(|c| c.encode().ok()) })
        }
        Command::State { channel } => backend::operator::state(&pipeline, &channel).await?,
        Command::Products
        | Command::Report { .. }
        | Command::Reconcile { .. }
        | Command::Recordings { .. } => serde_json::Value::Null,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).context("printing")?
    );
    Ok(())
}

/// The operator action and JSON body a command sends to `/operator/<action>`
/// (the same as the operator function's); `None` for other commands.
fn operator_request(command: &Command) -> Option<(&'static str, serde_json::Value)> {
    use serde_json::json;
    Some(match command {
        Command::Show {
            channel,
            product,
            seconds,
        } => (
            "pin",
            json!({ "channel": channel, "product": product, "seconds": seconds }),
        ),
        Command::Unpin { channel, product } => {
            ("unpin", json!({ "channel": channel, "product": product }))
        }
        Command::Clear { channel } => ("clear", json!({ "channel": channel })),
        Command::Pause { channel, seconds } => {
            ("pause", json!({ "channel": channel, "seconds": seconds }))
        }
        Command::Resume { channel } => ("resume", json!({ "channel": channel })),
        Command::SoldOut {
            channel,
            product,
            back,
        } => (
            if *back { "in-stock" } else { "sold-out" },
            json!({ "channel": channel, "product": product }),
        ),
        Command::State { channel } => ("state", json!({ "channel": channel })),
        Command::Products
        | Command::Report { .. }
        | Command::Reconcile { .. }
        | Command::Recordings { .. } => return None,
    })
}

/// One request to the studio with its token: the status and the body (at
/// most `max_bytes`), within 10 s.
async fn studio_call(
    request: hyper::Request<http_body_util::Full<bytes::Bytes>>,
    url: &str,
    max_bytes: usize,
) -> anyhow::Result<(hyper::StatusCode, bytes::Bytes)> {
    use http_body_util::{BodyExt, Limited};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response =
        tokio::time::timeout(std::time::Duration::from_secs(10), client.request(request))
            .await
            .with_context(|| format!("{url}: no answer within 10 s"))?
            .with_context(|| format!("{url}: is the studio running there?"))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), max_bytes)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: reading the answer: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// `POST <studio>/operator/<action>` with the studio's token: the action
/// runs on the studio's clock. Prints nothing; returns the answer.
async fn studio_operator(
    studio: &str,
    token: &str,
    action: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let url = format!("{}/operator/{action}", studio.trim_end_matches('/'));
    let uri: hyper::Uri = url.parse().with_context(|| {
        format!("--operator-url {studio} is not a URL like http://127.0.0.1:8080")
    })?;
    let request = hyper::Request::post(uri)
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .context("building the request")?;
    // An answer is a cue (at most 1 KB) and a few fields.
    let (status, answer) = studio_call(request, &url, 64 << 10).await?;
    if status == hyper::StatusCode::UNAUTHORIZED {
        anyhow::bail!("the studio refused the token: pass the one it printed (--operator-token or ADCTL_OPERATOR_TOKEN)");
    }
    let answer: serde_json::Value = serde_json::from_slice(&answer).with_context(|| {
        format!(
            "{url} answered {status}, not JSON: {}",
            String::from_utf8_lossy(&answer)
        )
    })?;
    if !status.is_success() {
        anyhow::bail!(
            "{action} refused ({status}): {}",
            answer["error"].as_str().unwrap_or("no reason given")
        );
    }
    Ok(answer)
}

/// The studio's counts per show, read from its report API (JSON), so the
/// table, CSV and JSON are rendered here by the one renderer.
/// The studio's recordings (`/recordings.json`, public like its pages).
async fn studio_recordings(studio: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let url = format!("{}/recordings.json", studio.trim_end_matches('/'));
    let uri: hyper::Uri = url
        .parse()
        .with_context(|| format!("--studio {studio} is not a URL like http://127.0.0.1:8080"))?;
    let request = hyper::Request::get(uri)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .context("building the request")?;
    let (status, body) = studio_call(request, &url, 8 << 20).await?;
    if !status.is_success() {
        anyhow::bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("{url}: not a list of recordings"))
}

/// The stack's index of recordings; none yet is an empty list.
async fn bucket_recordings(region: &str, bucket: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    use backend::replay::{RecordingArchive as _, INDEX_KEY, MAX_INDEX_BYTES};
    let archive = backend::replay_aws::S3RecordingArchive {
        s3: aws_sdk_s3::Client::new(&sdk_config(region).await),
        bucket: bucket.to_owned(),
    };
    let Some((text, _)) = archive
        .read(INDEX_KEY, MAX_INDEX_BYTES)
        .await
        .with_context(|| format!("reading s3://{bucket}/{INDEX_KEY}"))?
    else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text)
        .with_context(|| format!("s3://{bucket}/{INDEX_KEY} is not a JSON list of recordings"))
}

async fn studio_report(
    studio: &str,
    token: &str,
) -> anyhow::Result<Vec<backend::measure::ShowCounts>> {
    let url = format!(
        "{}/measure/report?format=json",
        studio.trim_end_matches('/')
    );
    let uri: hyper::Uri = url
        .parse()
        .with_context(|| format!("--studio {studio} is not a URL like http://127.0.0.1:8080"))?;
    let request = hyper::Request::get(uri)
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .context("building the request")?;
    // A report of a long show is a few hundred KB; 32 MB is far past any.
    let (status, body) = studio_call(request, &url, 32 << 20).await?;
    if status == hyper::StatusCode::UNAUTHORIZED {
        anyhow::bail!("the studio refused the token: pass the one it printed (--token or STUDIO_REPORT_TOKEN)");
    }
    if !status.is_success() {
        anyhow::bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&body).with_context(|| format!("{url}: not a report"))?;
    rows.iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap_or(0);
            let t = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            Ok(backend::measure::ShowCounts {
                channel: t("channel"),
                product: t("product"),
                show: n("show"),
                impressions: n("impressions"),
                viewable: n("viewable"),
                opens: n("opens"),
                scans: n("scans"),
                invalid: n("invalid"),
                ..Default::default()
            })
        })
        .collect()
}
