//! The operator function: what an operator does to a channel (pin, unpin,
//! clear, pause, resume, read its state), as a Lambda behind a function URL
//! whose auth type is AWS_IAM.
//!
//! Why a function and not `adctl` alone: every transition takes "now" from
//! the machine that runs it. `adctl` runs on the operator's laptop, whose
//! clock may be off by minutes or an hour, and a pin or a pause then lasts
//! that much longer or shorter. Here the clock is the function's, the same
//! as on-thumbnail's and on-tick's. The transitions are the decision core's
//! (through [`crate::operator`]), as every state change is.
//!
//! Every request is signed (Lambda checks the signature and the caller's
//! `lambda:InvokeFunctionUrl` grant before this code runs; the stack's
//! `Operators` policy grants it) and every action is audited: one JSON log
//! line with who (the signing IAM principal), what, when, and the cue it
//! caused, also returned in the response.
//!
//! Routes, each `POST /operator/<action>` with a JSON body:
//!
//! | action | body |
//! | --- | --- |
//! | `pin` | `{"channel": ARN, "product": id, "seconds": 1-3600 (optional)}` |
//! | `unpin` | `{"channel": ARN, "product": id}` |
//! | `clear` | `{"channel": ARN}` |
//! | `pause` | `{"channel": ARN, "seconds": 1-43200 (optional, 43200)}` |
//! | `resume` | `{"channel": ARN}` |
//! | `sold-out` | `{"channel": ARN, "product": id}` |
//! | `in-stock` | `{"channel": ARN, "product": id}` |
//! | `state` | `{"channel": ARN}` |
//! | `sightings` | `{"channel": ARN, "limit": 1-30 (optional, 12)}`: the newest thumbnails' detections and verdicts |
//! | `thumbnail` | `{"channel": ARN, "key": a sighting's thumbnail key}`: `{"content_type": "image/jpeg", "image_base64": ...}` |
//!
//! And the catalog's actions (`catalog`, `catalog-versions`,
//! `catalog-restore`, `reference`): see [`crate::operator_catalog`].

use crate::collector::{HttpRequest, HttpResponse};
use crate::decision::MAX_PAUSE_SECONDS;
use crate::handlers::Pipeline;
use crate::operator::{self, OperatorError};
use ad_contract::MAX_DISPLAY_SECONDS;
use serde_json::{json, Value};

/// Largest request body read: an action is a few short fields.
pub const MAX_BODY_BYTES: usize = 4096;

/// One operator action, read from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Pin {
        product: String,
        seconds: Option<u32>,
    },
    Unpin {
        product: String,
    },
    Clear,
    Pause {
        seconds: u64,
    },
    Resume,
    SoldOut {
        product: String,
    },
    InStock {
        product: String,
    },
    State,
    /// The channel's newest sightings (what the detector saw, and what the
    /// decision core did with it).
    Sightings {
        limit: usize,
    },
    /// A sighting's thumbnail image (one of this channel's thumbnails).
    Thumbnail {
        key: String,
    },
}

/// The sightings a request returns when it does not say.
pub const DEFAULT_SIGHTINGS: usize = 12;

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Pin { .. } => "pin",
            Action::Unpin { .. } => "unpin",
            Action::Clear => "clear",
            Action::Pause { .. } => "pause",
            Action::Resume => "resume",
            Action::SoldOut { .. } => "sold-out",
            Action::InStock { .. } => "in-stock",
            Action::State => "state",
            Action::Sightings { .. } => "sightings",
            Action::Thumbnail { .. } => "thumbnail",
        }
    }

    /// Reads change nothing and are not audited.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Action::State | Action::Sightings { .. } | Action::Thumbnail { .. }
        )
    }
}

/// A request read: the channel and what to do to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRequest {
    pub channel: String,
    pub action: Action,
}

