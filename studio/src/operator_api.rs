//! The operator's actions on the studio's channel (pin, unpin, clear,
//! pause, resume, sold-out, in-stock, state), as the stack's operator function takes them
//! (`backend::operator_api`: the same routes, bodies, answers and audit
//! line), on the studio's clock and over the local chain's own state.
//! Every action but `state` also goes into the audit log the console reads
//! ([`crate::audit_log`]).
//!
//! Access: the token the studio prints, as for the dashboard, and the
//! guard's rules for every state-changing route (a loopback Host, the
//! studio's own origin, a JSON body).

use crate::audit_log::AuditLog;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use backend::handlers::Pipeline;
use backend::operator_api::{perform, MAX_BODY_BYTES};
use std::sync::Arc;

/// Who the audit log names for an action taken with the studio's token.
pub const TOKEN_CALLER: &str = "studio token";

#[derive(Clone)]
pub struct Operator {
    pub pipeline: Arc<Pipeline>,
    /// What `Authorization: Bearer` must carry (the studio's report token).
    pub token: Arc<String>,
    pub audit: Arc<AuditLog>,
}

pub fn routes(operator: Operator) -> Router {
    Router::new()
        .route("/operator/{action}", post(act))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(operator)
}

async fn act(
    State(operator): State<Operator>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !crate::measure_api::bearer_matches(&headers, &operator.token) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "the operator's actions need the token the studio printed: Authorization: Bearer <token>",
        )
            .into_response();
    }
    let answer = perform(
        &operator.pipeline,
        TOKEN_CALLER,
        "POST",
        &format!("/operator/{action}"),
        &body,
    )
    .await;
    if action != "state" {
        let at = i64::try_from(operator.pipeline.clock.now()).unwrap_or(i64::MAX);
        let name: String = action
            .chars()
            .take(32)
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if let Err(e) =
            operator
                .audit
                .append(at, TOKEN_CALLER, &name, &body, answer.status, &answer.body)
        {
            // The action is done; losing its audit row is logged loudly
            // (the `audit` log line from `perform` still has it).
            tracing::error!(error = %backend::ports::Chain(&e), action = %name, "operator action not written to the audit log");
        }
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = answer
        .headers
        .iter()
        .find(|(name, _)| *name == "content-type")
        .map_or("application/json".to_string(), |(_, v)| v.clone());
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        answer.body,
    )
        .into_response()
}
