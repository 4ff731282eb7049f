//! The `studio` command: options, start-up checks with clear messages, and
//! an orderly shutdown on Ctrl-C or SIGTERM (ffmpeg stopped and reaped).

use crate::channel::{Channel, ChannelInfo};
use crate::encoder::{self, Input, Supervisor};
use crate::error::StudioError;
use crate::local_chain::{self, LocalChain};
use crate::rekognition_api::Rekognition;
use crate::server;
use crate::thumbnails::{self, S3Target, ThumbnailConfig};
use ad_contract::Catalog;
use backend::decision::Rules;
use backend::limits;
use backend::live_catalog::CatalogVersion;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "studio",
    about = "A local Amazon IVS channel: live HLS with timed metadata, the PutMetadata API and recording thumbnails."
)]
pub struct Args {
    /// What to stream: `demo` (a generated show with the demo catalog's
    /// products), `rtmp` (ffmpeg listens for OBS or any RTMP broadcaster), or
    /// the path of a video file, played in a loop as live.
    #[arg(long, default_value = "demo")]
    pub input: String,
    /// HTTP port on 127.0.0.1 for playback, the IVS API and the site (0 picks
    /// a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// RTMP port for `--input rtmp`.
    #[arg(long, default_value_t = 1935)]
    pub rtmp_port: u16,
    /// Stream key for `--input rtmp` (random when not given).
    #[arg(long)]
    pub stream_key: Option<String>,
    /// The channel id in its ARN: 12 letters and digits, like IVS's.
    #[arg(long, default_value = "LocalStudio1")]
    pub channel_id: String,
    #[arg(long, default_value = "123456789012")]
    pub account: String,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Seconds between recording thumbnails (1 to 60), as IVS's
    /// `targetIntervalSeconds`.
    #[arg(long, default_value_t = limits::thumbnail_interval_seconds().for_studio())]
    pub thumbnail_interval: u64,
    /// Folder the thumbnails are written to, under IVS's key layout.
    /// Default: `ivs-studio/thumbnails` in the user's cache folder
    /// (`$XDG_CACHE_HOME` or `~/.cache`), private (mode 0700).
    #[arg(long)]
    pub thumbnails_dir: Option<PathBuf>,
    /// Thumbnails kept in the folder: older ones are deleted as new ones
    /// come.
    #[arg(long, default_value_t = crate::thumbnails::DEFAULT_KEEP)]
    pub keep_thumbnails: usize,
    /// S3 endpoint (moto server) to put thumbnails into as well.
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// Bucket for `--s3-endpoint`; created when missing.
    #[arg(long, default_value = "ivs-recordings")]
    pub s3_bucket: String,
    /// Folder served at `/`. Default: the player's build (`player/dist`) when
    /// it exists.
    #[arg(long)]
    pub site: Option<PathBuf>,
    /// The catalog whose products the local chain looks for (reference image
    /// paths relative to it). Default: the demo catalog, whose logos the
    /// demo show draws.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Do not run the local chain (built-in detector, decision core, cues)
    /// on the thumbnails; cues then come only through PutMetadata, e.g. from
    /// the Lambdas pointed at this studio.
    #[arg(long)]
    pub no_local_chain: bool,
    /// At most this many products show at once (the Lambdas' MAX_ACTIVE_PRODUCTS,
    /// 1 to 8; the demo shows two).
    #[arg(long, default_value_t = limits::max_active_products().for_studio() as usize)]
    pub max_active_products: usize,
    /// The workflow re-publishes the cue this often, in seconds (REPUBLISH_SECONDS,
    /// 1 to 60).
    #[arg(long, default_value_t = limits::republish_seconds().for_studio())]
    pub republish_seconds: u64,
    /// The ffmpeg program.
    #[arg(long, default_value = "ffmpeg")]
    pub ffmpeg: PathBuf,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    pub json_logs: bool,
    /// A web origin (`http://host:port`) besides the studio's own that may
    /// call its API, and read the stream when it is the camera (`--input
    /// rtmp`). Repeatable. See "Security model" in docs.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Folder of the measurement database, its signing key and the report
    /// token. Default: `ivs-studio/measure` in the user's cache folder,
    /// private (mode 0700).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Recordings (every stream, in IVS's layout, under the data folder's
    /// `recordings/`) are kept under this many megabytes; the oldest go
    /// first. 0 records nothing.
    #[arg(long, default_value_t = 2048)]
    pub max_recordings_mb: u64,
}

