//! A small, strict JSON reader for the catalog and the cue.
//!
//! Why not `serde_json::Value`: the player is wasm and its size is a
//! feature. Parsing into `serde_json::Value` and formatting its numbers cost
//! the player ~30 KB gzipped (measured with `player/build.sh`); this reader is
//! a few KB. It accepts exactly RFC 8259 JSON, which the tests check against
//! `serde_json` on arbitrary input, with one deliberate difference: an object
//! naming a key twice is an error (serde_json silently keeps the last), since
//! in a hand-edited catalog that is always a mistake.
//!
//! Writing JSON stays with `serde_json` (backend side only).

use std::fmt;

/// Deepest nesting accepted (serde_json's default limit is 128).
const MAX_DEPTH: usize = 128;

/// A parsed JSON value. Objects keep their keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, kept as written until read as a type.
    Number(Number),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, its members in document order (duplicate keys are refused).
    Object(Vec<(String, Json)>),
}

/// A JSON number, kept as its source text so that messages quote it exactly
/// as written and whole numbers are read without going through `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Number(String);

impl Number {
    /// The value as a non-negative whole number, when it is written as one
    /// (`20`, not `20.0` or `2e1`, as serde_json reads them) and fits a u64.
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// The value as an f64. Exact (one rounding) for up to 15 significant
    /// digits and exponents within ±22, which covers every number a catalog
    /// holds; otherwise within about 1e-14 relative. Not core's correctly
    /// rounded parser: its tables add ~10 KB to the player's wasm.
    pub fn as_f64(&self) -> f64 {
        let (negative, text) = match self.0.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, self.0.as_str()),
        };
        let (digits, exponent) = match text.find(['e', 'E']) {
            // `at` is an ASCII 'e', so both halves exist; `get` keeps a
            // panic path (and its formatting code) out of the player's wasm.
            Some(at) => (
                text.get(..at).unwrap_or(""),
                text.get(at + 1..).unwrap_or(""),
            ),
            None => (text, "0"),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let mut mantissa: u64 = 0;
        let mut exp10: i64 = 0;
        for (i, d) in whole.bytes().chain(fraction.bytes()).enumerate() {
            let in_fraction = i >= whole.len();
            if mantissa < 100_000_000_000_000_000 {
                mantissa = mantissa * 10 + u64::from(d - b'0');
                exp10 -= i64::from(in_fraction);
            } else {
                exp10 += i64::from(!in_fraction);
            }
        }
        // An exponent too long for i64 is far outside f64's range anyway.
        let exponent = exponent.trim_start_matches('+');
        exp10 = exp10.saturating_add(exponent.parse::<i64>().unwrap_or_else(|_| {
            if exponent.starts_with('-') {
                -100_000
            } else {
                100_000
            }
        }));
        let value = if mantissa == 0 {
            0.0
        } else {
            let m = mantissa as f64;
            let e = exp10.clamp(-100_000, 100_000) as i32;
            if e >= 0 {
                m * 10f64.powi(e)
            } else if e >= -300 {
                m / 10f64.powi(-e)
            } else {
                // Two steps keep 10^-e finite on the way to a subnormal.
                m / 1e300 / 10f64.powi(-e - 300)
            }
        };
        if negative {
            -value
        } else {
            value
        }
    }
}

/// Where and why a text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column (in characters) of the problem.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl Json {
    /// Parses one JSON value, with nothing but whitespace around it.
    pub fn parse(text: &str) -> Result<Json, JsonError> {
        let mut reader = Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        };
        reader.skip_whitespace();
        let value = reader.value(0)?;
        reader.skip_whitespace();
        if reader.pos < reader.bytes.len() {
            return Err(reader.error("trailing characters after the JSON value"));
        }
        Ok(value)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// The value as a whole number, if it is one that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(n.as_f64()),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The field `key` of an object (`None` for other values).
    pub fn get(&self, key: &str) -> Option<&Json> {
        field(self.as_object()?, key)
    }

    /// What kind of value this is, in words for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "true/false",
            Json::Number(_) => "a number",
            Json::String(_) => "text",
            Json::Array(_) => "a list",
            Json::Object(_) => "an object",
        }
    }
}

