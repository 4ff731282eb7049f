//! ID3v2.4 tags with TXXX frames: what IVS puts in a stream for each
//! PutMetadata, and what the IVS web player surfaces as `TEXT_METADATA_CUE`
//! (`text` = the frame's value, `description` = its description).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Id3Error {
    #[error("not an ID3v2 tag")]
    NotId3,
    #[error("ID3v2.{0} is not supported (only 2.4)")]
    Version(u8),
    #[error("a size is not syncsafe")]
    NotSyncsafe,
    #[error("tag or frame is cut short")]
    Truncated,
    #[error("TXXX frame is malformed: {0}")]
    BadTxxx(&'static str),
}

/// A 28-bit size as four 7-bit bytes. Sizes here are at most a few KB.
fn syncsafe(n: usize) -> [u8; 4] {
    let n = n as u32;
    [
        ((n >> 21) & 0x7F) as u8,
        ((n >> 14) & 0x7F) as u8,
        ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ]
}

fn read_syncsafe(b: &[u8]) -> Result<usize, Id3Error> {
    if b.len() < 4 {
        return Err(Id3Error::Truncated);
    }
    if b[..4].iter().any(|x| x & 0x80 != 0) {
        return Err(Id3Error::NotSyncsafe);
    }
    Ok(b[..4]
        .iter()
        .fold(0usize, |acc, &x| (acc << 7) | x as usize))
}

/// An ID3v2.4 tag holding one frame.
fn tag_with_frame(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut tag = b"ID3".to_vec();
    tag.extend_from_slice(&[0x04, 0x00, 0x00]); // v2.4.0, no flags
    tag.extend_from_slice(&syncsafe(10 + body.len()));
    tag.extend_from_slice(id);
    tag.extend_from_slice(&syncsafe(body.len()));
    tag.extend_from_slice(&[0x00, 0x00]);
    tag.extend_from_slice(body);
    tag
}

/// An ID3v2.4 tag holding one UTF-8 TXXX frame.
pub fn txxx_tag(description: &str, value: &str) -> Vec<u8> {
    let mut body = vec![0x03]; // UTF-8
    body.extend_from_slice(description.as_bytes());
    body.push(0x00);
    body.extend_from_slice(value.as_bytes());
    tag_with_frame(b"TXXX", &body)
}

/// An ID3v2.4 tag holding one PRIV frame: private data under an owner id.
/// Players do not surface it as a text cue.
pub fn priv_tag(owner: &str, data: &[u8]) -> Vec<u8> {
    let mut body = owner.as_bytes().to_vec();
    body.push(0x00);
    body.extend_from_slice(data);
    tag_with_frame(b"PRIV", &body)
}

/// A TXXX frame's description and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txxx {
    pub description: String,
    pub value: String,
}

/// Every TXXX frame in an ID3v2.4 tag (other frames are skipped).
pub fn parse_txxx(tag: &[u8]) -> Result<Vec<Txxx>, Id3Error> {
    if tag.len() < 10 || &tag[..3] != b"ID3" {
        return Err(Id3Error::NotId3);
    }
    if tag[3] != 4 {
        return Err(Id3Error::Version(tag[3]));
    }
    let size = read_syncsafe(&tag[6..10])?;
    let body = tag.get(10..10 + size).ok_or(Id3Error::Truncated)?;
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 10 <= body.len() && body[at] != 0 {
        let id = &body[at..at + 4];
        let len = read_syncsafe(&body[at + 4..at + 8])?;
        let content = body
            .get(at + 10..at + 10 + len)
            .ok_or(Id3Error::Truncated)?;
        if id == b"TXXX" {
            frames.push(parse_txxx_body(content)?);
        }
        at += 10 + len;
    }
    Ok(frames)
}

fn parse_txxx_body(content: &[u8]) -> Result<Txxx, Id3Error> {
    let (&encoding, text) = content
        .split_first()
        .ok_or(Id3Error::BadTxxx("empty frame"))?;
    if encoding != 0x03 && encoding != 0x00 {
        return Err(Id3Error::BadTxxx("only ISO-8859-1 and UTF-8 are read"));
    }
    let nul = text
        .iter()
        .position(|&b| b == 0)
        .ok_or(Id3Error::BadTxxx("description is not terminated"))?;
    let value = &text[nul + 1..];
    let value = value.strip_suffix(&[0]).unwrap_or(value);
    let utf8 = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| Id3Error::BadTxxx("text is not UTF-8"))
    };
    Ok(Txxx {
        description: utf8(&text[..nul])?,
        value: utf8(value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_cue_survives_the_tag() {
        let cue = r#"{"v":1,"show":[{"id":"kestrel","left":18}]}"#;
        let tag = txxx_tag("", cue);
        assert_eq!(&tag[..5], b"ID3\x04\x00");
        assert_eq!(
            parse_txxx(&tag).unwrap(),
            vec![Txxx {
                description: String::new(),
                value: cue.into()
            }]
        );
    }

    #[test]
    fn a_priv_frame_is_skipped_by_the_txxx_reader() {
        let tag = priv_tag("com.example.owner", b"\x00\x01data");
        assert_eq!(&tag[10..14], b"PRIV");
        assert_eq!(parse_txxx(&tag).unwrap(), vec![]);
    }

    #[test]
    fn sizes_are_syncsafe() {
        let tag = txxx_tag("", &"x".repeat(1024));
        assert!(tag[6..10].iter().all(|b| b & 0x80 == 0));
        assert!(tag[14..18].iter().all(|b| b & 0x80 == 0));
        assert_eq!(read_syncsafe(&syncsafe(300_000)).unwrap(), 300_000);
    }

    #[test]
    fn damaged_tags_are_errors() {
        assert_eq!(parse_txxx(b"ID2"), Err(Id3Error::NotId3));
        let mut tag = txxx_tag("", "hello");
        tag[3] = 3;
        assert_eq!(parse_txxx(&tag), Err(Id3Error::Version(3)));
        let tag = txxx_tag("", "hello");
        assert_eq!(parse_txxx(&tag[..tag.len() - 1]), Err(Id3Error::Truncated));
    }

    proptest! {
        #[test]
        fn any_text_round_trips(description in "[^\u{0}]{0,20}", value in "\\PC{0,300}") {
            let tag = txxx_tag(&description, &value);
            let frames = parse_txxx(&tag).unwrap();
            prop_assert_eq!(frames, vec![Txxx { description, value }]);
        }

        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut tag = b"ID3\x04\x00\x00".to_vec();
            tag.extend(bytes);
            let _ = parse_txxx(&tag);
        }
    }
}
