//! The on-thumbnail and workflow handlers over the real wire: DynamoDB and Step
//! Functions on moto server, IVS PutMetadata, Rekognition DetectCustomLabels
//! and Lambda Invoke on the project's stand-in. One moto and one stand-in
//! serve every scenario (each on its own channel), started before and
//! stopped after the trials.
//!
//! Each module is one subject and registers its own scenarios with
//! `scenarios!`; this file holds what they share (the environment, a
//! channel's pipeline, the checks) and the harness.
//!
//! Every function's client goes through a recording proxy
//! (`e2e_tests::aws_calls`), signed as the role it plays; after the trials
//! the calls are compared with the reviewed list that
//! `infra/test/permissions.test.ts` checks against the stack's IAM policies.

use ad_contract::{Catalog, Cue};
use backend::decision::Rules;
use backend::handlers::{on_thumbnail, HandlerError, Pipeline};
use backend::ports::{Clock, SystemClock};
use e2e_tests::aws_calls::{self, RecordingProxy};
use e2e_tests::standin::{ChannelMode, RunningStandIn, StandIn};
use e2e_tests::*;
use lambda_runtime::{Context, LambdaEvent};
use libtest_mimic::{Arguments, Failed};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::{sdk_config, sdk_config_as, Moto, TempDir, ACCOUNT, REGION};

const BUCKET: &str = "ivs-recordings";
const TABLE: &str = "ad-state";
const T0: u64 = 1_790_000_000;

struct Env {
    standin: RunningStandIn,
    _moto: Moto,
    proxy: RecordingProxy,
    /// The harness's own clients (setup and inspection), straight to moto
    /// and the stand-in, not recorded.
    clients: TestClients,
    /// The functions' clients, each signed as its role, through the proxy.
    on_thumbnail: TestClients,
    on_thumbnail_builtin: TestClients,
    on_tick: TestClients,
    /// `adctl`: runs with the operator's credentials, not a stack role.
    operator: TestClients,
    /// on-thumbnail deployed over a LATEST-storage recording configuration,
    /// which the stack does not create.
    latest_storage: TestClients,
    catalog: Catalog,
    /// A machine that succeeds at once: scenarios that test on-thumbnail see
    /// their starts recorded without a workflow ticking in the background.
    quiet_machine: String,
    /// The shipped workflow definition.
    republish_machine: String,
}

fn catalog() -> Catalog {
    Catalog::from_json(&catalog_json()).expect("test catalog is valid")
}

fn catalog_json() -> String {
    let product = |id: &str, min: u32, display: u32, cooldown: u32| {
        serde_json::json!({
            "id": id, "labels": [id, format!("{id}-logo")], "title": format!("The {id}"),
            "description": "", "price": "$10.00", "image_url": format!("img/{id}.png"),
            "link_url": format!("https://shop.example.com/{id}"),
            "min_confidence": min, "display_seconds": display, "cooldown_seconds": cooldown
        })
    };
    serde_json::json!({"products": [
        product("mug", 70, 20, 60),
        product("cap", 50, 10, 30),
        product("blink", 60, 3, 0),
    ]})
    .to_string()
}

impl Env {
    async fn start() -> anyhow::Result<Self> {
        let standin = StandIn::start().await?;
        let proxy = RecordingProxy::start(&standin.url).await?;
        // moto's Step Functions invoke Lambda through the proxy.
        let moto = Moto::start(proxy.port)?;
        proxy.set_moto(&moto.url);
        let clients = TestClients::new(&moto.url, &standin.url).await;
        let on_thumbnail = TestClients::through(&proxy, "on-thumbnail").await;
        let on_thumbnail_builtin = TestClients::through(&proxy, "on-thumbnail-builtin").await;
        let on_tick = TestClients::through(&proxy, "on-tick").await;
        let operator = TestClients::through(&proxy, "operator").await;
        let latest_storage = TestClients::through(&proxy, "on-thumbnail-latest-storage").await;
        clients.create_table(TABLE).await?;
        // IVS's bucket: the replay's cue log and timelines are written there.
        clients.s3.create_bucket().bucket(BUCKET).send().await?;
        let quiet_machine = clients
            .create_state_machine(
                "quiet",
                r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#,
            )
            .await?;
        let republish_machine = clients
            .create_state_machine("republish", &workflow_definition())
            .await?;
        Ok(Self {
            standin,
            _moto: moto,
            proxy,
            clients,
            on_thumbnail,
            on_thumbnail_builtin,
            on_tick,
            operator,
            latest_storage,
            catalog: catalog(),
            quiet_machine,
            republish_machine,
        })
    }
}

/// One scenario's channel and pipeline.
struct Channel {
    id: String,
    arn: String,
    clock: Arc<TestClock>,
    pipeline: Pipeline,
}

impl Channel {
    /// A channel whose pipeline plays on-thumbnail.
    fn new(env: &Env, name: &str, rules: Rules) -> Self {
        Self::as_role(env, &env.on_thumbnail, name, rules)
    }

    fn as_role(env: &Env, clients: &TestClients, name: &str, rules: Rules) -> Self {
        let id: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let arn = channel_arn(&id);
        env.standin.state.add_channel(&arn, ChannelMode::Live);
        let clock = TestClock::at(T0);
        let pipeline = pipeline(
            clients,
            TABLE,
            &env.quiet_machine,
            &env.catalog,
            rules,
            clock.clone(),
        );
        Self {
            id,
            arn,
            clock,
            pipeline,
        }
    }