/// Reads `POST /operator/<action>` and its JSON body; the error names the
/// field and the fix.
pub fn parse_request(method: &str, path: &str, body: &str) -> Result<OperatorRequest, String> {
    const ACTIONS: &str = "pin, unpin, clear, pause, resume, sold-out, in-stock, state, sightings or thumbnail; and catalog, catalog-versions, catalog-restore or reference";
    let Some(name) = path.strip_prefix("/operator/") else {
        return Err(format!(
            "no route for {path}; the operator function answers POST /operator/<action> ({ACTIONS})"
        ));
    };
    if method != "POST" {
        return Err(format!("{method} {path}: send POST, with a JSON body"));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(format!(
            "body is {} bytes; an action takes at most {MAX_BODY_BYTES}",
            body.len()
        ));
    }
    let fields: serde_json::Map<String, Value> = match serde_json::from_str(body) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => {
            return Err(
                "the body must be a JSON object, such as {\"channel\": \"arn:aws:ivs:...\"}".into(),
            )
        }
        Err(e) => return Err(format!("the body is not JSON ({e}); send a JSON object")),
    };
    let text = |key: &str| -> Result<String, String> {
        match fields.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(format!("`{key}` must be a non-empty string")),
            None => Err(format!("`{key}` is missing")),
        }
    };
    let seconds = |key: &str, max: u64| -> Result<Option<u64>, String> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if (1..=max).contains(&n) => Ok(Some(n)),
                _ => Err(format!(
                    "`{key}` must be a whole number of seconds from 1 to {max}"
                )),
            },
        }
    };
    let known: &[&str] = match name {
        "pin" => &["channel", "product", "seconds"],
        "unpin" | "sold-out" | "in-stock" => &["channel", "product"],
        "pause" => &["channel", "seconds"],
        "clear" | "resume" | "state" => &["channel"],
        "sightings" => &["channel", "limit"],
        "thumbnail" => &["channel", "key"],
        other => return Err(format!("no action {other:?}; the actions are {ACTIONS}")),
    };
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "`{unknown}` is not a field of {name}; it takes {}",
            known.join(", ")
        ));
    }
    let channel = text("channel")?;
    let action = match name {
        "pin" => Action::Pin {
            product: text("product")?,
            seconds: seconds("seconds", u64::from(MAX_DISPLAY_SECONDS))?
                .and_then(|s| u32::try_from(s).ok()),
        },
        "unpin" => Action::Unpin {
            product: text("product")?,
        },
        "sold-out" => Action::SoldOut {
            product: text("product")?,
        },
        "in-stock" => Action::InStock {
            product: text("product")?,
        },
        "pause" => Action::Pause {
            seconds: seconds("seconds", MAX_PAUSE_SECONDS)?.unwrap_or(MAX_PAUSE_SECONDS),
        },
        "clear" => Action::Clear,
        "resume" => Action::Resume,
        "sightings" => Action::Sightings {
            limit: match fields.get("limit") {
                None | Some(Value::Null) => DEFAULT_SIGHTINGS,
                Some(v) => match v.as_u64() {
                    Some(n @ 1..=30) => n as usize,
                    _ => return Err("`limit` must be a whole number from 1 to 30".into()),
                },
            },
        },
        "thumbnail" => {
            let key = text("key")?;
            // Only a thumbnail of this very channel: the function may read
            // every channel's, an operator asks for one.
            let of_channel = crate::thumbnail_key::ThumbnailKey::parse(&key).map_err(|e| {
                format!("`key` {key:?} is not an IVS thumbnail key ({e}); give a sighting's `key`")
            })?;
            let arn_region = channel.split(':').nth(3).unwrap_or_default();
            if of_channel.channel_arn(arn_region) != channel {
                return Err(format!(
                    "`key` {key:?} is a thumbnail of another channel than `channel`"
                ));
            }
            Action::Thumbnail { key }
        }
        _ => Action::State,
    };
    Ok(OperatorRequest { channel, action })
}

/// One request, start to end. Never panics; every refusal says why.
pub async fn handle_operator(p: &Pipeline, request: &HttpRequest) -> HttpResponse {
    // Lambda lets no unsigned request through an AWS_IAM function URL; one
    // without a caller means the URL was set up with auth NONE, and nobody
    // may steer a channel anonymously.
    let Some(caller) = &request.iam_caller else {
        return HttpResponse::text(
            403,
            "the operator function answers only IAM-signed requests: its function URL must use AuthType AWS_IAM",
        );
    };
    let body = request.body.as_deref().unwrap_or("");
    p.follow_catalog().await;
    perform(p, caller, &request.method, &request.path, body).await
}

