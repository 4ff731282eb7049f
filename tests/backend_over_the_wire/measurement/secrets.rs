//! The measurement functions read their secrets (show-tag key, origin
//! secret) at start-up, each with its own role.

use super::*;

scenarios!(functions_read_their_secrets_at_start_up,);

/// Each function reads the settings the stack keeps in Secrets Manager at
/// start-up, as its own role (the permissions test holds the grants to
/// these calls), and a missing or doubled secret stops it with the reason.
async fn functions_read_their_secrets_at_start_up(env: Arc<Env>) -> Result<(), Failed> {
    let (key_arn, origin_arn) = stack_secrets(&env).await?;
    let vars = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("TABLE_NAME".to_string(), "t".to_string())])
            .collect()
    };
    for role in [
        "on-thumbnail",
        "on-thumbnail-builtin",
        "on-tick",
        "operator-function",
    ] {
        let settings = backend::secrets::resolve(
            &secrets_client(&env, role).await,
            vars(&[("MEASUREMENT_KEY_SECRET_ARN", &key_arn)]),
        )
        .await
        .map_err(|e| format!("{role}: {e}"))?;
        assert_eq!(settings.get("MEASUREMENT_KEY"), Some(&"2a".repeat(32)));
        assert!(!settings.contains_key("MEASUREMENT_KEY_SECRET_ARN"));
        assert_eq!(settings.get("TABLE_NAME").map(String::as_str), Some("t"));
    }
    let settings = backend::secrets::resolve(
        &secrets_client(&env, "collector").await,
        vars(&[
            ("MEASUREMENT_KEY_SECRET_ARN", &key_arn),
            ("ORIGIN_VERIFY_SECRET_ARN", &origin_arn),
        ]),
    )
    .await
    .map_err(|e| format!("collector: {e}"))?;
    assert_eq!(
        settings.get("ORIGIN_VERIFY").map(String::as_str),
        Some(ORIGIN_SECRET)
    );
    // A secret that is not there, and a setting given both ways.
    let missing = format!("{key_arn}-gone");
    let err = backend::secrets::resolve(
        &secrets_client(&env, "harness").await,
        vars(&[("MEASUREMENT_KEY_SECRET_ARN", &missing)]),
    )
    .await
    .expect_err("no such secret");
    let text = err.to_string();
    assert!(
        text.starts_with("MEASUREMENT_KEY_SECRET_ARN: cannot read secret")
            && text.contains("secretsmanager:GetSecretValue"),
        "{text}"
    );
    let err = backend::secrets::resolve(
        &secrets_client(&env, "harness").await,
        vars(&[
            ("MEASUREMENT_KEY_SECRET_ARN", &key_arn),
            ("MEASUREMENT_KEY", "00"),
        ]),
    )
    .await
    .expect_err("both");
    assert!(err.to_string().contains("give one of them"), "{err}");
    Ok(())
}