    fn key(&self, n: u32) -> String {
        thumbnail_key(&self.id, n)
    }

    async fn thumbnail(
        &self,
        standin: &StandIn,
        n: u32,
        labels: &[(&str, f32)],
    ) -> Result<backend::handlers::ThumbnailReport, HandlerError> {
        let key = self.key(n);
        standin.set_labels(&key, labels);
        let event = s3_event(BUCKET, &[&key]);
        on_thumbnail(&self.pipeline, LambdaEvent::new(event, Context::default())).await
    }

    async fn executions(&self, env: &Env) -> anyhow::Result<usize> {
        let out = env
            .clients
            .sfn
            .list_executions()
            .state_machine_arn(&env.quiet_machine)
            .send()
            .await?;
        let names: Vec<_> = out
            .executions()
            .iter()
            .map(|e| e.name().to_string())
            .collect();
        Ok(names
            .iter()
            .filter(|n| n.starts_with(&format!("{}-", self.id)))
            .count())
    }
}

fn ensure(condition: bool, what: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn cue(text: &str) -> Cue {
    Cue::decode(text).unwrap_or_default()
}

/// The cues IVS accepted for a channel, each without its `seq` (checked in
/// `late_joiner_gets_the_republished_cue`), so scenarios
/// compare the overlay sets.
fn accepted_sets(standin: &StandIn, channel: &str) -> Vec<String> {
    standin
        .accepted(channel)
        .iter()
        .map(|text| {
            Cue {
                seq: None,
                ..cue(text)
            }
            .encode()
            .unwrap_or_else(|e| format!("unencodable: {e}"))
        })
        .collect()
}

/// Registers a scenario module's trials, named by their path
/// (`measurement::crowd::scenario`) as libtest names tests in modules. Each scenario is an
/// `async fn(Arc<Env>) -> Result<(), Failed>` run on the shared runtime.
macro_rules! scenarios {
    ($($scenario:ident),+ $(,)?) => {
        pub(crate) fn trials(
            env: &std::sync::Arc<crate::Env>,
            handle: &tokio::runtime::Handle,
        ) -> Vec<libtest_mimic::Trial> {
            let module = module_path!().split_once("::").map_or("", |(_, path)| path);
            vec![$({
                let (env, handle) = (env.clone(), handle.clone());
                libtest_mimic::Trial::test(
                    format!("{module}::{}", stringify!($scenario)),
                    move || crate::run(&handle, $scenario(env)),
                )
            }),+]
        }
    };
}

mod events;
mod ivs_limits;
mod lambda_start;
mod live_catalog;
mod measurement;
mod operator_function;
mod replay;
mod shows;
mod workflow;

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    // Handler warnings and errors on stderr: a failing scenario shows why.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let env = match runtime.block_on(Env::start()) {
        Ok(env) => Arc::new(env),
        Err(e) => {
            eprintln!("test environment did not start: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let handle = runtime.handle().clone();
    let trials = [
        shows::trials,
        ivs_limits::trials,
        events::trials,
        workflow::trials,
        operator_function::trials,
        lambda_start::trials,
        live_catalog::trials,
        replay::trials,
        measurement::secrets::trials,
        measurement::collector::trials,
        measurement::abuse::trials,
        measurement::report::trials,
        measurement::crowd::trials,
    ]
    .iter()
    .flat_map(|trials| trials(&env, &handle))
    .collect();
    // Which trials run decides what the permissions check may conclude.
    let complete = args.filter.is_none() && args.skip.is_empty() && !args.list;
    let mut conclusion = libtest_mimic::run(&args, trials);
    if !args.list {
        // A failed scenario may have stopped before some of its calls: then
        // only "every call is listed" is judged, not "every listed call made".
        let complete = complete && !conclusion.has_failed();
        match aws_calls::check_against_reviewed_list(&env.proxy.calls(), complete) {
            Ok(()) => eprintln!(
                "AWS calls: each is in tests/aws-calls.json{}",
                if complete {
                    ", and each listed call was made"
                } else {
                    ""
                }
            ),
            Err(e) => {
                eprintln!("AWS calls do not match the reviewed list:\n{e}");
                conclusion.num_failed += 1;
            }
        }
    }
    drop(env);
    runtime.shutdown_timeout(Duration::from_secs(2));
    conclusion.exit_code()
}

/// Scenarios run at once. Those that time cues against the wall clock hold
/// it for reading; those that load moto with hundreds of concurrent calls
/// hold it for writing, so they never overlap (a loaded 2-core CI machine
/// delayed a 3 s window's clear to 8 s).
static WALL_CLOCK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The measurement stream is shared: a scenario that drains it aggregates
/// every record on it, another scenario's too. Those that check what is
/// (not yet) counted hold this for their whole run, after `WALL_CLOCK`, so
/// no other drain counts their events early (seen on a fresh CI machine:
/// one event counted before "nothing is counted on the request path").
static SHARED_STREAM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn run(
    handle: &tokio::runtime::Handle,
    f: impl Future<Output = Result<(), Failed>>,
) -> Result<(), Failed> {
    handle.block_on(f)
}
