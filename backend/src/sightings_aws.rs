//! The operator's sightings in AWS: on-thumbnail keeps each thumbnail's
//! [`Sighting`] in the recordings bucket, at
//! `sightings/<channel-id>/<at>-<thumbnail>.json` (expiring after a day),
//! and the operator function reads a channel's newest back for the console
//! (`POST /operator/sightings`). A write that fails loses a console line,
//! never a decision.

use crate::aws::{get_object_bounded, service_error_at};
use crate::ports::{Clock, ServiceError};
use crate::sightings::{Sighting, SightingLog};
use ad_contract::ChannelId;
use async_trait::async_trait;
use futures_util::StreamExt as _;
use std::sync::Arc;

/// Where sightings are kept in the recordings bucket.
pub const SIGHTINGS_PREFIX: &str = "sightings/";
/// How far back the operator reads: the console's strip is a few minutes.
pub const WINDOW_SECONDS: u64 = 600;
/// The most sightings one read returns.
pub const MAX_READ: usize = 30;
/// The largest sighting read (a frame's detections, well under this).
const MAX_SIGHTING_BYTES: u64 = 64 * 1024;

pub struct S3SightingLog {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub clock: Arc<dyn Clock>,
}

/// A sighting's key: zero-padded seconds, so keys sort by time, then the
/// thumbnail's file name (its characters outside `A-Za-z0-9-_` dropped).
pub fn sighting_key(channel: &ChannelId, at: u64, thumbnail_key: &str) -> String {
    let file: String = thumbnail_key
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .trim_end_matches(".jpg")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    format!(
        "{SIGHTINGS_PREFIX}{}/{at:010}-{file}.json",
        channel.as_str()
    )
}

#[async_trait]
impl SightingLog for S3SightingLog {
    async fn record(&self, sighting: Sighting) {
        let Ok(channel) = ChannelId::from_arn(&sighting.channel) else {
            tracing::warn!(channel = %sighting.channel, "sighting not kept: not a channel ARN");
            return;
        };
        let key = sighting_key(&channel, sighting.at, &sighting.key);
        let body = match serde_json::to_vec(&sighting) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "sighting not kept");
                return;
            }
        };
        let put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await;
        if let Err(e) = put {
            let e = service_error_at(
                &format!("s3://{}/{key}", self.bucket),
                e.into_service_error(),
            );
            tracing::warn!(error = %crate::ports::Chain(&e), "sighting not kept; the console misses this thumbnail");
        }
    }

    async fn newest_of(
        &self,
        channel: &str,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, ServiceError> {
        let channel = ChannelId::from_arn(channel)
            .map_err(|e| ServiceError::from(format!("channel {channel:?}: {e}")))?;
        let prefix = format!("{SIGHTINGS_PREFIX}{}/", channel.as_str());
        let since = self.clock.now().saturating_sub(WINDOW_SECONDS);
        let at = format!("s3://{}/{prefix}", self.bucket);
        // One page: a thumbnail a second for the window is 600 keys.
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .start_after(format!("{prefix}{since:010}"))
            .send()
            .await
            .map_err(|e| service_error_at(&at, e.into_service_error()))?;
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        keys.sort();
        let newest: Vec<String> = keys.into_iter().rev().take(limit.min(MAX_READ)).collect();
        let reads = futures_util::stream::iter(newest)
            .map(|key| async move {
                let object =
                    get_object_bounded(&self.s3, &self.bucket, &key, MAX_SIGHTING_BYTES).await?;
                // Expired between the list and the read: left out.
                Ok::<_, ServiceError>(object.and_then(|(bytes, _)| {
                    serde_json::from_slice::<serde_json::Value>(&bytes).ok()
                }))
            })
            .buffered(8)
            .collect::<Vec<_>>()
            .await;
        let mut sightings = Vec::new();
        for read in reads {
            if let Some(sighting) = read? {
                sightings.push(sighting);
            }
        }
        Ok(sightings)
    }

    async fn thumbnail(&self, key: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        Ok(
            get_object_bounded(&self.s3, &self.bucket, key, MAX_THUMBNAIL_BYTES)
                .await?
                .map(|(bytes, _)| bytes),
        )
    }
}

/// The largest thumbnail sent to the console (IVS's are a few hundred KB;
/// a function URL answers at most 6 MB, base64 included).
const MAX_THUMBNAIL_BYTES: u64 = 4 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sighting_keys_sort_by_time_and_keep_to_safe_characters() {
        let ch = ChannelId::from_arn("arn:aws:ivs:us-east-1:1:channel/AbCd1234").expect("arn");
        let a = sighting_key(
            &ch,
            999_999_999,
            "ivs/v1/1/AbCd1234/2026/1/1/1/1/r/media/thumbnails/thumb9.jpg",
        );
        let b = sighting_key(
            &ch,
            1_000_000_000,
            "ivs/v1/1/AbCd1234/2026/1/1/1/1/r/media/thumbnails/thumb10.jpg",
        );
        assert!(a < b);
        assert_eq!(b, "sightings/AbCd1234/1000000000-thumb10.json");
        assert_eq!(
            sighting_key(&ch, 1, "a/../th umb?.jpg"),
            "sightings/AbCd1234/0000000001-thumb.json"
        );
    }
}
