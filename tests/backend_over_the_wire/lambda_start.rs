//! The functions as Lambda starts them: configuration from the environment,
//! warm-up with granted calls only, and the built-in detector reading S3.

use super::*;

scenarios!(
    builtin_detector_reads_thumbnails_from_s3,
    lambda_start_up_warms_with_granted_calls_only,
);

/// The functions start as in Lambda: configuration from the environment,
/// clients from one SDK configuration, warmed. Every warm-up call must
/// succeed, which in AWS means it is one the role is granted (the recorded
/// calls are checked against the stack's policies).
async fn lambda_start_up_warms_with_granted_calls_only(env: Arc<Env>) -> Result<(), Failed> {
    use backend::config::{self, Config, Role};
    use backend::runtime::{build_pipeline, warm_up, Clients};
    let temp = TempDir::new("lambda-start")?;
    let dir = temp.path();
    let catalog_path = dir.join("catalog.json");
    std::fs::write(&catalog_path, catalog_json())?;
    for (name, role) in [
        ("on-thumbnail", Role::OnThumbnail),
        ("on-tick", Role::OnTick),
    ] {
        let vars = std::collections::HashMap::from([
            (config::TABLE_NAME, TABLE.to_string()),
            (config::STATE_MACHINE_ARN, env.quiet_machine.clone()),
            (config::AWS_REGION, REGION.to_string()),
            (config::CATALOG_PATH, catalog_path.display().to_string()),
            (
                config::REKOGNITION_PROJECT_VERSION_ARN,
                format!("arn:aws:rekognition:{REGION}:{ACCOUNT}:project/shop/version/shop.1/1"),
            ),
        ]);
        let config =
            Config::from_lookup(role, |k| vars.get(k).cloned()).map_err(|e| format!("{e}"))?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&env.proxy.url)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                name, "testing", None, None, "tests",
            ))
            .load()
            .await;
        let clients = Clients::new(&sdk);
        build_pipeline(&config, &clients, true).await?;
        let store = backend::aws::DynamoStateStore::new(clients.dynamodb.clone(), TABLE);
        let failures = warm_up(&store).await;
        ensure(
            failures.is_empty(),
            format!("{name}: warm-up failed: {failures:?}"),
        )?;
    }
    Ok(())
}