/// Reasons the studio cannot start, each with its fix.
fn config_error(error: StudioError) -> ExitCode {
    eprintln!("studio: {}", error.report());
    ExitCode::from(2)
}

fn parse_input(args: &Args, stream_key: &str) -> Result<Input, StudioError> {
    match args.input.as_str() {
        "demo" => Ok(Input::Demo),
        "rtmp" => Ok(Input::Rtmp {
            port: args.rtmp_port,
            stream_key: stream_key.to_string(),
        }),
        path => {
            let p = PathBuf::from(path);
            match std::fs::File::open(&p).and_then(|f| f.metadata()) {
                Ok(m) if m.is_file() => Ok(Input::File(p)),
                Ok(_) => Err(format!(
                    "--input {path} is not a file: give a video file, `demo` or `rtmp`"
                )
                .into()),
                Err(e) => Err(StudioError::failed(
                    format!("cannot read --input {path} (give a video file ffmpeg can read, `demo` or `rtmp`)"),
                    e,
                )),
            }
        }
    }
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn s3_target(endpoint: &str, bucket: &str, region: &str) -> Result<S3Target, StudioError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        // A local S3 (moto) takes any credentials; do not go looking for real ones.
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            "local", "local", None, None, "studio",
        ));
    }
    let sdk = loader.load().await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    if client.head_bucket().bucket(bucket).send().await.is_err() {
        client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| {
                StudioError::failed(
                    format!("cannot create bucket {bucket} at --s3-endpoint {endpoint} (is moto server running there?)"),
                    e,
                )
            })?;
    }
    Ok(S3Target {
        client,
        bucket: bucket.to_string(),
    })
}

/// Runs the studio: check every option, start, say where everything is,
/// serve until Ctrl-C, SIGTERM or a fatal ffmpeg failure, then stop in order.
pub async fn run(args: Args) -> ExitCode {
    init_logs(args.json_logs);
    let prepared = async {
        check_options(&args)?;
        prepare(&args).await
    };
    let studio = match prepared.await {
        Ok(p) => start(&args, p),
        Err(e) => return config_error(e),
    };
    print_banner(&args, &studio);
    let code = tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("stopping");
            ExitCode::SUCCESS
        }
        Ok(message) = studio.fatal => {
            eprintln!("studio: {message}");
            ExitCode::from(1)
        }
    };
    shut_down(studio.tasks).await;
    // The stream ended with ffmpeg: its recording is finished on disk.
    let channel = studio.channel.clone();
    let _ = tokio::task::spawn_blocking(move || channel.flush_recording()).await;
    code
}

/// The options that need no I/O to check, each failure naming the option
/// and the fix.
fn check_options(args: &Args) -> Result<(), StudioError> {
    // Bounds, defaults and the refusal's words from backend/limits.json,
    // as the Lambdas and the CDK app give them.
    let bounded = |limit: &limits::Limit, given: u64| {
        let name = limit.option.as_deref().unwrap_or_default();
        limit
            .check(name, &given.to_string(), limit.for_studio())
            .map(|_| ())
            .map_err(StudioError::Invalid)
    };
    bounded(
        limits::thumbnail_interval_seconds(),
        args.thumbnail_interval,
    )?;
    let id_ok = !args.channel_id.is_empty()
        && args.channel_id.len() <= 64
        && args.channel_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !id_ok {
        return Err(format!(
            "--channel-id {:?} must be letters and digits only (IVS ids look like aBcDeFgH1234)",
            args.channel_id
        )
        .into());
    }
    if args.account.len() != 12 || !args.account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "--account {:?} must be a 12-digit AWS account id",
            args.account
        )
        .into());
    }
    if args.keep_thumbnails == 0 {
        return Err("--keep-thumbnails must be at least 1".into());
    }
    bounded(
        limits::max_active_products(),
        args.max_active_products as u64,
    )?;
    bounded(limits::republish_seconds(), args.republish_seconds)?;
    Ok(())
}

