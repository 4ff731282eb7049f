//! The live catalog over the wire: the operator function writes the catalog
//! to its versioned S3 object (moto) with its own role; on-thumbnail and
//! on-tick follow it with no restart, each with its own role, asking S3
//! with the ETag they have.

use super::*;

scenarios!(the_functions_follow_the_operators_catalog_without_a_restart,);

/// The catalog's bucket and key, as the stack names them.
const CATALOG_BUCKET: &str = "ad-catalog";
const CATALOG_KEY: &str = "catalog/catalog.json";

fn catalog_with(extra: Option<serde_json::Value>) -> String {
    let mut catalog: Value = serde_json::from_str(&catalog_json()).unwrap_or(Value::Null);
    if let (Some(extra), Some(products)) = (extra, catalog["products"].as_array_mut()) {
        products.push(extra);
    }
    catalog.to_string()
}

fn lantern() -> serde_json::Value {
    serde_json::json!({
        "id": "lantern", "labels": ["lantern"], "title": "Storm Lantern",
        "price": "$35.00", "image_url": "img/lantern.png",
        "link_url": "https://shop.example.com/lantern",
        // Under the deployed catalog's lowest (50): Rekognition's
        // MinConfidence must follow the catalog for it to be seen.
        "min_confidence": 40, "display_seconds": 20, "cooldown_seconds": 30
    })
}