/// `DETECTOR=builtin` as the on-thumbnail Lambda runs it: the configuration
/// from the environment, references from the catalog (one in S3, one beside
/// the catalog file), each thumbnail read from S3 (moto) and analysed in
/// process; garbage and missing objects are skipped, never fatal.
async fn builtin_detector_reads_thumbnails_from_s3(env: Arc<Env>) -> Result<(), Failed> {
    use backend::config::{self, Config, Role};
    use detector_eval::scenes::{load_sprite, scene, seed_logos_dir, Condition};
    let s3 = env.clients.s3.clone();
    let seeds = seed_logos_dir();
    for bucket in [BUCKET, "brand-refs"] {
        let _ = s3.create_bucket().bucket(bucket).send().await;
    }
    s3.put_object()
        .bucket("brand-refs")
        .key("aws/aws-1.png")
        .body(std::fs::read(seeds.join("aws-1.png"))?.into())
        .send()
        .await?;
    let temp = TempDir::new("builtin-lambda")?;
    let dir = temp.path();
    std::fs::copy(seeds.join("aws-2.png"), dir.join("aws-2.png"))?;
    let product = |id: &str, references: &[&str], wordmark: &str| {
        serde_json::json!({
            "id": id, "labels": [id], "title": id, "price": "$1.00",
            "image_url": format!("img/{id}.png"), "link_url": format!("https://shop.example.com/{id}"),
            "min_confidence": 60, "display_seconds": 20, "cooldown_seconds": 60,
            "reference_images": references, "wordmark": wordmark
        })
    };
    let catalog_path = dir.join("catalog.json");
    std::fs::write(
        &catalog_path,
        serde_json::json!({"products": [
            // One reference in S3, one beside the catalog.
            product("aws", &["s3://brand-refs/aws/aws-1.png", "aws-2.png"], ""),
            // No reference image: found by its wordmark alone.
            product("twitch", &[], "twitch"),
        ]})
        .to_string(),
    )?;
    let vars = std::collections::HashMap::from([
        (config::TABLE_NAME, TABLE.to_string()),
        (config::STATE_MACHINE_ARN, env.quiet_machine.clone()),
        (config::AWS_REGION, REGION.to_string()),
        (config::CATALOG_PATH, catalog_path.display().to_string()),
        (config::DETECTOR, "builtin".to_string()),
        (
            config::DETECTOR_TEXT_MODELS,
            detector::text::default_models_dir().display().to_string(),
        ),
    ]);
    let config = Config::from_lookup(Role::OnThumbnail, |k| vars.get(k).cloned())
        .map_err(|e| format!("{e}"))?;
    // The Lambda reads s3:// references at start-up, as on-thumbnail.
    let lambda_s3 = env.on_thumbnail_builtin.s3.clone();
    let detector = backend::runtime::builtin_detector(&config, &lambda_s3).await?;
    // The wordmark signal came with the Lambda's start-up: a frame with the
    // twitch logo names twitch, which has no reference image.
    let twitch = load_sprite("twitch", &seeds.join("twitch-1.png"))?;
    let twitch_frame = scene(Condition::Clean, 3, &[twitch], &[]);
    let gray = detector::gray::decode(&twitch_frame.jpeg)?;
    let found: Vec<String> = detector
        .detect(&gray, 60.0)
        .into_iter()
        .map(|f| f.label)
        .collect();
    ensure(
        found.iter().any(|l| l == "twitch"),
        format!("the wordmark-only product is read as text: {found:?}"),
    )?;
    let ch = Channel::as_role(
        &env,
        &env.on_thumbnail_builtin,
        "builtin-detector",
        Rules::default(),
    );
    let mut pipeline = pipeline(
        &env.on_thumbnail_builtin,
        TABLE,
        &env.quiet_machine,
        &config.catalog,
        Rules::default(),
        ch.clock.clone(),
    );
    let references = Arc::new(backend::runtime::LambdaReferences::new(&config, &lambda_s3));
    pipeline.detector = Some(Arc::new(backend::aws::S3BuiltinDetector {
        s3: lambda_s3,
        detector: Arc::new(backend::builtin::LiveBuiltin::with(
            references,
            detector,
            &config.catalog,
        )),
    }));
    // A thumbnail with the aws logo on a busy background, as IVS writes it.
    let aws = load_sprite("aws", &seeds.join("aws-1.png"))?;
    let frame = scene(Condition::Clean, 7, &[aws], &[]);
    s3.put_object()
        .bucket(BUCKET)
        .key(ch.key(0))
        .body(frame.jpeg.into())
        .send()
        .await?;
    let event = |n: u32| LambdaEvent::new(s3_event(BUCKET, &[&ch.key(n)]), Context::default());
    let report = on_thumbnail(&pipeline, event(0)).await?;
    ensure(
        report.shown == vec![format!("{} aws", ch.arn)],
        format!("{report:?}"),
    )?;
    let accepted = accepted_sets(&env.standin.state, &ch.arn);
    ensure(
        accepted == vec![r#"{"v":1,"show":[{"id":"aws","left":20}]}"#.to_string()],
        format!("cues: {accepted:?}"),
    )?;
    // Not an image, and no object at all: skipped with a reason, state kept.
    s3.put_object()
        .bucket(BUCKET)
        .key(ch.key(1))
        .body(b"not a jpeg".to_vec().into())
        .send()
        .await?;
    for n in [1, 2] {
        let report = on_thumbnail(&pipeline, event(n)).await?;
        ensure(
            report.skipped == 1 && report.failed == 0,
            format!("{report:?}"),
        )?;
    }
    let state = pipeline.store.load(&ch.arn).await?;
    ensure(state.version == T0 * 1000, format!("{state:?}"))
}

// ---- The collector Lambda: DynamoDB counters and Firehose to S3 on moto ----