/// What [`prepare`] found and opened: every part the studio starts with,
/// checked.
struct Prepared {
    input: Input,
    stream_key: String,
    allow_origins: Vec<String>,
    site: Option<PathBuf>,
    ffmpeg_version: String,
    listener: tokio::net::TcpListener,
    port: u16,
    s3: Option<S3Target>,
    thumbnails_dir: PathBuf,
    /// The catalog in effect at start (the newest saved version).
    catalog: CatalogVersion,
    measurement: StudioMeasurement,
    detector: Option<Arc<backend::builtin::LiveBuiltin>>,
}

/// Everything that can be checked before starting, checked: the input,
/// origins, ports, ffmpeg, folders, S3, the catalog and its references (a
/// bad reference image stops the studio with its name and the fix).
async fn prepare(args: &Args) -> Result<Prepared, StudioError> {
    let stream_key = args
        .stream_key
        .clone()
        .unwrap_or_else(|| format!("sk_local_{}", crate::channel::random_id(20)));
    let input = parse_input(args, &stream_key)?;
    let allow_origins = args
        .allow_origins
        .iter()
        .map(|o| crate::guard::parse_origin(o))
        .collect::<Result<Vec<_>, _>>()?;
    if let Input::Rtmp { port, .. } = &input {
        // ffmpeg would fail on a busy port with a less helpful message, and
        // its listener is restarted rather than treated as fatal.
        if std::net::TcpListener::bind(("127.0.0.1", *port)).is_err() {
            return Err(format!(
                "RTMP port {port} on 127.0.0.1 is in use: stop what is using it, or pass --rtmp-port"
            )
            .into());
        }
    }
    let site = args.site.clone().or_else(|| {
        let built = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../player/dist"));
        built.join("index.html").is_file().then_some(built)
    });
    if let Some(dir) = site.as_ref().filter(|d| !d.is_dir()) {
        return Err(format!("--site {} is not a folder", dir.display()).into());
    }
    let ffmpeg_version = encoder::check_ffmpeg(&args.ffmpeg)?;
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(format!(
                "port {} on 127.0.0.1 is in use: stop what is using it, or pass --port (0 picks a free port)",
                args.port
            )
            .into())
        }
        Err(e) => {
            return Err(StudioError::failed(
                format!("cannot listen on 127.0.0.1:{}", args.port),
                e,
            ))
        }
    };
    let port = listener
        .local_addr()
        .map_err(|e| StudioError::failed("cannot read the bound port", e))?
        .port();
    let s3 = match &args.s3_endpoint {
        Some(endpoint) => Some(s3_target(endpoint, &args.s3_bucket, &args.region).await?),
        None => None,
    };
    let thumbnails_dir = match args.thumbnails_dir.clone() {
        Some(dir) => dir,
        None => crate::thumbnails::default_dir()
            .and_then(|d| crate::thumbnails::prepare_private_dir(&d).map(|()| d))
            .map_err(|e| e.within("thumbnail folder"))?,
    };
    let starting = load_catalog(args.catalog.as_deref())?;
    let measurement =
        open_measurement(args.data_dir.as_deref()).map_err(|e| e.within("measurement data"))?;
    let catalog = catalog_in_effect(&measurement.catalog_store, starting)?;
    measurement
        .api
        .collector
        .set_catalog(catalog.catalog.clone());
    let detector = if args.no_local_chain {
        None
    } else {
        let references = Arc::new(local_chain::StudioReferences {
            store: measurement.catalog_store.clone(),
            catalog_dir: args.catalog.as_deref().map(|p| {
                p.parent()
                    .unwrap_or(std::path::Path::new("."))
                    .to_path_buf()
            }),
            models_dir: detector::text::default_models_dir(),
        });
        let built = backend::builtin::LiveBuiltin::new(references, &catalog.catalog)
            .await
            .map_err(|e| StudioError::failed(format!("catalog version {}", catalog.version), e))?;
        Some(Arc::new(built))
    };
    Ok(Prepared {
        input,
        stream_key,
        allow_origins,
        site,
        ffmpeg_version,
        listener,
        port,
        s3,
        thumbnails_dir,
        catalog,
        measurement,
        detector,
    })
}

