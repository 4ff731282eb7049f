//! Settings kept in Secrets Manager, read once at start-up: a function whose
//! environment has `NAME_SECRET_ARN` gets `NAME` from that secret, so no key
//! is in any function's environment or template. The role may read exactly
//! the secrets it names (the stack grants `secretsmanager:GetSecretValue` on
//! each ARN). Locally (the studio, tests) `NAME` is given directly.

use std::collections::HashMap;

/// `MEASUREMENT_KEY_SECRET_ARN` names the secret holding `MEASUREMENT_KEY`.
pub const SECRET_ARN_SUFFIX: &str = "_SECRET_ARN";

/// A secret that could not be read; the function does not start.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{variable}: cannot read secret {arn} from Secrets Manager; check that it exists and that the function's role may call secretsmanager:GetSecretValue on it")]
    Unreadable {
        variable: String,
        arn: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{variable}: secret {arn} has no text value; store the setting as the secret's text")]
    NotText { variable: String, arn: String },
    #[error("{variable}: set both {name} and {variable}; give one of them")]
    Both { variable: String, name: String },
}

/// The settings in `vars`, with each `NAME_SECRET_ARN` replaced by `NAME`
/// read from Secrets Manager (one call per secret, at start-up only).
pub async fn resolve(
    client: &aws_sdk_secretsmanager::Client,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<HashMap<String, String>, SecretError> {
    let mut settings: HashMap<String, String> = vars.into_iter().collect();
    let mut wanted: Vec<(String, String)> = settings
        .keys()
        .filter_map(|variable| {
            let name = variable.strip_suffix(SECRET_ARN_SUFFIX)?;
            Some((variable.clone(), name.to_owned()))
        })
        .collect();
    wanted.sort();
    for (variable, name) in wanted {
        if settings.contains_key(&name) {
            return Err(SecretError::Both { variable, name });
        }
        let Some(arn) = settings.remove(&variable) else {
            continue;
        };
        let value = client
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| SecretError::Unreadable {
                variable: variable.clone(),
                arn: arn.clone(),
                source: Box::new(e),
            })?;
        let Some(text) = value.secret_string() else {
            return Err(SecretError::NotText { variable, arn });
        };
        settings.insert(name, text.to_owned());
    }
    Ok(settings)
}
