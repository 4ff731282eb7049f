//! The operator's actions on the studio's channel (pin, unpin, clear,
//! pause, resume, state), as the stack's operator function takes them
//! (`backend::operator_api`: the same routes, bodies, answers and audit
//! line), on the studio's clock and over the local chain's own state.
//!
//! Access: the token the studio prints, as for the dashboard, and the
//! guard's rules for every state-changing route (a loopback Host, the
//! studio's own origin, a JSON body).

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use backend::handlers::Pipeline;
use backend::operator_api::{perform, MAX_BODY_BYTES};
use std::sync::Arc;

#[derive(Clone)]
pub struct Operator {
    pub pipeline: Arc<Pipeline>,
    /// What `Authorization: Bearer` must carry (the studio's report token).
    pub token: Arc<String>,
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
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token != Some(operator.token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "the operator's actions need the token the studio printed: Authorization: Bearer <token>",
        )
            .into_response();
    }
    let answer = perform(
        &operator.pipeline,
        "studio token",
        "POST",
        &format!("/operator/{action}"),
        &body,
    )
    .await;
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