/// The running studio: what the banner names, the fatal-error signal, and
/// the tasks [`shut_down`] stops.
struct Running {
    summary: Summary,
    channel: Arc<Channel>,
    fatal: tokio::sync::oneshot::Receiver<String>,
    tasks: Tasks,
}

/// What the banner prints, kept from [`Prepared`] once its parts started.
struct Summary {
    base_url: String,
    ingest: String,
    input: Input,
    stream_key: String,
    ffmpeg_version: String,
    site: Option<PathBuf>,
    labels: Option<Vec<String>>,
    s3_bucket: Option<String>,
    thumbnails_dir: PathBuf,
    measure_db: PathBuf,
    report_token: String,
}

/// The studio's moving parts, stopped in order by [`shut_down`].
struct Tasks {
    supervisor: Supervisor,
    thumbnails: tokio::task::JoinHandle<()>,
    /// The local chain's workflow runner and thumbnail listener.
    chain: Option<(tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>)>,
    stop_server: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts ffmpeg, the thumbnails, the local chain and the HTTP server.
fn start(args: &Args, p: Prepared) -> Running {
    let base_url = format!("http://127.0.0.1:{}", p.port);
    let ingest = match &p.input {
        Input::Rtmp { port, .. } => format!("rtmp://127.0.0.1:{port}/live"),
        _ => "127.0.0.1".to_string(),
    };
    let channel = Arc::new(Channel::new(ChannelInfo {
        region: args.region.clone(),
        account: args.account.clone(),
        id: args.channel_id.clone(),
        name: "studio".into(),
        base_url: base_url.clone(),
        ingest_endpoint: ingest.clone(),
    }));

    let (fatal_tx, fatal) = tokio::sync::oneshot::channel::<String>();
    let supervisor = Supervisor::start(
        args.ffmpeg.clone(),
        p.input.clone(),
        channel.clone(),
        move |m| {
            let _ = fatal_tx.send(m);
        },
    );
    let (written_tx, mut written_rx) =
        tokio::sync::mpsc::unbounded_channel::<thumbnails::Written>();
    let mut console = None;
    let mut live_catalog: Option<Arc<backend::handlers::Pipeline>> = None;
    let chain = p.detector.clone().map(|detector| {
        let (chain, workflow) = LocalChain::start(
            channel.clone(),
            p.catalog.clone(),
            detector,
            p.thumbnails_dir.clone(),
            Rules {
                max_active: args.max_active_products,
                republish_seconds: args.republish_seconds,
            },
            Some(p.measurement.signer.clone()),
        );
        // The operator's routes act on the chain's own state and clock.
        let operator = crate::operator_api::Operator {
            pipeline: chain.pipeline(),
            token: p.measurement.api.report_token.clone(),
            audit: p.measurement.audit.clone(),
        };
        console = Some(crate::console_api::Console {
            desk: crate::catalog_api::CatalogDesk {
                operator: operator.clone(),
                store: p.measurement.catalog_store.clone(),
                collector: p.measurement.api.collector.clone(),
                sightings: chain.sightings(),
                thumbnails_dir: p.thumbnails_dir.clone(),
            },
            operator,
            sightings: chain.sightings(),
            thumbnails_dir: p.thumbnails_dir.clone(),
            channel: channel.clone(),
            counts: p.measurement.api.store.clone(),
            // The catalog in effect is hosted here, the demo's or the one
            // given with --catalog (with the images beside it).
            catalog_url: Some("/demo/catalog.json".to_string()),
            catalog_dir: args.catalog.as_deref().map(|p| {
                p.parent()
                    .unwrap_or(std::path::Path::new("."))
                    .to_path_buf()
            }),
        });
        live_catalog = Some(chain.pipeline());
        let listener = tokio::spawn(async move {
            while let Some(w) = written_rx.recv().await {
                chain.on_thumbnail_written(&w.key, w.at).await;
            }
        });
        (workflow, listener)
    });
    // Cues name the catalog version in effect, when the chain has one.
    let catalog: crate::channel::CatalogInEffect = match live_catalog {
        Some(pipeline) => Box::new(move || Some(pipeline.catalog.current())),
        None => Box::new(|| None),
    };
    record(args, &channel, &p.measurement.dir, catalog);
    let thumbnails = tokio::spawn(thumbnails::run(
        channel.clone(),
        ThumbnailConfig {
            interval: Duration::from_secs(args.thumbnail_interval),
            dir: p.thumbnails_dir.clone(),
            s3: p.s3.clone(),
            ffmpeg: args.ffmpeg.clone(),
            on_written: chain.is_some().then_some(written_tx),
            keep: args.keep_thumbnails,
        },
    ));
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let app = server::router(
        Arc::new(vec![channel.clone()]),
        p.site.clone(),
        Rekognition {
            detector: p.detector.clone(),
            thumbnails_dir: p.thumbnails_dir.clone(),
            s3: p.s3.clone(),
            slots: Arc::new(crate::rekognition_api::DetectionSlots::per_core()),
        },
        // The camera is private: other pages may not read it.
        crate::guard::Guard::new(
            p.port,
            &p.allow_origins,
            !matches!(p.input, Input::Rtmp { .. }),
        ),
        Some(p.measurement.api.clone()),
        console,
        (args.max_recordings_mb > 0).then(|| p.measurement.dir.join("recordings")),
    );
    let listener = p.listener;
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = server_stopped.await;
        })
        .await
    });
    Running {
        summary: Summary {
            base_url,
            ingest,
            input: p.input,
            stream_key: p.stream_key,
            ffmpeg_version: p.ffmpeg_version,
            site: p.site,
            labels: p.detector.as_ref().map(|d| {
                d.current()
                    .detector
                    .labels()
                    .into_iter()
                    .map(String::from)
                    .collect()
            }),
            s3_bucket: p.s3.map(|t| t.bucket),
            thumbnails_dir: p.thumbnails_dir,
            measure_db: p.measurement.api.store.path().to_path_buf(),
            report_token: p.measurement.api.report_token.to_string(),
        },
        channel,
        fatal,
        tasks: Tasks {
            supervisor,
            thumbnails,
            chain,
            stop_server,
            server,
        },
    }
}

