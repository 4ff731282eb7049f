//! The detection pipeline's core library: the pure decision logic, the edge
//! traits and their AWS adapters, and the Lambda handlers as plain async
//! functions. The binaries in `src/bin` are thin `main`s over this.

pub mod aggregate;
pub mod aggregator;
pub mod aws;
pub mod builtin;
pub mod calendar;
pub mod collector;
pub mod config;
pub mod decision;
pub mod handlers;
pub mod limits;
pub mod live_catalog;
pub mod local;
pub mod measure;
pub mod measure_aws;
pub mod operator;
pub mod operator_api;
pub mod operator_catalog;
pub mod ports;
pub mod reconcile;
pub mod replay;
pub mod replay_aws;
pub mod report_api;
pub mod runtime;
pub mod secrets;
pub mod sightings;
pub mod sightings_aws;
pub mod thumbnail_key;

/// The generic workflow's Amazon States Language definition, with
/// `${TickFunctionArn}` to substitute (the CDK app loads the same file).
pub const WORKFLOW_DEFINITION: &str = include_str!("../workflow/republish.asl.json");

#[cfg(test)]
mod tests {
    #[test]
    fn events_older_than_the_bound_are_stale_and_future_ones_are_not() {
        use crate::handlers::is_stale;
        assert!(!is_stale(1000, 1040, 40));
        assert!(is_stale(1000, 1041, 40));
        // S3's clock ahead of Lambda's: not stale.
        assert!(!is_stale(2000, 1000, 40));
        assert!(is_stale(i64::MIN, u64::MAX, 0));
    }

    /// on-tick is safe to run again (it re-publishes a level-triggered cue
    /// and saves state with a version check), so every transient failure of
    /// the invocation is retried. A timed-out on-tick (its save loop can
    /// sleep past 10 s under contention) reports `Sandbox.Timedout`, or
    /// `Lambda.Unknown` when the runtime dies; without a Retry for those the
    /// execution fails with cards still up.
    #[test]
    fn the_workflow_retries_every_transient_lambda_failure() {
        let asl: serde_json::Value =
            serde_json::from_str(super::WORKFLOW_DEFINITION).unwrap_or_default();
        let retried: Vec<&str> = asl["States"]["Publish"]["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["ErrorEquals"].as_array().into_iter().flatten())
            .filter_map(|e| e.as_str())
            .collect();
        for error in [
            "Lambda.ClientExecutionTimeoutException",
            "Lambda.Unknown",
            "Sandbox.Timedout",
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "StateStoreError",
            "Contended",
        ] {
            assert!(
                retried.contains(&error),
                "{error} is not retried: {retried:?}"
            );
        }
    }
}
