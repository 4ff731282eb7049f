//! The show tags: made with the backend's key, checked by the collector.

use super::*;

/// Shortest signing key accepted.
pub const MIN_KEY_BYTES: usize = 16;

/// Makes and checks [`ShowTag`]s: HMAC-SHA256 over channel, product and show
/// with a key only the backend and the collector hold, cut to 48 bits.
/// 48 bits is plenty against guessing: at the collector's rate limit a
/// forger needs billions of years of requests per valid tag.
#[derive(Clone)]
pub struct ShowSigner {
    key: Vec<u8>,
}

impl fmt::Debug for ShowSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShowSigner(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the measurement key is {0} bytes; give at least {MIN_KEY_BYTES} random bytes, as hex (e.g. `openssl rand -hex 32`)")]
    TooShort(usize),
    #[error(
        "the measurement key is not hex ({0}); give it as hex digits (e.g. `openssl rand -hex 32`)"
    )]
    NotHex(String),
}

impl ShowSigner {
    pub fn new(key: &[u8]) -> Result<Self, KeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(key.len()));
        }
        Ok(Self { key: key.to_vec() })
    }

    /// A key written as hex digits (the form the configs hold).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if !text.len().is_multiple_of(2) {
            return Err(KeyError::NotHex("an odd number of digits".into()));
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| KeyError::NotHex(format!("digit {} is not hex", i + 1)))
            })
            .collect::<Result<Vec<u8>, _>>()?;
        Self::new(&bytes)
    }

    fn mac(
        &self,
        channel: &ChannelId,
        product: &ProductId,
        show: ShowId,
        use_: TagUse,
    ) -> [u8; 32] {
        // The key length was checked; HMAC takes any length anyway.
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return [0; 32],
        };
        // Fields separated by a byte no id may contain, so no two different
        // triples hash the same text.
        mac.update(channel.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(product.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(&show.0.to_be_bytes());
        // The player's tag keeps the text it had before tags had uses (a
        // show's show id is 8 bytes, so a suffix cannot collide with it).
        match use_ {
            TagUse::Player => {}
            TagUse::Scan => mac.update(b"\nscan"),
        }
        mac.finalize().into_bytes().into()
    }

    /// The tag of a show for `use_`.
    pub fn tag_for(
        &self,
        channel: &ChannelId,
        product: &ProductId,
        show: ShowId,
        use_: TagUse,
    ) -> ShowTag {
        let mac = self.mac(channel, product, show, use_);
        let text = base64url(&mac[..SHOW_TAG_LEN * 6 / 8]);
        // Eight characters of the base64url alphabet: always a valid tag.
        ShowTag::parse(&text).unwrap_or_else(|_| unreachable_tag())
    }

    /// The tag of a show's events and Open link.
    pub fn tag(&self, channel: &ChannelId, product: &ProductId, show: ShowId) -> ShowTag {
        self.tag_for(channel, product, show, TagUse::Player)
    }

    /// Whether `show` carries the tag this key makes for it and `use_`.
    /// Compared in constant time, so the answer's timing tells nothing about
    /// the tag.
    pub fn verify(&self, show: &ShowRef, use_: TagUse) -> bool {
        let expected = self.tag_for(&show.channel, &show.product, show.show, use_);
        same_secret(expected.as_str(), show.tag.as_str())
    }

    /// Names the channel in `cue` and tags every entry that has a show, for
    /// each use, so players can report on it.
    pub fn stamp(&self, cue: &mut Cue, channel: &ChannelId) {
        cue.channel = Some(channel.clone());
        for item in &mut cue.show {
            item.tag = item.show.map(|show| self.tag(channel, &item.id, show));
            item.scan_tag = item
                .show
                .map(|show| self.tag_for(channel, &item.id, show, TagUse::Scan));
        }
    }
}

impl ShowSigner {
    /// The tracking link of `kind` for a show, with the tag of its use.
    pub fn link(
        &self,
        kind: LinkKind,
        channel: &ChannelId,
        product: &ProductId,
        show: ShowId,
    ) -> TrackingLink {
        TrackingLink {
            kind,
            show: ShowRef {
                channel: channel.clone(),
                product: product.clone(),
                show,
                tag: self.tag_for(channel, product, show, kind.into()),
            },
            replay: false,
        }
    }
}

/// Whether `a` and `b` are the same text, compared in constant time for a
/// given length, so the answer's timing tells nothing about a secret (a
/// tag, the origin secret).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a show tag may be used for; the key's MAC covers it, so a tag made
/// for one use does not verify for another.
///
/// Two uses, not three: the events and the Open link are both made by the
/// page that received the cue (the link carries the viewer id its events
/// do), while the QR code's link leaves the page, for a phone. So a click
/// link cannot be rewritten into a scan (`o.` to `q.`), nor the reverse, nor
/// an event key into a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagUse {
    /// Events of the player and its Open link (the cue's `t`).
    Player,
    /// The QR code's link (the cue's `q`).
    Scan,
}

impl From<LinkKind> for TagUse {
    fn from(kind: LinkKind) -> Self {
        match kind {
            LinkKind::Scan => TagUse::Scan,
            LinkKind::Click => TagUse::Player,
        }
    }
}

/// A tag of the right shape, for the impossible case where base64url output
/// were not one (keeps `tag` free of panics).
fn unreachable_tag() -> ShowTag {
    ShowTag::parse("AAAAAAAA").unwrap_or_else(|_| unreachable_tag())
}

pub(super) fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