/// Records the channel's streams under `<data>/recordings` (unless
/// `--max-recordings-mb 0`); a folder that cannot be made is said, and the
/// studio runs without recording.
fn record(
    args: &Args,
    channel: &Channel,
    data_dir: &std::path::Path,
    catalog: crate::channel::CatalogInEffect,
) {
    if args.max_recordings_mb == 0 {
        return;
    }
    let root = data_dir.join("recordings");
    match crate::recorder::Recorder::start(
        root.clone(),
        args.max_recordings_mb.saturating_mul(1 << 20),
    ) {
        Ok(recorder) => channel.record_to(crate::channel::RecordingSink { recorder, catalog }),
        Err(e) => {
            tracing::warn!(error = %e, dir = %root.display(), "recording off: its folder cannot be made")
        }
    }
}

/// Where everything is: URLs, the channel, the stream key, the folders and
/// the measurement token.
fn print_banner(args: &Args, running: &Running) {
    let s = &running.summary;
    let base_url = &s.base_url;
    tracing::info!(version = %s.ffmpeg_version, "ffmpeg found");
    println!("IVS studio on {base_url} (IVS API endpoint URL; also serves the site)");
    println!("channel ARN: {}", running.channel.info.arn());
    if let Input::Rtmp { .. } = s.input {
        println!("RTMP server: {}", s.ingest);
        println!("stream key: {}", s.stream_key);
    }
    match &s.site {
        Some(dir) => println!("site: {base_url}/ serves {}", dir.display()),
        None => println!("site: none (build the player with player/build.sh, or pass --site DIR)"),
    }
    match &args.catalog {
        Some(file) => println!(
            "catalog: {base_url}/demo/catalog.json ({}, in effect, with the images beside it)",
            file.display()
        ),
        None => println!("demo catalog: {base_url}/demo/catalog.json"),
    }
    match &s.labels {
        Some(labels) => println!(
            "local chain: built-in detector on every thumbnail, looking for {}; Rekognition DetectCustomLabels at {base_url}/",
            labels.join(", ")
        ),
        None => println!("local chain: off (--no-local-chain); cues come only through PutMetadata"),
    }
    match &s.s3_bucket {
        Some(bucket) => println!(
            "thumbnails: every {} s into {} and s3://{bucket} at {}",
            args.thumbnail_interval,
            s.thumbnails_dir.display(),
            args.s3_endpoint.as_deref().unwrap_or_default()
        ),
        None => println!(
            "thumbnails: every {} s into {}",
            args.thumbnail_interval,
            s.thumbnails_dir.display()
        ),
    }
    match args.max_recordings_mb {
        0 => println!("recordings: off (--max-recordings-mb 0)"),
        mb => println!(
            "recordings: every stream into {} (the newest kept under {mb} MB)",
            s.measure_db
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("recordings")
                .display()
        ),
    }
    println!(
        "measurement: players report to {base_url}/measure/events; counts in {}",
        s.measure_db.display()
    );
    println!("dashboard: {base_url}/dashboard/#token={}", s.report_token);
    if s.site.is_some() {
        println!(
            "replays: {base_url}/recordings.html#token={}",
            s.report_token
        );
    }
    if s.labels.is_some() {
        println!("console: {base_url}/console/#token={}", s.report_token);
        println!(
            "operator: POST {base_url}/operator/<pin|unpin|clear|pause|resume|sold-out|in-stock|state> with Authorization: Bearer {}",
            s.report_token
        );
    }
    println!(
        "report: adctl report --studio {base_url} --token {}",
        s.report_token
    );
    println!("playback URL:");
    println!("{}", running.channel.info.playback_url());
}

