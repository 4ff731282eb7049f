//! The report function: the counters as the hosted dashboard reads them, a
//! Lambda behind a function URL whose auth type is AWS_IAM.
//!
//! Why IAM (SigV4) and not Cognito: the people who read reports are the
//! stack's operators and the advertisers they choose, and the operator
//! already manages access in IAM. A function URL with AWS_IAM auth lets
//! Lambda check every request's signature and the caller's
//! `lambda:InvokeFunctionUrl` grant before this code runs, so there is no
//! user pool, identity pool or sign-in page to run, and no secret in the
//! stack. Granting a reader is attaching the stack's `DashboardReaders`
//! policy; the dashboard signs its requests in the browser with short-lived
//! credentials the reader pastes (kept in memory, never stored).
//!
//! Routes (GET): `/measure/report?format=json|csv|table` (the shows, as
//! `adctl report` prints them) and `/measure/hours` (the charts' series).
//! The function's role may only Query the measurement table's `report` index:
//! it never writes.

use crate::collector::{HttpRequest, HttpResponse};
use crate::measure::{render_report, MeasureReader, ReportFormat};

/// One request, start to end. Never panics; every refusal says why.
pub async fn handle_report(reader: &dyn MeasureReader, request: &HttpRequest) -> HttpResponse {
    // Lambda lets no unsigned request through an AWS_IAM function URL; a
    // request without a caller means the URL was set up with auth NONE,
    // and the counters must not be public.
    if request.iam_caller.is_none() {
        return HttpResponse::text(
            403,
            "the report function answers only IAM-signed requests: its function URL must use AuthType AWS_IAM",
        );
    }
    if request.method != "GET" {
        return HttpResponse::text(405, "the report answers GET only");
    }
    match request.path.as_str() {
        "/measure/report" => {
            let asked = request
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("format="));
            let format = match ReportFormat::from_query(asked) {
                Ok(f) => f,
                Err(why) => return HttpResponse::json(400, serde_json::json!({ "error": why })),
            };
            match reader.shows().await {
                Ok(shows) => no_store(HttpResponse {
                    status: 200,
                    headers: vec![("content-type", format.content_type().into())],
                    body: render_report(&shows, format),
                }),
                Err(e) => unavailable(&e),
            }
        }
        "/measure/hours" => match reader.hours().await {
            Ok(hours) => no_store(HttpResponse {
                status: 200,
                headers: vec![("content-type", "application/json".into())],
                body: serde_json::to_string(&hours).unwrap_or_default(),
            }),
            Err(e) => unavailable(&e),
        },
        path => HttpResponse::text(
            404,
            &format!("no route for {path}; the report function answers GET /measure/report and GET /measure/hours"),
        ),
    }
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers.push(("cache-control", "no-store".into()));
    response
}

fn unavailable(e: &crate::measure::MeasureStoreError) -> HttpResponse {
    tracing::error!(error = %e, "cannot read the counters");
    HttpResponse::json(
        503,
        serde_json::json!({ "error": "the counters could not be read; try again" }),
    )
}

/// The report function's settings: the measurement table and the region.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub table: String,
    pub region: String,
}

impl ReportConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::{AWS_REGION, MEASURE_TABLE_NAME};
        let mut required = crate::config::Required::new(lookup);
        let config = Self {
            table: required.get(MEASURE_TABLE_NAME, "the measurement table's name"),
            region: required.get(AWS_REGION, "the AWS region, e.g. us-east-1"),
        };
        required.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{HourCount, Measure, MeasureStoreError, ShowCounts};

    struct Fixed;

    #[async_trait::async_trait]
    impl MeasureReader for Fixed {
        async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
            Ok(vec![ShowCounts {
                channel: "chan".into(),
                product: "cap".into(),
                show: 42,
                first_at: 1,
                impressions: 4,
                viewable: 2,
                opens: 1,
                scans: 1,
                ..ShowCounts::default()
            }])
        }
        async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
            Ok(vec![HourCount {
                hour: "2026-12-04T05".into(),
                channel: "chan".into(),
                product: "cap".into(),
                measure: Measure::Impression,
                replay: false,
                count: 4,
            }])
        }
    }

    fn get(path: &str, query: &str, caller: Option<&str>) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            iam_caller: caller.map(String::from),
            ..HttpRequest::default()
        }
    }

    const READER: Option<&str> = Some("arn:aws:iam::123456789012:user/advertiser");

    #[tokio::test]
    async fn answers_signed_requests_with_the_report_and_the_hours() {
        let json = handle_report(&Fixed, &get("/measure/report", "", READER)).await;
        assert_eq!(json.status, 200);
        let rows: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        assert_eq!(rows[0]["impressions"], 4);
        assert_eq!(rows[0]["click_through_rate"], 0.5);
        assert!(json.headers.contains(&("cache-control", "no-store".into())));
        let csv = handle_report(&Fixed, &get("/measure/report", "format=csv", READER)).await;
        assert!(
            csv.body.starts_with("channel,product,show,"),
            "{}",
            csv.body
        );
        let hours = handle_report(&Fixed, &get("/measure/hours", "", READER)).await;
        let hours: serde_json::Value = serde_json::from_str(&hours.body).unwrap();
        assert_eq!(hours[0]["count"], 4);
    }

    #[tokio::test]
    async fn refuses_unsigned_requests_and_says_why() {
        let r = handle_report(&Fixed, &get("/measure/report", "", None)).await;
        assert_eq!(r.status, 403);
        assert!(r.body.contains("AWS_IAM"), "{}", r.body);
        let bad = handle_report(&Fixed, &get("/measure/report", "format=xml", READER)).await;
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("json, csv, table"));
        let post = HttpRequest {
            method: "POST".into(),
            ..get("/measure/report", "", READER)
        };
        assert_eq!(handle_report(&Fixed, &post).await.status, 405);
        assert_eq!(
            handle_report(&Fixed, &get("/x", "", READER)).await.status,
            404
        );
    }
}