/// Keys one object may have. The repeated-key check is a scan per key, so
/// without a bound a 1 MB object of one level (60,000 keys) would take
/// 1.8 billion comparisons and freeze the player.
pub const MAX_KEYS: usize = 1024;

/// The field `key` of an object's fields.
pub fn field<'a>(fields: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Compact JSON text, for quoting values in error messages.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            Json::Number(n) => f.write_str(&n.0),
            Json::String(s) => write_quoted(f, s),
            Json::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Json::Object(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_quoted(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// `s` as a JSON string literal. Used for every quoted value in messages:
/// it cannot be confused with the text around it, whatever `s` holds.
pub fn quoted(s: &str) -> String {
    Json::String(s.to_owned()).to_string()
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => {
                let mut buf = [0; 4];
                f.write_str(c.encode_utf8(&mut buf))?;
            }
        }
    }
    f.write_str("\"")
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, message: &str) -> JsonError {
        let pos = self.pos.min(self.bytes.len());
        // `pos` may sit inside a multi-byte character; count whole ones.
        let mut p = pos;
        while !self.text.is_char_boundary(p) {
            p -= 1;
        }
        let before = self.text.get(..p).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, char_count) + 1;
        JsonError {
            line,
            column,
            message: message.to_owned(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect_word(&mut self, word: &str, value: Json) -> Result<Json, JsonError> {
        if self
            .bytes
            .get(self.pos..)
            .is_some_and(|b| b.starts_with(word.as_bytes()))
        {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        match self.peek() {
            None => Err(self.error("unexpected end of input; expected a value")),
            Some(b'n') => self.expect_word("null", Json::Null),
            Some(b't') => self.expect_word("true", Json::Bool(true)),
            Some(b'f') => self.expect_word("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.pos += 1;
        let mut fields: Vec<(String, Json)> = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key in double quotes"));
            }
            let key_at = self.pos;
            if fields.len() == MAX_KEYS {
                return Err(self.error(&format!(
                    "an object has more than {MAX_KEYS} keys; no object of a catalog or a cue has more than a dozen"
                )));
            }
            let key = self.string()?;
            // Linear, so bounded by MAX_KEYS: at most half a million short
            // comparisons (a sort or a hash table would cost the player's
            // wasm 2 KB gzipped; measured).
            if field(&fields, &key).is_some() {
                self.pos = key_at;
                return Err(self.error(&format!("key {} appears twice", quoted(&key))));
            }
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            fields.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(fields));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number: digits must follow '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number: digits must follow the exponent"));
            }
        }
        // Like JavaScript's JSON.parse, a number beyond f64's range is read
        // (as infinity), and whoever uses it checks its range.
        let text = self.text.get(start..self.pos).unwrap_or("0");
        Ok(Json::Number(Number(text.to_owned())))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let hex = self
            .bytes
            .get(self.pos..self.pos + 4)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.error("invalid \\u escape: four hex digits must follow"))?;
        let value = hex.iter().fold(0, |acc, &h| {
            acc * 16 + char::from(h).to_digit(16).unwrap_or(0)
        });
        self.pos += 4;
        Ok(value)
    }

    /// A string literal starting at the opening quote.
    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            // The run stops at ASCII bytes only, so it ends on a char boundary.
            out.push_str(self.text.get(run..self.pos).unwrap_or(""));
            match self.peek() {
                None => return Err(self.error("unexpected end of input inside a string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self.peek();
                    self.pos += 1;
                    match escape {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => out.push(self.unicode_escape()?),
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("invalid escape in a string"));
                        }
                    }
                }
                Some(_) => {
                    return Err(self.error(
                        "control character inside a string; write it as an escape such as \\n",
                    ))
                }
            }
        }
    }

    /// After `\u`: one code point, joining a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self
                    .bytes
                    .get(self.pos..)
                    .is_some_and(|b| b.starts_with(b"\\u"))
                {
                    return Err(self.error("lone leading surrogate in a \\u escape"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("invalid surrogate pair in a \\u escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate in a \\u escape")),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))
    }
}