/// Stops the studio in order: thumbnails and the local chain, then ffmpeg
/// (stopped and reaped), then the server (2 s to finish its responses).
async fn shut_down(tasks: Tasks) {
    tasks.thumbnails.abort();
    if let Some((workflow, listener)) = tasks.chain {
        workflow.abort();
        listener.abort();
    }
    let supervisor = tasks.supervisor;
    let _ = tokio::task::spawn_blocking(move || supervisor.stop()).await;
    let _ = tasks.stop_server.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), tasks.server).await;
}

/// The studio's measurement: the signer its cues are tagged with, and the
/// collector and store behind its measurement routes.
struct StudioMeasurement {
    /// The data folder.
    dir: PathBuf,
    signer: backend::measure::ShowSigner,
    api: crate::measure_api::Measurement,
    /// The operator's audit log, beside the counts.
    audit: Arc<crate::audit_log::AuditLog>,
    /// The catalog's versions, beside the counts.
    catalog_store: Arc<crate::catalog_store::CatalogStore>,
}

/// Opens the data folder's stores. The collector starts with the demo
/// catalog; [`prepare`] gives it the catalog in effect before anything is
/// served.
fn open_measurement(dir: Option<&std::path::Path>) -> Result<StudioMeasurement, StudioError> {
    // The default folder is checked like the thumbnails' (private, ours, no
    // symlink); a folder given explicitly is the operator's choice and is
    // only created, private, when missing.
    let dir = match dir {
        Some(d) => {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
                .map_err(|e| {
                    StudioError::failed(format!("cannot create --data-dir {}", d.display()), e)
                })?;
            d.to_owned()
        }
        None => {
            let d = crate::measure_api::default_dir()?;
            crate::thumbnails::prepare_private_dir(&d)
                .map_err(|e| e.within("the default measurement folder (or pass --data-dir)"))?;
            d
        }
    };
    let files = crate::measure_api::open_files(&dir)?;
    let audit_path = dir.join("operator.sqlite3");
    let audit = crate::audit_log::AuditLog::open(&audit_path)
        .map_err(|e| StudioError::failed(audit_path.display().to_string(), e))?;
    let catalog_path = dir.join("catalog.sqlite3");
    let catalog_store = crate::catalog_store::CatalogStore::open(&catalog_path)
        .map_err(|e| StudioError::failed(catalog_path.display().to_string(), e))?;
    let placeholder = Catalog::from_json(crate::demo::CATALOG_JSON)
        .map_err(|e| StudioError::failed("the demo catalog", e))?;
    Ok(StudioMeasurement {
        dir: dir.clone(),
        audit: Arc::new(audit),
        catalog_store: Arc::new(catalog_store),
        signer: files.signer.clone(),
        api: crate::measure_api::Measurement {
            collector: Arc::new(backend::measure::Collector::new(placeholder, files.signer)),
            store: Arc::new(files.store),
            report_token: Arc::new(files.report_token),
        },
    })
}