async fn the_functions_follow_the_operators_catalog_without_a_restart(
    env: Arc<Env>,
) -> Result<(), Failed> {
    use backend::collector::HttpRequest;
    use backend::config::{self, Config, Role};
    use backend::handlers::tick;
    use backend::operator_api::handle_operator;
    use backend::ports::WorkflowInput;
    use backend::runtime::live_catalog;

    // The stack's bucket: versioned, the deployed catalog in it.
    let s3 = &env.clients.s3;
    let _ = s3.create_bucket().bucket(CATALOG_BUCKET).send().await;
    s3.put_bucket_versioning()
        .bucket(CATALOG_BUCKET)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await?;
    s3.put_object()
        .bucket(CATALOG_BUCKET)
        .key(CATALOG_KEY)
        .body(catalog_json().into_bytes().into())
        .send()
        .await?;

    let temp = TempDir::new("live-catalog")?;
    let catalog_path = temp.path().join("catalog.json");
    std::fs::write(&catalog_path, catalog_json())?;
    let config_as = |role: Role| {
        let vars = std::collections::HashMap::from([
            (config::TABLE_NAME, TABLE.to_string()),
            (config::STATE_MACHINE_ARN, env.quiet_machine.clone()),
            (config::AWS_REGION, REGION.to_string()),
            (config::CATALOG_PATH, catalog_path.display().to_string()),
            (
                config::CATALOG_OBJECT,
                format!("s3://{CATALOG_BUCKET}/{CATALOG_KEY}"),
            ),
            (
                config::REKOGNITION_PROJECT_VERSION_ARN,
                format!("arn:aws:rekognition:{REGION}:{ACCOUNT}:project/shop/version/shop.1/1"),
            ),
        ]);
        Config::from_lookup(role, |k| vars.get(k).cloned()).map_err(|e| format!("{e}"))
    };

    // on-thumbnail, on its channel and test clock, following the object as
    // deployed (the production constructor, with its role's S3 client).
    let mut ch = Channel::new(&env, "liveCatalog", Rules::default());
    let on_thumbnail_config = config_as(Role::OnThumbnail)?;
    ch.pipeline.catalog = Arc::new(live_catalog(&on_thumbnail_config, &env.on_thumbnail.s3));
    // The operator function, with its own role.
    let operator_clients = TestClients::through(&env.proxy, "operator-function").await;
    let operator_config = config_as(Role::Operator)?;
    let mut operator = pipeline(
        &operator_clients,
        TABLE,
        &env.quiet_machine,
        &env.catalog,
        Rules::default(),
        ch.clock.clone(),
    );
    operator.catalog = Arc::new(live_catalog(&operator_config, &operator_clients.s3));
    let act = |action: &str, body: Value| {
        let request = HttpRequest {
            method: "POST".into(),
            path: format!("/operator/{action}"),
            body: Some(body.to_string()),
            iam_caller: Some("arn:aws:iam::123456789012:user/host".into()),
            ..Default::default()
        };
        let operator = &operator;
        async move {
            let r = handle_operator(operator, &request).await;
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            (r.status, body)
        }
    };

    // A lantern in the frame: not in the catalog, so nothing shows.
    let report = ch
        .thumbnail(&env.standin.state, 0, &[("lantern", 90.0)])
        .await?;
    ensure(report.shown.is_empty(), format!("{report:?}"))?;

    // A catalog with problems is refused by field, and nothing is saved.
    let mut broken = lantern();
    broken["link_url"] = "http://shop.example.com/lantern".into();
    let (status, body) = act("catalog", serde_json::json!({ "catalog": serde_json::from_str::<Value>(&catalog_with(Some(broken)))? })).await;
    ensure(status == 422, format!("{status} {body}"))?;
    ensure(
        body["problems"].as_array().is_some_and(|p| {
            p.iter().any(|p| {
                p["field"] == "link_url"
                    && p["product"].as_str().is_some_and(|n| n.contains("lantern"))
            })
        }),
        format!("the problem names product and field: {body}"),
    )?;
    let (_, listed) = act("catalog-versions", serde_json::json!({})).await;
    ensure(
        listed["versions"].as_array().map(Vec::len) == Some(1),
        format!("only the deployed version: {listed}"),
    )?;

    // The operator adds the lantern: saved as a new version of the object.
    let with_lantern: Value = serde_json::from_str(&catalog_with(Some(lantern())))?;
    let (status, body) = act("catalog", serde_json::json!({ "catalog": with_lantern })).await;
    ensure(status == 200, format!("{status} {body}"))?;
    let (_, listed) = act("catalog-versions", serde_json::json!({})).await;
    let versions = listed["versions"].as_array().cloned().unwrap_or_default();
    ensure(versions.len() == 2, format!("{listed}"))?;
    ensure(
        versions[0]["latest"] == true && versions[0]["id"] == body["version"],
        format!("the newest is the one saved: {listed}"),
    )?;
    let deployed = versions[1]["id"].as_str().unwrap_or_default().to_owned();

    // The collector (its own role) follows too: the lantern's beacons and
    // links count from now on.
    let collector_s3 = TestClients::through(&env.proxy, "collector").await.s3;
    let collector = backend::measure::Collector::new(env.catalog.clone(), measurement::signer());
    let collector_catalog = backend::live_catalog::LiveCatalog::following(
        env.catalog.clone(),
        "bundled",
        Arc::new(backend::aws::S3CatalogSource {
            s3: collector_s3,
            bucket: CATALOG_BUCKET.into(),
            key: CATALOG_KEY.into(),
        }),
        backend::live_catalog::CHECK_EVERY_SECONDS,
    );
    ensure(
        collector.catalog().get_str("lantern").is_none(),
        "deployed without the lantern",
    )?;
    backend::collector::follow_catalog(&collector, &collector_catalog, T0).await;
    ensure(
        collector.catalog().get_str("lantern").is_some(),
        "the collector follows the operator's catalog",
    )?;

    // Within the interval on-thumbnail still decides on what it read; once
    // it is due, it reads the new version (no restart) and shows the lantern.
    ch.clock.advance(10);
    let report = ch
        .thumbnail(&env.standin.state, 1, &[("lantern", 45.0)])
        .await?;
    ensure(
        report.shown.is_empty(),
        format!("asked S3 at most every 30 s: {report:?}"),
    )?;
    ch.clock.advance(backend::live_catalog::CHECK_EVERY_SECONDS);
    // Seen at 45: the model is now asked with MinConfidence 40.
    let report = ch
        .thumbnail(&env.standin.state, 2, &[("lantern", 45.0)])
        .await?;
    ensure(
        report.shown == vec![format!("{} lantern", ch.arn)],
        format!("{report:?}"),
    )?;

    // The operator restores the deployed version: the lantern leaves the
    // catalog, and on-tick (its own role, following the same object) takes
    // its card off at its next step, while the product's state stays.
    let (status, body) = act(
        "catalog-restore",
        serde_json::json!({ "version": deployed }),
    )
    .await;
    ensure(status == 200, format!("{status} {body}"))?;
    let (status, body) = act(
        "catalog-restore",
        serde_json::json!({ "version": "no-such-version" }),
    )
    .await;
    ensure(status == 404, format!("{status} {body}"))?;
    let mut on_tick = pipeline(
        &env.on_tick,
        TABLE,
        &env.quiet_machine,
        &env.catalog,
        Rules::default(),
        ch.clock.clone(),
    );
    on_tick.catalog = Arc::new(live_catalog(&config_as(Role::OnTick)?, &env.on_tick.s3));
    ch.clock.advance(1);
    let state = ch.pipeline.store.load(&ch.arn).await?;
    let plan = tick(
        &on_tick,
        WorkflowInput {
            channel_arn: ch.arn.clone(),
            execution: state.workflow.clone(),
            iteration: 0,
        },
    )
    .await?;
    ensure(plan.done, format!("nothing left to show: {plan:?}"))?;
    let last = env
        .standin
        .state
        .accepted(&ch.arn)
        .last()
        .cloned()
        .unwrap_or_default();
    ensure(
        cue(&last).is_clear(),
        format!("the card is taken off: {last}"),
    )?;

    // A reference image: one the detector cannot use is refused with its
    // reason and not kept; a logo is kept beside the catalog.
    let flat = {
        let img = image::RgbImage::from_pixel(300, 200, image::Rgb([128, 128, 128]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        png
    };
    let b64 = |bytes: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let (status, body) = act(
        "reference",
        serde_json::json!({ "image": b64(&flat), "product": "lantern" }),
    )
    .await;
    ensure(
        status == 422
            && body["error"]
                .as_str()
                .is_some_and(|e| e.contains("texture")),
        format!("{status} {body}"),
    )?;
    let logo = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../studio/demo/kestrel.png"
    ))?;
    let (status, body) = act(
        "reference",
        serde_json::json!({ "image": b64(&logo), "product": "lantern" }),
    )
    .await;
    ensure(status == 200, format!("{status} {body}"))?;
    let name = body["name"].as_str().unwrap_or_default();
    ensure(
        name.starts_with(&format!("s3://{CATALOG_BUCKET}/references/")) && name.ends_with(".png"),
        name.to_owned(),
    )?;
    // The built-in detector (its own role) follows a catalog naming the
    // uploaded reference: it reads the object, then the image beside it.
    let mut with_reference = lantern();
    with_reference["reference_images"] = serde_json::json!([name]);
    let (status, body) = act(
        "catalog",
        serde_json::json!({ "catalog": serde_json::from_str::<Value>(&catalog_with(Some(with_reference)))? }),
    )
    .await;
    ensure(status == 200, format!("{status} {body}"))?;
    let builtin_config = config_as(Role::OnThumbnail)?;
    let builtin_s3 = &env.on_thumbnail_builtin.s3;
    let followed = live_catalog(&builtin_config, builtin_s3);
    let next = followed
        .poll(T0)
        .await
        .map_err(|e| backend::ports::Chain(&e).to_string())?
        .ok_or("the built-in detector's function reads the new version")?;
    let references = Arc::new(backend::runtime::LambdaReferences {
        s3: builtin_s3.clone(),
        catalog_path: catalog_path.clone(),
        text_models_dir: detector::text::default_models_dir(),
    });
    let built = backend::builtin::LiveBuiltin::new(references, &next.catalog).await?;
    ensure(
        built.current().detector.labels().contains(&"lantern"),
        "the uploaded reference is the lantern's",
    )?;

    let kept = s3
        .list_objects_v2()
        .bucket(CATALOG_BUCKET)
        .prefix("references/")
        .send()
        .await?;
    ensure(
        kept.contents().len() == 1,
        format!("only the usable image is kept: {:?}", kept.contents()),
    )?;
    Ok(())
}
