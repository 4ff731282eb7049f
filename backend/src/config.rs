//! Configuration from environment variables, validated once at init. Every
//! missing or malformed variable is reported in one error, so a deployment is
//! fixed in one pass. The names are listed once, in `backend/lambda-env.json`,
//! which the CDK app reads too.

use crate::decision::Rules;
use crate::measure::ShowSigner;
use ad_contract::Catalog;
use std::path::PathBuf;

pub const TABLE_NAME: &str = "TABLE_NAME";
pub const STATE_MACHINE_ARN: &str = "STATE_MACHINE_ARN";
pub const REKOGNITION_PROJECT_VERSION_ARN: &str = "REKOGNITION_PROJECT_VERSION_ARN";
pub const CATALOG_PATH: &str = "CATALOG_PATH";
pub const CATALOG_OBJECT: &str = "CATALOG_OBJECT";
pub const MAX_ACTIVE_PRODUCTS: &str = "MAX_ACTIVE_PRODUCTS";
pub const REPUBLISH_SECONDS: &str = "REPUBLISH_SECONDS";
pub const MAX_EVENT_AGE_SECONDS: &str = "MAX_EVENT_AGE_SECONDS";
pub const AWS_REGION: &str = "AWS_REGION";
pub const DETECTOR: &str = "DETECTOR";
pub const DETECTOR_TEXT_MODELS: &str = "DETECTOR_TEXT_MODELS";
pub const MEASUREMENT_KEY: &str = "MEASUREMENT_KEY";
pub const MEASURE_TABLE_NAME: &str = "MEASURE_TABLE_NAME";
pub const MEASURE_STREAM_NAME: &str = "MEASURE_STREAM_NAME";
pub const MEASURE_DELIVERY_STREAM_NAME: &str = "MEASURE_DELIVERY_STREAM_NAME";
pub const ORIGIN_VERIFY: &str = "ORIGIN_VERIFY";
/// [`MEASUREMENT_KEY`] read from Secrets Manager at start-up (`crate::secrets`).
pub const MEASUREMENT_KEY_SECRET_ARN: &str = "MEASUREMENT_KEY_SECRET_ARN";
/// [`ORIGIN_VERIFY`] read from Secrets Manager at start-up.
pub const ORIGIN_VERIFY_SECRET_ARN: &str = "ORIGIN_VERIFY_SECRET_ARN";
/// The IVS recordings bucket: the cue log and the replays' `cues.json`.
pub const RECORDINGS_BUCKET: &str = "RECORDINGS_BUCKET";
/// Days the recordings bucket keeps recordings (the replay index's horizon).
pub const RECORDINGS_RETENTION_DAYS: &str = "RECORDINGS_RETENTION_DAYS";

/// Every name this module reads (checked against `lambda-env.json` in tests).
pub const ALL: &[&str] = &[
    TABLE_NAME,
    STATE_MACHINE_ARN,
    REKOGNITION_PROJECT_VERSION_ARN,
    CATALOG_PATH,
    CATALOG_OBJECT,
    MAX_ACTIVE_PRODUCTS,
    REPUBLISH_SECONDS,
    MAX_EVENT_AGE_SECONDS,
    AWS_REGION,
    DETECTOR,
    DETECTOR_TEXT_MODELS,
    MEASUREMENT_KEY,
    MEASURE_TABLE_NAME,
    MEASURE_STREAM_NAME,
    MEASURE_DELIVERY_STREAM_NAME,
    ORIGIN_VERIFY,
    MEASUREMENT_KEY_SECRET_ARN,
    ORIGIN_VERIFY_SECRET_ARN,
    RECORDINGS_BUCKET,
    RECORDINGS_RETENTION_DAYS,
];

/// Which function is starting: they need different variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    OnThumbnail,
    OnTick,
    /// The operator CLI: no detector needed.
    Operator,
}