/// The catalog the studio starts with, as given: its text, and what to
/// call it in a message.
struct StartingCatalog {
    text: String,
    origin: String,
}

/// The catalog the local chain uses: `--catalog FILE`, or the demo's.
fn load_catalog(path: Option<&std::path::Path>) -> Result<StartingCatalog, StudioError> {
    let (text, origin) = match path {
        None => (
            crate::demo::CATALOG_JSON.to_string(),
            "the demo catalog".to_string(),
        ),
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| {
                StudioError::failed(format!("cannot read --catalog {}", p.display()), e)
            })?,
            format!("--catalog {}", p.display()),
        ),
    };
    Catalog::from_json(&text).map_err(|e| StudioError::failed(origin.clone(), e))?;
    Ok(StartingCatalog { text, origin })
}

/// The version in effect: the operator's newest, when the history began
/// from this same starting catalog, else the starting catalog as a new
/// version (see [`crate::catalog_store`]). A saved version this build can
/// no longer read gives way to the starting catalog, with a warning.
fn catalog_in_effect(
    store: &crate::catalog_store::CatalogStore,
    starting: StartingCatalog,
) -> Result<CatalogVersion, StudioError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (number, text) = store
        .start(&starting.text, now)
        .map_err(|e| StudioError::failed("the catalog's history", e))?;
    let (number, catalog) = match Catalog::from_json(&text) {
        Ok(c) => (number, c),
        Err(e) => {
            tracing::warn!(version = number, error = %e, "saved catalog version unreadable; using {} instead", starting.origin);
            let number = store
                .save(
                    &starting.text,
                    now,
                    "studio",
                    "the saved version was unreadable",
                )
                .map_err(|e| StudioError::failed("the catalog's history", e))?;
            let catalog = Catalog::from_json(&starting.text)
                .map_err(|e| StudioError::failed(starting.origin.clone(), e))?;
            (number, catalog)
        }
    };
    Ok(CatalogVersion {
        version: format!("v{number}"),
        catalog: Arc::new(catalog),
    })
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
