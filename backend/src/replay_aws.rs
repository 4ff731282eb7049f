//! The replay's recordings bucket on S3 (see [`crate::replay`]).

use crate::aws::{get_object_bounded, service_error_at};
use crate::live_catalog::CatalogVersion;
use crate::ports::ServiceError;
use crate::replay::{
    catalog_key, cue_log_key, cue_log_prefix, LoggedCue, RecordingArchive, WriteIf,
};
use ad_contract::timeline::MAX_TIMELINE_CUES;
use ad_contract::ChannelId;
use async_trait::async_trait;
use futures_util::StreamExt as _;

/// Logged cues read at once.
const READS_AT_ONCE: usize = 16;
/// The largest logged cue read (a cue is at most 1 KB).
const MAX_LOGGED_BYTES: u64 = 8 * 1024;

/// The recordings bucket, where IVS records and the cue log is kept.
pub struct S3RecordingArchive {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

impl S3RecordingArchive {
    fn at(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    async fn put(&self, key: &str, text: &str, condition: WriteIf) -> Result<bool, ServiceError> {
        let mut put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            // Players read cues.json and the index through CloudFront;
            // browsers revalidate every time.
            .cache_control("no-cache")
            .body(text.as_bytes().to_vec().into());
        put = match condition {
            WriteIf::Always => put,
            WriteIf::Absent => put.if_none_match("*"),
            WriteIf::Matches(etag) => put.if_match(etag),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                // 412: the precondition failed; 409: a concurrent
                // conditional write won.
                let status = e.raw_response().map(|r| r.status().as_u16());
                if matches!(status, Some(412 | 409)) {
                    return Ok(false);
                }
                Err(service_error_at(&self.at(key), e.into_service_error()))
            }
        }
    }
}

#[async_trait]
impl RecordingArchive for S3RecordingArchive {
    async fn keep_cue(
        &self,
        channel: &ChannelId,
        seq: Option<u64>,
        entry: &LoggedCue,
    ) -> Result<(), ServiceError> {
        let key = cue_log_key(channel, entry.sent_ms, seq);
        let text = serde_json::to_string(entry)
            .map_err(|e| ServiceError::caused_by(format!("{key}: encoding"), e))?;
        self.put(&key, &text, WriteIf::Always).await.map(|_| ())
    }

    async fn keep_catalog(&self, version: &CatalogVersion) -> Result<(), ServiceError> {
        let key = catalog_key(&version.version);
        self.put(&key, &version.catalog.to_json(), WriteIf::Always)
            .await
            .map(|_| ())
    }

    async fn logged_cues(
        &self,
        channel: &ChannelId,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<LoggedCue>, ServiceError> {
        let prefix = cue_log_prefix(channel);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        'pages: loop {
            let mut list = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix);
            list = match token.take() {
                Some(t) => list.continuation_token(t),
                // Keys are zero-padded milliseconds: the first one sent at
                // or after `from_ms` sorts after this.
                None => list.start_after(format!("{prefix}{:013}", from_ms.saturating_sub(1))),
            };
            let out = list
                .send()
                .await
                .map_err(|e| service_error_at(&self.at(&prefix), e.into_service_error()))?;
            for object in out.contents() {
                let Some(key) = object.key() else { continue };
                let sent_ms = key
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.split('-').next())
                    .and_then(|ms| ms.parse::<u64>().ok());
                match sent_ms {
                    Some(ms) if ms > to_ms => break 'pages,
                    Some(_) => keys.push(key.to_owned()),
                    None => {}
                }
                if keys.len() >= 2 * MAX_TIMELINE_CUES {
                    break 'pages;
                }
            }
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        let reads = futures_util::stream::iter(keys)
            .map(|key| async move {
                let text = self.read(&key, MAX_LOGGED_BYTES).await?;
                Ok::<_, ServiceError>(text.and_then(|(text, _)| {
                    serde_json::from_str::<LoggedCue>(&text)
                        .map_err(|e| tracing::warn!(key, error = %e, "replay: a logged cue does not read; left out"))
                        .ok()
                }))
            })
            .buffer_unordered(READS_AT_ONCE)
            .collect::<Vec<_>>()
            .await;
        let mut logged = Vec::with_capacity(reads.len());
        for read in reads {
            if let Some(entry) = read? {
                logged.push(entry);
            }
        }
        logged.sort_by_key(|l| l.sent_ms);
        Ok(logged)
    }

    async fn read(&self, key: &str, limit: u64) -> Result<Option<(String, String)>, ServiceError> {
        let Some((bytes, etag)) = get_object_bounded(&self.s3, &self.bucket, key, limit).await?
        else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            ServiceError::caused_by(format!("{} is not UTF-8 text", self.at(key)), e)
        })?;
        Ok(Some((text, etag)))
    }

    async fn write(&self, key: &str, text: &str, condition: WriteIf) -> Result<bool, ServiceError> {
        self.put(key, text, condition).await
    }
}
