//! The dashboard over the deployed stack's counters: the studio's own
//! dashboard page and report API, served on this machine (127.0.0.1 only,
//! Host checked), reading the stack's DynamoDB table with the operator's
//! AWS credentials.
//!
//! Why here and not hosted on CloudFront beside the player: a hosted page
//! needs credentials in the browser, so either Cognito (a user pool, an
//! identity pool, a sign-in page and their users to manage) or SigV4 keys
//! pasted into a web page. The operator already holds IAM credentials that
//! may read the table (`dynamodb:Scan` on it); reading with them adds no
//! public endpoint, no user store and no long-lived secret, and the table's
//! access stays in IAM where the rest of the stack's is. The page is the
//! same file the studio serves, tested in Chromium; only the store differs.
//!
//! `cargo run -p studio --bin studio-dashboard -- --measure-table <MeasurementTable> --region <region>`

use crate::measure_api::{report_routes, Reports};
use backend::collector::DynamoCounters;
use std::sync::Arc;

/// The dashboard's routes over `counters`, behind the studio's guard (a
/// loopback Host only) and the bearer `token`.
pub fn app(counters: DynamoCounters, token: String, port: u16) -> axum::Router {
    let reports = Reports {
        reader: Arc::new(counters),
        token: Arc::new(token),
    };
    report_routes(reports).layer(axum::middleware::from_fn_with_state(
        crate::guard::Guard::new(port, &[], false),
        crate::guard::enforce,
    ))
}

/// A fresh random token (hex) for one run of the dashboard.
pub fn new_token() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..16)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}