/// One action by `caller` (who is recorded in the audit line), however the
/// caller was checked: an IAM signature here, the studio's token locally.
pub async fn perform(
    p: &Pipeline,
    caller: &str,
    method: &str,
    path: &str,
    body: &str,
) -> HttpResponse {
    if let Some(name) = path
        .strip_prefix("/operator/")
        .filter(|name| crate::operator_catalog::ACTIONS.contains(name) && method == "POST")
    {
        return crate::operator_catalog::perform(p, caller, name, body).await;
    }
    let parsed = match parse_request(method, path, body) {
        Ok(parsed) => parsed,
        Err(why) => return HttpResponse::json(400, json!({ "error": why })),
    };
    let OperatorRequest { channel, action } = &parsed;
    let result: Result<Value, OperatorError> = match action {
        Action::Pin { product, seconds } => operator::pin(p, channel, product, *seconds)
            .await
            .map(|cue| json!({ "published": cue.encode().ok() })),
        Action::Unpin { product } => operator::unpin(p, channel, product)
            .await
            .map(|cue| json!({ "published": cue.and_then(|c| c.encode().ok()) })),
        Action::SoldOut { product } => operator::sold_out(p, channel, product, true)
            .await
            .map(|cue| json!({ "published": cue.and_then(|c| c.encode().ok()) })),
        Action::InStock { product } => operator::sold_out(p, channel, product, false)
            .await
            .map(|cue| json!({ "published": cue.and_then(|c| c.encode().ok()) })),
        Action::Clear => operator::clear(p, channel)
            .await
            .map(|cue| json!({ "published": cue.encode().ok() })),
        Action::Pause { seconds } => operator::pause(p, channel, *seconds)
            .await
            .map(|until| json!({ "paused_until": until })),
        Action::Resume => operator::pause(p, channel, 0)
            .await
            .map(|until| json!({ "paused_until": until })),
        Action::State => operator::state(p, channel).await,
        Action::Sightings { limit } => match &p.sightings {
            Some(log) => log
                .newest_of(channel, *limit)
                .await
                .map(|sightings| json!({ "sightings": sightings }))
                .map_err(OperatorError::Sightings),
            None => Err(OperatorError::Sightings(
                "sightings are not kept here: on-thumbnail keeps them where RECORDINGS_BUCKET names".into(),
            )),
        },
        Action::Thumbnail { key } => {
            use base64::Engine as _;
            let image = match &p.sightings {
                Some(log) => log.thumbnail(key).await.map_err(OperatorError::Sightings),
                None => Ok(None),
            };
            match image {
                Ok(Some(bytes)) => Ok(json!({
                    "content_type": "image/jpeg",
                    "image_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
                })),
                Ok(None) => Err(OperatorError::NoThumbnail(key.clone())),
                Err(e) => Err(e),
            }
        }
    };
    let now = p.clock.now();
    match result {
        Ok(mut outcome) => {
            if !action.is_read() {
                // The audit line: who, when, what, and what it caused.
                tracing::info!(
                    target: "audit",
                    caller = %caller,
                    at = now,
                    action = action.name(),
                    channel = %channel,
                    detail = ?action,
                    outcome = %outcome,
                    "operator action"
                );
            }
            if let Value::Object(fields) = &mut outcome {
                fields.insert("action".into(), action.name().into());
                fields.insert("at".into(), now.into());
            }
            HttpResponse::json(200, outcome)
        }
        Err(e) => {
            let status = match e {
                OperatorError::UnknownProduct(_) | OperatorError::BadChannel(_) => 400,
                OperatorError::NoThumbnail(_) => 404,
                _ => 503,
            };
            tracing::warn!(
                target: "audit",
                caller = %caller,
                at = now,
                action = action.name(),
                channel = %channel,
                error = %crate::ports::Chain(&e),
                "operator action failed"
            );
            HttpResponse::json(
                status,
                json!({ "error": crate::ports::Chain(&e).to_string(), "action": action.name() }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:ivs:us-east-1:123456789012:channel/abc";

    #[test]
    fn actions_are_read_with_their_fields() {
        let read = |path: &str, body: &str| parse_request("POST", path, body);
        assert_eq!(
            read(
                "/operator/pin",
                &format!(r#"{{"channel":"{ARN}","product":"mug","seconds":300}}"#)
            ),
            Ok(OperatorRequest {
                channel: ARN.into(),
                action: Action::Pin {
                    product: "mug".into(),
                    seconds: Some(300)
                }
            })
        );
        assert_eq!(
            read("/operator/pause", &format!(r#"{{"channel":"{ARN}"}}"#)).map(|r| r.action),
            Ok(Action::Pause {
                seconds: MAX_PAUSE_SECONDS
            })
        );
        for (name, action) in [
            (
                "sold-out",
                Action::SoldOut {
                    product: "mug".into(),
                },
            ),
            (
                "in-stock",
                Action::InStock {
                    product: "mug".into(),
                },
            ),
        ] {
            let body = format!(r#"{{"channel":"{ARN}","product":"mug"}}"#);
            assert_eq!(
                read(&format!("/operator/{name}"), &body).map(|r| r.action),
                Ok(action)
            );
        }
        for (name, action) in [
            ("clear", Action::Clear),
            ("resume", Action::Resume),
            ("state", Action::State),
            (
                "sightings",
                Action::Sightings {
                    limit: DEFAULT_SIGHTINGS,
                },
            ),
        ] {
            let body = format!(r#"{{"channel":"{ARN}"}}"#);
            assert_eq!(
                read(&format!("/operator/{name}"), &body).map(|r| r.action),
                Ok(action)
            );
        }
    }

    #[test]
    fn sightings_take_a_bounded_limit() {
        let read = |body: &str| parse_request("POST", "/operator/sightings", body);
        assert_eq!(
            read(&format!(r#"{{"channel":"{ARN}","limit":3}}"#)).map(|r| r.action),
            Ok(Action::Sightings { limit: 3 })
        );
        for limit in ["0", "31", "\"5\""] {
            let e = read(&format!(r#"{{"channel":"{ARN}","limit":{limit}}}"#));
            assert!(e.is_err_and(|e| e.contains("`limit`")), "{limit}");
        }
        assert!(Action::Sightings { limit: 1 }.is_read() && Action::State.is_read());
        let key = "ivs/v1/123456789012/abc/2026/11/24/17/5/rec1/media/thumbnails/thumb3.jpg";
        assert_eq!(
            parse_request(
                "POST",
                "/operator/thumbnail",
                &format!(r#"{{"channel":"{ARN}","key":"{key}"}}"#)
            )
            .map(|r| r.action),
            Ok(Action::Thumbnail { key: key.into() })
        );
        let other = key.replace("/abc/", "/xyz/");
        for (bad, says) in [
            (other.as_str(), "another channel"),
            ("catalog/catalog.json", "not an IVS thumbnail"),
        ] {
            let e = parse_request(
                "POST",
                "/operator/thumbnail",
                &format!(r#"{{"channel":"{ARN}","key":"{bad}"}}"#),
            );
            assert!(e.as_ref().is_err_and(|e| e.contains(says)), "{bad}: {e:?}");
        }
        assert!(!Action::Clear.is_read());
    }

    #[test]
    fn bad_requests_name_the_field_and_the_fix() {
        let cases = [
            ("GET", "/operator/pin", "{}", "send POST"),
            ("POST", "/admin", "{}", "POST /operator/<action>"),
            ("POST", "/operator/launch", "{}", "the actions are"),
            ("POST", "/operator/pin", "not json", "not JSON"),
            ("POST", "/operator/pin", "[1]", "JSON object"),
            (
                "POST",
                "/operator/pin",
                r#"{"product":"mug"}"#,
                "`channel` is missing",
            ),
            (
                "POST",
                "/operator/pin",
                r#"{"channel":""}"#,
                "`channel` must be a non-empty string",
            ),
            (
                "POST",
                "/operator/pin",
                r#"{"channel":"x"}"#,
                "`product` is missing",
            ),
            (
                "POST",
                "/operator/pin",
                r#"{"channel":"x","product":"mug","seconds":0}"#,
                "from 1 to 3600",
            ),
            (
                "POST",
                "/operator/pause",
                r#"{"channel":"x","seconds":99999999}"#,
                "from 1 to 43200",
            ),
            (
                "POST",
                "/operator/clear",
                r#"{"channel":"x","product":"mug"}"#,
                "`product` is not a field of clear",
            ),
        ];
        for (method, path, body, expected) in cases {
            let err = parse_request(method, path, body).unwrap_err();
            assert!(err.contains(expected), "{method} {path} {body}: {err}");
        }
        let big = format!(r#"{{"channel":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert!(parse_request("POST", "/operator/state", &big)
            .unwrap_err()
            .contains("at most 4096"));
    }
}
