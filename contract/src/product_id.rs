use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest product id accepted. Ids travel in every cue, and a cue must stay
/// under IVS's 1 KB cap with several products in it.
pub const MAX_PRODUCT_ID_LEN: usize = 32;

/// A short, stable product id: 1 to 32 characters of `a-z`, `0-9`, `-` and
/// `_`, starting with a letter or digit. It is what cues carry instead of the
/// product card, so it must never change for a product that is on air.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Why a text is not a product id.
pub enum ProductIdError {
    #[error("is empty; give a short stable id such as \"aurora-mug\"")]
    /// The id is empty.
    Empty,
    #[error("is {0} characters long; use at most {MAX_PRODUCT_ID_LEN}")]
    /// The id is too long (its length in characters).
    TooLong(usize),
    #[error("contains '{0}'; use only a-z, 0-9, '-' and '_', starting with a letter or digit")]
    /// The id holds a character ids may not.
    BadCharacter(char),
}

impl ProductId {
    /// `text` if it is a valid product id, else why not.
    pub fn parse(text: &str) -> Result<Self, ProductIdError> {
        if text.is_empty() {
            return Err(ProductIdError::Empty);
        }
        let len = crate::json::char_count(text);
        if len > MAX_PRODUCT_ID_LEN {
            return Err(ProductIdError::TooLong(len));
        }
        for (i, c) in text.chars().enumerate() {
            let ok =
                c.is_ascii_lowercase() || c.is_ascii_digit() || (i > 0 && (c == '-' || c == '_'));
            if !ok {
                return Err(ProductIdError::BadCharacter(c));
            }
        }
        Ok(Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProductId {
    type Error = ProductIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ProductId> for String {
    fn from(id: ProductId) -> Self {
        id.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ProductId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_short_lowercase_ids() {
        for ok in ["a", "aurora-mug", "p_1", "0day", &"x".repeat(32)] {
            assert!(ProductId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_would_break_cues_or_urls() {
        assert_eq!(ProductId::parse(""), Err(ProductIdError::Empty));
        assert_eq!(
            ProductId::parse(&"x".repeat(33)),
            Err(ProductIdError::TooLong(33))
        );
        assert_eq!(
            ProductId::parse("Mug"),
            Err(ProductIdError::BadCharacter('M'))
        );
        assert_eq!(
            ProductId::parse("-mug"),
            Err(ProductIdError::BadCharacter('-'))
        );
        assert_eq!(
            ProductId::parse("a b"),
            Err(ProductIdError::BadCharacter(' '))
        );
    }
}