/// Characters in `text`: bytes that do not continue a UTF-8 sequence. The
/// same as `chars().count()`, whose SIMD-minded code costs the player's
/// wasm 0.3 KB gzipped (measured with twiggy).
pub fn char_count(text: &str) -> usize {
    text.bytes().filter(|b| b & 0xC0 != 0x80).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// serde_json's reading of the same text, in our terms.
    fn from_serde(v: &serde_json::Value) -> Json {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => Json::Number(Number(n.to_string())),
            serde_json::Value::String(s) => Json::String(s.clone()),
            serde_json::Value::Array(a) => Json::Array(a.iter().map(from_serde).collect()),
            serde_json::Value::Object(o) => {
                Json::Object(o.iter().map(|(k, v)| (k.clone(), from_serde(v))).collect())
            }
        }
    }

    /// Same values, comparing numbers by value (serde_json normalises their
    /// text) and objects regardless of key order (serde_json sorts them).
    fn same(a: &Json, b: &Json) -> bool {
        match (a, b) {
            // Neither reader rounds every float correctly (see `as_f64`).
            (Json::Number(x), Json::Number(y)) => match (x.as_u64(), y.as_u64()) {
                (Some(p), Some(q)) => p == q,
                _ => {
                    let (p, q) = (x.as_f64(), y.as_f64());
                    p == q
                        || (p - q).abs() <= 1e-13 * p.abs().max(q.abs())
                        || (p - q).abs() < 1e-300
                }
            },
            (Json::Array(x), Json::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
            }
            (Json::Object(x), Json::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| field(y, k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }

    fn has_infinity(value: &Json) -> bool {
        match value {
            Json::Number(n) => n.as_f64().is_infinite(),
            Json::Array(items) => items.iter().any(has_infinity),
            Json::Object(fields) => fields.iter().any(|(_, v)| has_infinity(v)),
            _ => false,
        }
    }

    /// Ours accepts exactly what serde_json accepts (bar duplicate keys,
    /// which ours refuses on purpose) and reads the same value.
    fn agrees_with_serde_json(text: &str) {
        let ours = Json::parse(text);
        let theirs = serde_json::from_str::<serde_json::Value>(text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert!(same(a, &from_serde(b)), "{text:?}: {a:?} vs {b:?}"),
            (Err(e), Ok(_)) if e.message.contains("appears twice") => {}
            // serde_json refuses numbers beyond f64; ours reads them as
            // infinity (for the catalog's range checks to refuse).
            (Ok(value), Err(e)) if e.to_string().contains("out of range") => {
                assert!(has_infinity(value), "{text:?}")
            }
            (Err(_), Err(_)) => {}
            _ => panic!("{text:?}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }

    #[test]
    fn reads_every_kind_of_value() {
        let v = Json::parse(
            r#" {"a": [1, -2.5e3, 0, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"} "#,
        )
        .unwrap();
        let a = v.get("a").and_then(Json::as_array).unwrap();
        assert_eq!(a[0].as_u64(), Some(1));
        assert_eq!(a[1].as_f64(), Some(-2500.0));
        assert_eq!(a[1].as_u64(), None);
        assert_eq!(a[3], Json::Bool(true));
        assert!(a[5].is_null());
        assert_eq!(
            v.get("s").and_then(Json::as_str),
            Some("x\"\\/\u{8}\u{c}\n\r\té😀")
        );
        assert_eq!(Json::parse("20.0").unwrap().as_u64(), None);
        for (text, value) in [
            ("70", 70.0),
            ("-0.25", -0.25),
            ("99.5", 99.5),
            ("1E+2", 100.0),
            ("12345678901234567890123", 1.2345678901234568e22),
            ("0e999999999999999999999", 0.0),
            ("0.0000000001", 1e-10),
        ] {
            assert_eq!(Json::parse(text).unwrap().as_f64(), Some(value), "{text}");
        }
        assert_eq!(Json::parse("1e400").unwrap().as_f64(), Some(f64::INFINITY));
    }

    #[test]
    fn objects_are_bounded_in_keys_so_the_repeat_check_stays_fast() {
        let object = |n: usize| {
            let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            format!("{{{}}}", keys.join(","))
        };
        let v = Json::parse(&object(MAX_KEYS)).unwrap();
        assert_eq!(v.get("k1023").and_then(Json::as_u64), Some(1023));
        // About 1 MB of keys: refused at the first key too many, at once.
        let e = Json::parse(&object(60_000)).unwrap_err();
        assert!(e.message.contains("more than 1024 keys"), "{}", e.message);
        assert_eq!(e.column, object(MAX_KEYS).len() + 1);
    }

    #[test]
    fn refuses_what_is_not_json_with_where() {
        for (text, line, column, says) in [
            ("{\"a\": 1,}", 1, 9, "expected a key"),
            ("[1 2]", 1, 4, "expected ',' or ']'"),
            ("{\n  \"a\": tru }", 2, 8, "expected a value"),
            ("\"abc", 1, 5, "end of input inside a string"),
            ("01", 1, 2, "trailing characters"),
            ("\"\\ud800\"", 1, 8, "lone leading surrogate"),
            ("{\"a\":1,\"a\":2}", 1, 8, "\"a\" appears twice"),
            ("\"tab\there\"", 1, 5, "control character"),
            ("", 1, 1, "expected a value"),
        ] {
            let e = Json::parse(text).unwrap_err();
            assert_eq!((e.line, e.column), (line, column), "{text:?}: {e}");
            assert!(e.message.contains(says), "{text:?}: {e}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(Json::parse(&deep).unwrap_err().message.contains("deeply"));
    }

    #[test]
    fn messages_quote_values_as_json() {
        assert_eq!(quoted("a\"b\n\u{1}"), r#""a\"b\n\u0001""#);
        let v = Json::parse(r#"{"k":[1.50,"x",null]}"#).unwrap();
        assert_eq!(v.to_string(), r#"{"k":[1.50,"x",null]}"#);
    }

    #[test]
    fn agrees_with_serde_json_on_known_edge_cases() {
        for text in [
            "-0",
            "-",
            "1.",
            ".5",
            "1e",
            "1E+2",
            "00",
            "-01",
            "[]",
            "{}",
            "[,]",
            "[1,]",
            "\"\\u12\"",
            "\"\\x\"",
            "nul",
            "true false",
            "\u{feff}1",
            "\"é\"",
            " \t\r\n1",
            "1\u{a0}",
            "[\"a\"\t,\"b\"]",
            "{\"a\"  :  {}}",
            "18446744073709551616",
            "-18446744073709551616",
            "1e400",
            "-1e400",
            "[[1,null,295177966054042e0777]]",
            "1e-400",
            "4.9e-324",
            "1.7976931348623157e308",
            "2.2250738585072014e-308",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
        ] {
            agrees_with_serde_json(text);
        }
    }

    fn json_shaped() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
            "[-+.eE0-9]{1,8}",
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            "\"([^\"\\\\]|\\\\[\"\\\\/bfnrtux]|\\\\u[0-9a-fA-F]{4}){0,6}\"",
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-c]{1,2}", inner), 0..4).prop_map(|kv| {
                    let fields: Vec<String> = kv
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\" : {v}"))
                        .collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_json_shaped_text(text in json_shaped()) {
            agrees_with_serde_json(&text);
        }

        #[test]
        fn agrees_with_serde_json_on_any_text(text in "\\PC{0,40}") {
            agrees_with_serde_json(&text);
        }

        #[test]
        fn agrees_with_serde_json_on_mangled_json(text in json_shaped(), cut in 0usize..64, junk in "[\\[\\]{},:\" 0-9a-z\\\\]{0,3}") {
            let mut at = cut.min(text.len());
            while !text.is_char_boundary(at) { at -= 1; }
            let mangled = format!("{}{}{}", &text[..at], junk, &text[at..]);
            agrees_with_serde_json(&mangled);
        }
    }
}