/// How on-thumbnail finds products (`DETECTOR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectorChoice {
    /// `DETECTOR=rekognition` (the default): a running Custom Labels model.
    Rekognition { project_version_arn: String },
    /// `DETECTOR=builtin`: the built-in detector, from the catalog's
    /// `reference_images` and `wordmark`s.
    Builtin,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Which function this is.
    pub role: Role,
    pub table_name: String,
    pub state_machine_arn: String,
    /// Set for [`Role::OnThumbnail`] only: the other functions never look
    /// at an image.
    pub detector: Option<DetectorChoice>,
    pub catalog_path: PathBuf,
    pub catalog: Catalog,
    /// `CATALOG_OBJECT` as (bucket, key): the live catalog the functions
    /// follow (see [`crate::live_catalog`]); `None`: the bundled one only.
    pub catalog_object: Option<(String, String)>,
    /// Where the built-in detector's text models are, for catalogs with
    /// wordmarks: `DETECTOR_TEXT_MODELS`, else `text-models` beside the
    /// catalog (where the stack packages them).
    pub text_models_dir: PathBuf,
    pub rules: Rules,
    /// on-thumbnail ignores S3 events older than this (Lambda's async
    /// retries deliver them up to minutes late; an old frame must not show
    /// a product now). The stack sets two thumbnail intervals plus 30 s.
    pub max_event_age_seconds: u64,
    pub region: String,
    /// `MEASUREMENT_KEY` (hex): cues carry show tags made with it, so
    /// players can report impressions and scans. Unset: no measurement.
    pub measurement: Option<ShowSigner>,
    /// `RECORDINGS_BUCKET`: published cues are kept there and recordings
    /// get their replay timeline (see [`crate::replay`]). Unset: neither.
    pub recordings_bucket: Option<String>,
    /// `RECORDINGS_RETENTION_DAYS`: the replay index lists no recording
    /// older than this (the bucket has expired it).
    pub recordings_retention_days: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<String>);

/// Reads a function's required variables, collecting every missing one, so
/// a misconfigured function names all its problems at once.
pub struct Required<F: Fn(&str) -> Option<String>> {
    lookup: F,
    pub problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Required<F> {
    pub fn new(lookup: F) -> Self {
        Self {
            lookup,
            problems: Vec::new(),
        }
    }

    /// `name`'s value ([`value_of`]), or empty with "set it to `what`" noted.
    pub fn get(&mut self, name: &str, what: &str) -> String {
        value_of(&self.lookup, name).unwrap_or_else(|| {
            self.problems
                .push(format!("{name} is not set; set it to {what}"));
            String::new()
        })
    }

    /// An optional variable, through the same lookup.
    pub fn optional(&self, name: &str) -> Option<String> {
        value_of(&self.lookup, name)
    }

    /// `value` when nothing was missing, else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError(self.problems))
        }
    }
}

