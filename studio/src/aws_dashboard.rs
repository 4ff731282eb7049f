//! The dashboard over the deployed stack's counters: the studio's own
//! dashboard page and report API, served on this machine (127.0.0.1 only,
//! Host checked), reading the stack's DynamoDB table with the operator's
//! AWS credentials.
//!
//! The stack also hosts the page beside the player, signing its requests to
//! an IAM-authorised report function in the browser (see
//! `backend::report_api`). This one is for an operator who would rather not
//! paste keys into a web page: it reads the table with the credentials the
//! AWS CLI already uses (`dynamodb:Query` on its `report` index), from this machine only. The
//! page is the same file; only the store differs.
//!
//! `cargo run -p studio --bin studio-dashboard -- --measure-table <MeasurementTable> --region <region>`

use crate::measure_api::{report_routes, Reports};
use backend::measure_aws::DynamoCounters;
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
