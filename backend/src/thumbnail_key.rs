//! IVS recording thumbnails in S3, and the channel they belong to.
//!
//! IVS writes thumbnails of a recorded stream under
//! `ivs/v1/<account>/<channel-id>/<y>/<m>/<d>/<h>/<min>/<recording-id>/media/thumbnails/...`:
//! `thumb<n>.jpg` in SEQUENTIAL storage, and in LATEST storage one file that the
//! AWS docs give both as `media/latest_thumbnail/thumb.jpg` and
//! `media/thumbnails/latest/thumb.jpg`. Thumbnails of a chosen resolution may
//! sit one folder deeper (`media/thumbnails/<resolution>/...`). Everything else
//! IVS writes there (HLS segments, playlists, `events/*.json`) is not a
//! thumbnail.

use std::fmt;

/// A parsed thumbnail key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailKey {
    pub account: String,
    pub channel_id: String,
    pub recording_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAThumbnail {
    #[error("key does not start with ivs/v1/<account>/<channel-id>/")]
    NotIvs,
    #[error("account {0:?} is not a 12-digit AWS account id")]
    BadAccount(String),
    #[error("channel id {0:?} is not an IVS channel id")]
    BadChannel(String),
    #[error("key is not under media/thumbnails/ or media/latest_thumbnail/")]
    NotThumbnailFolder,
    #[error("key is not a .jpg image")]
    NotJpeg,
}

impl ThumbnailKey {
    /// Parses an S3 object key as it appears in an S3 event notification
    /// (URL-encoded, spaces as `+`).
    pub fn parse_event_key(encoded: &str) -> Result<Self, NotAThumbnail> {
        Self::parse(&url_decode(encoded))
    }

    pub fn parse(key: &str) -> Result<Self, NotAThumbnail> {
        let parts: Vec<&str> = key.split('/').collect();
        // ivs v1 account channel y m d h min recording media <folder> ... file
        if parts.len() < 13 || parts[0] != "ivs" || parts[1] != "v1" {
            return Err(NotAThumbnail::NotIvs);
        }
        let (account, channel_id) = (parts[2], parts[3]);
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NotAThumbnail::BadAccount(account.into()));
        }
        if channel_id.is_empty()
            || channel_id.len() > 64
            || !channel_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(NotAThumbnail::BadChannel(channel_id.into()));
        }
        let recording_id = parts[9];
        if parts[10] != "media" || !matches!(parts[11], "thumbnails" | "latest_thumbnail") {
            return Err(NotAThumbnail::NotThumbnailFolder);
        }
        let file = parts[parts.len() - 1];
        if !file.to_ascii_lowercase().ends_with(".jpg") {
            return Err(NotAThumbnail::NotJpeg);
        }
        Ok(Self {
            account: account.into(),
            channel_id: channel_id.into(),
            recording_id: recording_id.into(),
        })
    }

    /// The channel's ARN, in the function's region (the key carries no region:
    /// IVS writes to a bucket in the channel's own region).
    pub fn channel_arn(&self, region: &str) -> String {
        format!(
            "arn:{}:ivs:{region}:{}:channel/{}",
            partition(region),
            self.account,
            self.channel_id
        )
    }
}

impl fmt::Display for ThumbnailKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.channel_id)
    }
}

/// Where IVS writes one recording session of a channel: the key prefix up to
/// the recording id. The date is the session's UTC start, unpadded, as IVS
/// writes it (`2020/6/23/20/12`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingPrefix {
    pub account: String,
    pub channel_id: String,
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub recording_id: String,
}

impl RecordingPrefix {
    /// The session's folder: `ivs/v1/<account>/<channel>/<y>/<m>/<d>/<h>/<min>/<recording>`.
    pub fn key_prefix(&self) -> String {
        format!(
            "ivs/v1/{}/{}/{}/{}/{}/{}/{}/{}",
            self.account,
            self.channel_id,
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.recording_id
        )
    }