/// A variable's value through `lookup`, trimmed; empty counts as unset.
/// Every function's configuration reads its variables this way.
pub fn value_of(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `CATALOG_OBJECT`'s value as (bucket, key), or the problem.
pub fn parse_catalog_object(value: &str) -> Result<(String, String), String> {
    value
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .map(|(b, k)| (b.to_owned(), k.to_owned()))
        .ok_or_else(|| {
            format!(
                "{CATALOG_OBJECT} is {value:?}; it must be s3://<bucket>/<key> (the live catalog object), or unset"
            )
        })
}

impl Config {
    /// Reads the process environment.
    pub fn from_env(role: Role) -> Result<Self, ConfigError> {
        Self::from_lookup(role, |name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(
        role: Role,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let get = |name: &str| value_of(&lookup, name);
        let required = |name: &str, what: &str, problems: &mut Vec<String>| {
            let v = get(name);
            if v.is_none() {
                problems.push(format!("{name} is not set; set it to {what}"));
            }
            v.unwrap_or_default()
        };
        let table_name = required(TABLE_NAME, "the DynamoDB state table's name", &mut problems);
        let state_machine_arn = required(
            STATE_MACHINE_ARN,
            "the workflow's ARN (arn:aws:states:...:stateMachine:...)",
            &mut problems,
        );
        if !state_machine_arn.is_empty() && !state_machine_arn.starts_with("arn:") {
            problems.push(format!(
                "{STATE_MACHINE_ARN} is {state_machine_arn:?}; it must be an ARN (arn:aws:states:...)"
            ));
        }
        let region = required(AWS_REGION, "the AWS region, e.g. us-east-1", &mut problems);
        let builtin_detector = match get(DETECTOR).as_deref() {
            None | Some("rekognition") => false,
            Some("builtin") => true,
            Some(other) => {
                problems.push(format!(
                    "{DETECTOR} is {other:?}; it must be `rekognition` (Custom Labels, the default) or `builtin` (the built-in detector)"
                ));
                false
            }
        };
        let detector = match role {
            Role::OnThumbnail if builtin_detector => Some(DetectorChoice::Builtin),
            Role::OnThumbnail => {
                let arn = required(
                    REKOGNITION_PROJECT_VERSION_ARN,
                    "the Custom Labels model's ARN (arn:aws:rekognition:...:project/.../version/...)",
                    &mut problems,
                );
                let well_formed = arn.starts_with("arn:") && arn.contains(":project/");
                if !arn.is_empty() && !well_formed {
                    problems.push(format!(
                        "{REKOGNITION_PROJECT_VERSION_ARN} is {arn:?}; it must be a project version ARN (arn:aws:rekognition:<region>:<account>:project/<name>/version/<name>/<id>)"
                    ));
                }
                Some(DetectorChoice::Rekognition {
                    project_version_arn: arn,
                })
            }
            Role::OnTick | Role::Operator => None,
        };
        // Bounds, defaults and the refusal's words from backend/limits.json.
        let number = |limit: &crate::limits::Limit, problems: &mut Vec<String>| {
            let name = limit.env.as_deref().unwrap_or_default();
            match get(name) {
                None => limit.default,
                Some(v) => limit
                    .check(name, &v, limit.default)
                    .unwrap_or_else(|refusal| {
                        problems.push(refusal);
                        limit.default
                    }),
            }
        };
        let max_active = number(crate::limits::max_active_products(), &mut problems);
        let republish_seconds = number(crate::limits::republish_seconds(), &mut problems);
        let max_event_age_seconds = number(crate::limits::max_event_age_seconds(), &mut problems);

        let catalog_path = get(CATALOG_PATH).map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(get("LAMBDA_TASK_ROOT").unwrap_or_else(|| ".".into()))
                .join("catalog.json")
        });
        let catalog = match std::fs::read_to_string(&catalog_path) {
            Err(e) => {
                problems.push(format!(
                    "{CATALOG_PATH}: cannot read {} ({e}); bundle catalog.json with the function or point {CATALOG_PATH} at it",
                    catalog_path.display()
                ));
                None
            }
            Ok(text) => match Catalog::from_json(&text) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(format!("{CATALOG_PATH}: {}: {e}", catalog_path.display()));
                    None
                }
            },
        };

        let catalog_object = get(CATALOG_OBJECT).and_then(|v| {
            parse_catalog_object(&v)
                .map_err(|problem| problems.push(problem))
                .ok()
        });

        let text_models_dir = get(DETECTOR_TEXT_MODELS)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                catalog_path
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join("text-models")
            });

        let measurement = get(MEASUREMENT_KEY).and_then(|hex| match ShowSigner::from_hex(&hex) {
            Ok(signer) => Some(signer),
            Err(e) => {
                problems.push(format!("{MEASUREMENT_KEY}: {e}"));
                None
            }
        });

        let recordings_bucket = get(RECORDINGS_BUCKET);
        if let Some(bucket) = &recordings_bucket {
            let valid = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !valid {
                problems.push(format!(
                    "{RECORDINGS_BUCKET} is {bucket:?}; it must be an S3 bucket name (3 to 63 of a-z 0-9 . -), the IVS recording configuration's bucket"
                ));
            }
        }

        let recordings_retention_days = get(RECORDINGS_RETENTION_DAYS).and_then(|v| {
            match v.trim().parse::<u64>() {
                Ok(days) if (1..=3650).contains(&days) => Some(days),
                _ => {
                    problems.push(format!(
                        "{RECORDINGS_RETENTION_DAYS} is {v:?}; it must be the recordings' retention in whole days, 1 to 3650 (the stack's retentionDays)"
                    ));
                    None
                }
            }
        });

        match catalog {
            Some(catalog) if problems.is_empty() => Ok(Config {
                role,
                recordings_bucket,
                recordings_retention_days,
                measurement,
                text_models_dir,
                table_name,
                state_machine_arn,
                detector,
                catalog_path,
                catalog,
                catalog_object,
                rules: Rules {
                    max_active: max_active as usize,
                    republish_seconds,
                },
                max_event_age_seconds,
                region,
            }),
            _ => Err(ConfigError(problems)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn catalog_file() -> tempfile_path::TempPath {
        tempfile_path::write(
            r#"{"products":[{"id":"mug","labels":["mug"],"title":"Mug","price":"$1",
            "image_url":"m.png","link_url":"https://s.example/m","min_confidence":60,
            "display_seconds":20,"cooldown_seconds":60}]}"#,
        )
    }

    /// A file removed when dropped (the standard library has no temp files).
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        pub fn write(text: &str) -> TempPath {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "catalog-{}-{}.json",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, text).unwrap();
            TempPath(path)
        }
    }

    #[test]
    fn reads_a_complete_environment_with_defaults() {
        let file = catalog_file();
        let env = HashMap::from([
            (TABLE_NAME, "t".to_string()),
            (
                STATE_MACHINE_ARN,
                "arn:aws:states:us-east-1:1:stateMachine:w".into(),
            ),
            (AWS_REGION, "us-east-1".into()),
            (
                REKOGNITION_PROJECT_VERSION_ARN,
                "arn:aws:rekognition:us-east-1:1:project/p/version/v/1".into(),
            ),
            (CATALOG_PATH, file.0.display().to_string()),
        ]);
        let c = Config::from_lookup(Role::OnThumbnail, |k| env.get(k).cloned()).unwrap();
        assert_eq!(
            c.rules,
            Rules {
                max_active: 1,
                republish_seconds: 5
            }
        );
        assert_eq!(c.max_event_age_seconds, 150);
        assert_eq!(c.catalog.products().len(), 1);
    }

    #[test]
    fn the_builtin_detector_needs_no_model_arn_and_odd_values_are_refused() {
        let file = catalog_file();
        let base = |detector: &str| {
            HashMap::from([
                (TABLE_NAME, "t".to_string()),
                (
                    STATE_MACHINE_ARN,
                    "arn:aws:states:us-east-1:1:stateMachine:w".into(),
                ),
                (AWS_REGION, "us-east-1".into()),
                (CATALOG_PATH, file.0.display().to_string()),
                (DETECTOR, detector.to_string()),
            ])
        };
        let env = base("builtin");
        let c = Config::from_lookup(Role::OnThumbnail, |k| env.get(k).cloned()).unwrap();
        assert_eq!(c.detector, Some(DetectorChoice::Builtin));
        let env = base("rekognition");
        let err = Config::from_lookup(Role::OnThumbnail, |k| env.get(k).cloned()).unwrap_err();
        assert!(
            err.to_string().contains(REKOGNITION_PROJECT_VERSION_ARN),
            "{err}"
        );
        let env = base("opencv");
        let err = Config::from_lookup(Role::OnThumbnail, |k| env.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("`builtin`"), "{err}");
    }

    #[test]
    fn lists_every_problem_in_one_error() {
        let env = HashMap::from([
            (MAX_ACTIVE_PRODUCTS, "0".to_string()),
            (REPUBLISH_SECONDS, "soon".into()),
            (STATE_MACHINE_ARN, "my-workflow".into()),
            (CATALOG_PATH, "/nonexistent/catalog.json".into()),
        ]);
        let err = Config::from_lookup(Role::OnThumbnail, |k| env.get(k).cloned()).unwrap_err();
        let text = err.to_string();
        for needle in [
            "TABLE_NAME is not set",
            "AWS_REGION is not set",
            "REKOGNITION_PROJECT_VERSION_ARN is not set",
            "STATE_MACHINE_ARN is \"my-workflow\"",
            "MAX_ACTIVE_PRODUCTS is \"0\"",
            "REPUBLISH_SECONDS is \"soon\"",
            "cannot read /nonexistent/catalog.json",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert_eq!(err.0.len(), 7, "{text}");
    }

    #[test]
    fn a_bad_catalog_is_reported_with_its_problems() {
        let file = tempfile_path::write(r#"{"products":[{"id":"mug"}]}"#);
        let env = HashMap::from([(CATALOG_PATH, file.0.display().to_string())]);
        let text = Config::from_lookup(Role::OnTick, |k| env.get(k).cloned())
            .unwrap_err()
            .to_string();
        assert!(text.contains("field \"link_url\": is missing"), "{text}");
    }

    #[test]
    fn names_match_the_shared_list_the_cdk_app_reads() {
        let list: serde_json::Value =
            serde_json::from_str(include_str!("../lambda-env.json")).unwrap();
        let mut shared: Vec<&str> = list
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with('$'))
            .collect();
        let mut ours = ALL.to_vec();
        shared.sort_unstable();
        ours.sort_unstable();
        assert_eq!(shared, ours);
    }
}