    /// The key of the session's `n`-th thumbnail in SEQUENTIAL storage.
    pub fn sequential_thumbnail_key(&self, n: u64) -> String {
        format!("{}/media/thumbnails/thumb{n}.jpg", self.key_prefix())
    }
}

/// The AWS partition a region belongs to.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The channel id at the end of an IVS channel ARN.
pub fn channel_id_of(channel_arn: &str) -> &str {
    channel_arn.rsplit('/').next().unwrap_or(channel_arn)
}

/// Decodes an S3 event key: `+` is a space and `%XX` a byte. Invalid escapes
/// are kept as written, and invalid UTF-8 is replaced, never a panic.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "ivs/v1/123456789012/AbCdEf123456/2026/11/24/17/5/rec9XyZ";

    #[test]
    fn parses_sequential_and_both_latest_layouts() {
        for suffix in [
            "media/thumbnails/thumb0.jpg",
            "media/thumbnails/thumb1234.jpg",
            "media/thumbnails/latest/thumb.jpg",
            "media/latest_thumbnail/thumb.jpg",
            "media/thumbnails/high/thumb3.jpg",
        ] {
            let key = ThumbnailKey::parse(&format!("{PREFIX}/{suffix}")).unwrap();
            assert_eq!(key.account, "123456789012");
            assert_eq!(key.channel_id, "AbCdEf123456");
            assert_eq!(key.recording_id, "rec9XyZ");
        }
    }

    #[test]
    fn skips_everything_else_ivs_writes() {
        for suffix in [
            "media/hls/720p30/0.ts",
            "media/hls/master.m3u8",
            "events/recording_started.json",
            "media/thumbnails/thumb0.png",
        ] {
            assert!(
                ThumbnailKey::parse(&format!("{PREFIX}/{suffix}")).is_err(),
                "{suffix}"
            );
        }
        assert_eq!(
            ThumbnailKey::parse("uploads/cat.jpg"),
            Err(NotAThumbnail::NotIvs)
        );
        assert!(matches!(
            ThumbnailKey::parse("ivs/v1/12345/AbC/2026/11/24/17/5/r/media/thumbnails/thumb0.jpg"),
            Err(NotAThumbnail::BadAccount(_))
        ));
    }

    #[test]
    fn builds_the_channel_arn_in_the_right_partition() {
        let key = ThumbnailKey::parse(&format!("{PREFIX}/media/thumbnails/thumb0.jpg")).unwrap();
        assert_eq!(
            key.channel_arn("us-west-2"),
            "arn:aws:ivs:us-west-2:123456789012:channel/AbCdEf123456"
        );
        assert!(key.channel_arn("cn-north-1").starts_with("arn:aws-cn:"));
        assert_eq!(channel_id_of(&key.channel_arn("eu-west-1")), "AbCdEf123456");
    }

    #[test]
    fn the_keys_the_studio_writes_parse_back() {
        let prefix = RecordingPrefix {
            account: "123456789012".into(),
            channel_id: "AbCdEf123456".into(),
            year: 2026,
            month: 11,
            day: 4,
            hour: 7,
            minute: 5,
            recording_id: "rec9XyZ".into(),
        };
        let key = prefix.sequential_thumbnail_key(17);
        assert_eq!(
            key,
            "ivs/v1/123456789012/AbCdEf123456/2026/11/4/7/5/rec9XyZ/media/thumbnails/thumb17.jpg"
        );
        let parsed = ThumbnailKey::parse(&key).unwrap();
        assert_eq!(parsed.channel_id, "AbCdEf123456");
        assert_eq!(parsed.recording_id, "rec9XyZ");
    }

    #[test]
    fn decodes_event_keys_without_panicking() {
        assert_eq!(url_decode("a+b%2Fc"), "a b/c");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%4"), "%zz%4");
        assert_eq!(url_decode("%ff"), "\u{fffd}");
        assert!(ThumbnailKey::parse_event_key(&format!(
            "{}/media/thumbnails/thumb0.jpg",
            PREFIX.replace('/', "%2F")
        ))
        .is_ok());
    }
}
