//! The product catalog: one JSON file listing every product any channel may show.
//!
//! ```json
//! {
//!   "products": [
//!     {
//!       "id": "aurora-mug",
//!       "labels": ["aurora-mug", "aurora-logo"],
//!       "title": "Aurora Enamel Mug",
//!       "description": "12 oz, dishwasher safe.",
//!       "price": "$24.00",
//!       "image_url": "https://shop.example.com/img/aurora-mug.jpg",
//!       "link_url": "https://shop.example.com/p/aurora-mug",
//!       "min_confidence": 70,
//!       "display_seconds": 20,
//!       "cooldown_seconds": 60
//!     }
//!   ]
//! }
//! ```
//!
//! JSON rather than TOML because the player reads the same file in the browser
//! and a JSON parser is already in its wasm. Loading checks every field of every
//! product and reports all problems at once, each naming the product and field
//! and saying how to fix it, so an operator fixes a catalog in one pass.
//! Unknown fields are errors: a misspelt `cooldown_secs` must not silently fall
//! back to a default.

use crate::json::{self, quoted, Json};
use crate::product_id::ProductId;
use serde::Serialize;
use std::fmt;

/// Largest catalog file accepted (the player fetches it over the network).
pub const MAX_CATALOG_BYTES: usize = 1024 * 1024;
/// Most products in one catalog.
pub const MAX_PRODUCTS: usize = 1000;
const MAX_TITLE: usize = 80;
const MAX_PRICE: usize = 24;
/// A wordmark is a brand's name as printed, not a sentence.
const MAX_WORDMARK: usize = 32;
const MAX_DESCRIPTION: usize = 280;
const MAX_LABEL: usize = 256;
const MAX_URL: usize = 2048;
const MAX_DISPLAY_SECONDS: u32 = 3600;
const MAX_COOLDOWN_SECONDS: u32 = 86_400;

/// How a product field is checked.
#[derive(Clone, Copy)]
enum Check {
    /// The product id ([`ProductId`]).
    Id,
    /// Text, trimmed, of at most `max` characters; a `required` one may not
    /// be missing or empty, an optional one reads as "".
    Text { max: usize, required: bool },
    /// Text that is an https URL; with `local`, also a path relative to the
    /// catalog or a localhost URL (see [`check_image_url`]).
    Url { local: bool },
    /// A number from `min` to `max`.
    Number { min: u32, max: u32 },
    /// Whole seconds from `min` to `max`.
    Seconds { min: u32, max: u32 },
    /// A list of distinct non-empty texts; an optional one reads as empty.
    List { required: bool },
}

/// One field of a product: its name, what it holds (for messages) and its check.
struct Field {
    name: &'static str,
    what: &'static str,
    check: Check,
}

/// Every product field, in [`Product`]'s order. One table rather than a
/// function per field: the player's wasm carries this reader, and its size
/// is a feature.
const FIELDS: [Field; 12] = [
    Field {
        name: "id",
        what: "a short stable id such as \"aurora-mug\"",
        check: Check::Id,
    },
    Field {
        name: "labels",
        what: "the detection label(s) that mean this product",
        check: Check::List { required: true },
    },
    Field {
        name: "title",
        what: "the product's title",
        check: Check::Text {
            max: MAX_TITLE,
            required: true,
        },
    },
    Field {
        name: "description",
        what: "a short description",
        check: Check::Text {
            max: MAX_DESCRIPTION,
            required: false,
        },
    },
    Field {
        name: "price",
        what: "the price as display text, e.g. \"$24.00\"",
        check: Check::Text {
            max: MAX_PRICE,
            required: true,
        },
    },
    Field {
        name: "image_url",
        what: "the product image: an https:// URL or a path relative to the catalog",
        check: Check::Url { local: true },
    },
    Field {
        name: "link_url",
        what: "the https:// page the QR code opens",
        check: Check::Url { local: false },
    },
    Field {
        name: "min_confidence",
        what: "the lowest detection confidence, 0 to 100, that shows the product",
        check: Check::Number { min: 0, max: 100 },
    },
    Field {
        name: "display_seconds",
        what: "how long the card shows",
        check: Check::Seconds {
            min: 1,
            max: MAX_DISPLAY_SECONDS,
        },
    },
    Field {
        name: "cooldown_seconds",
        what: "how long after the display window before it may show again",
        check: Check::Seconds {
            min: 0,
            max: MAX_COOLDOWN_SECONDS,
        },
    },
    Field {
        name: "reference_images",
        what: "reference image paths for the built-in detector",
        check: Check::List { required: false },
    },
    Field {
        name: "wordmark",
        what: "the brand name as its logo spells it, e.g. \"aws\", for the built-in detector's text reading",
        check: Check::Text {
            max: MAX_WORDMARK,
            required: false,
        },
    },
];

/// One product, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    /// The product's stable id: cues, events and tracking links name it.
    pub id: ProductId,
    /// Detection labels (Rekognition Custom Labels names, or built-in detector
    /// labels) that mean this product. Each label belongs to one product only.
    pub labels: Vec<String>,
    /// The card's title.
    pub title: String,
    /// The card's text under the title.
    pub description: String,
    /// Price as display text ("$24.00", "24,00 €"): currency formatting is the
    /// merchant's business, not ours.
    pub price: String,
    /// `https://` URL, a path relative to the catalog's own URL, or
    /// `http://localhost` / `http://127.0.0.1` for local development.
    pub image_url: String,
    /// `https://` URL the QR code encodes.
    pub link_url: String,
    /// Detections below this confidence (0 to 100) are ignored.
    pub min_confidence: f32,
    /// How long the card shows once triggered (1 to 3600).
    pub display_seconds: u32,
    /// After the display window, how long before it may show again (0 to 86400).
    pub cooldown_seconds: u32,
    /// Reference images for the built-in detector, relative to the catalog
    /// file. Optional: a Rekognition-only deployment needs none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reference_images: Vec<String>,
    /// The brand name as the logo spells it ("aws"), for the built-in
    /// detector's second signal: text read in the frame. Empty when the
    /// logo is not a word. Matching ignores case and style, not letters.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub wordmark: String,
}

/// A validated catalog with a label index.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    products: Vec<Product>,
    by_label: Index,
    by_id: Index,
}

/// Text keys to product positions, sorted for binary search. A sorted Vec
/// rather than a HashMap: lookups are as fast at catalog sizes, and it keeps
/// hashing code out of the player's wasm.
#[derive(Debug, Clone, PartialEq, Default)]
struct Index(Vec<(String, usize)>);

impl Index {
    fn get(&self, key: &str) -> Option<usize> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|at| self.0[at].1)
    }

    /// Adds `key`, or returns the position already indexed under it.
    fn insert(&mut self, key: &str, value: usize) -> Option<usize> {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            Ok(at) => Some(self.0[at].1),
            Err(at) => {
                self.0.insert(at, (key.to_owned(), value));
                None
            }
        }
    }
}

/// One problem found while loading a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogProblem {
    /// `"aurora-mug" (#1)` when the product has a readable id, else `#1`; empty
    /// for problems with the file as a whole.
    pub product: String,
    /// The field, as the catalog spells it (`link_url`, `products`).
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for CatalogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.product.is_empty() {
            write!(f, "field \"{}\": {}", self.field, self.message)
        } else {
            write!(
                f,
                "product {}, field \"{}\": {}",
                self.product, self.field, self.message
            )
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
/// Why a catalog was refused.
pub enum CatalogError {
    #[error("catalog is {0} bytes; the limit is {MAX_CATALOG_BYTES} bytes")]
    /// The file is over the size limit (its size in bytes).
    TooLarge(usize),
    #[error("catalog is not valid JSON (line {line}, column {column}): {message}")]
    /// The file is not JSON.
    Json {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column (in characters) of the problem.
        column: usize,
        /// What the JSON reader found.
        message: String,
    },
    #[error("catalog has {} problem(s):\n{}", .0.len(), list(.0))]
    /// The JSON is read but its products break rules: every problem at once.
    Invalid(Vec<CatalogProblem>),
}

fn list(problems: &[CatalogProblem]) -> String {
    // A loop, not `join`: each `join` instantiation costs the player's wasm
    // 0.5 KB gzipped (measured with twiggy).
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("  - {p}"));
    }
    out
}

impl CatalogError {
    /// The individual problems (empty for a file that is not JSON at all).
    pub fn problems(&self) -> &[CatalogProblem] {
        match self {
            CatalogError::Invalid(p) => p,
            _ => &[],
        }
    }
}

impl Catalog {
    /// Parses and validates a catalog, reporting every problem at once.
    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        if text.len() > MAX_CATALOG_BYTES {
            return Err(CatalogError::TooLarge(text.len()));
        }
        let root = Json::parse(text).map_err(|e| CatalogError::Json {
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let mut problems = Vec::new();
        let Some(root) = root.as_object() else {
            return Err(CatalogError::Invalid(vec![file_problem(
                "(root)",
                "must be an object like {\"products\": [...]}",
            )]));
        };
        for (key, _) in root.iter().filter(|(k, _)| k != "products") {
            problems.push(file_problem(
                key,
                "unknown field; the catalog has only \"products\"",
            ));
        }
        let items = match json::field(root, "products") {
            None => {
                problems.push(file_problem(
                    "products",
                    "is missing; add a list of products",
                ));
                return Err(CatalogError::Invalid(problems));
            }
            Some(Json::Array(items)) => items,
            Some(_) => {
                problems.push(file_problem(
                    "products",
                    "must be a list of product objects",
                ));
                return Err(CatalogError::Invalid(problems));
            }
        };
        if items.is_empty() {
            problems.push(file_problem(
                "products",
                "is empty; add at least one product",
            ));
        }
        if items.len() > MAX_PRODUCTS {
            problems.push(file_problem(
                "products",
                &format!("has {} products; the limit is {MAX_PRODUCTS}", items.len()),
            ));
        }

        let mut products = Vec::new();
        for (index, item) in items.iter().enumerate().take(MAX_PRODUCTS) {
            if let Some(product) = read_product(index, item, &mut problems) {
                products.push(product);
            }
        }

        // Cross-product rules: ids and labels must each mean one product.
        let mut by_id = Index::default();
        let mut by_label = Index::default();
        for (i, product) in products.iter().enumerate() {
            let who = product_name(product.id.as_str(), i);
            if by_id.insert(product.id.as_str(), i).is_some() {
                problems.push(CatalogProblem {
                    product: who.clone(),
                    field: "id".into(),
                    message: "is used by another product; ids must be unique".into(),
                });
            }
            for label in &product.labels {
                if let Some(other) = by_label.insert(label, i) {
                    if other != i {
                        problems.push(CatalogProblem {
                            product: who.clone(),
                            field: "labels".into(),
                            message: format!(
                                "label {} also belongs to product \"{}\"; a label must mean one product",
                                quoted(label),
                                products[other].id
                            ),
                        });
                    }
                }
            }
        }

        if problems.is_empty() {
            Ok(Catalog {
                products,
                by_label,
                by_id,
            })
        } else {
            Err(CatalogError::Invalid(problems))
        }
    }

    /// The products, in catalog order.
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// The product with this id, if the catalog has it.
    pub fn get(&self, id: &ProductId) -> Option<&Product> {
        self.get_str(id.as_str())
    }

    /// Looks a product up by its id as text (what a cue carries).
    pub fn get_str(&self, id: &str) -> Option<&Product> {
        self.by_id.get(id).map(|i| &self.products[i])
    }

    /// The product a detection label means, if any.
    pub fn product_for_label(&self, label: &str) -> Option<&Product> {
        self.by_label.get(label).map(|i| &self.products[i])
    }

    /// The catalog as JSON, in the same format [`Catalog::from_json`] reads.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct File<'a> {
            products: &'a [Product],
        }
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string_pretty(&File {
            products: &self.products,
        })
        .unwrap_or_default()
    }
}

fn file_problem(field: &str, message: &str) -> CatalogProblem {
    CatalogProblem {
        product: String::new(),
        field: field.into(),
        message: message.into(),
    }
}

fn product_name(id: &str, index: usize) -> String {
    format!("\"{id}\" (#{})", index + 1)
}

/// A field's checked value.
enum Value {
    Id(ProductId),
    Text(String),
    Number(f64),
    List(Vec<String>),
}

/// Collects the problems of one product object.
struct ProductReader<'a> {
    obj: &'a [(String, Json)],
    who: String,
    problems: &'a mut Vec<CatalogProblem>,
    ok: bool,
}

impl ProductReader<'_> {
    fn problem(&mut self, field: &str, message: String) {
        self.ok = false;
        self.problems.push(CatalogProblem {
            product: self.who.clone(),
            field: field.into(),
            message,
        });
    }

    /// Reads and checks one field; `None` after recording its problem.
    fn read(&mut self, field: &Field) -> Option<Value> {
        let (name, what) = (field.name, field.what);
        let value = json::field(self.obj, name).filter(|v| !v.is_null());
        let Some(value) = value else {
            return match field.check {
                Check::Text {
                    required: false, ..
                } => Some(Value::Text(String::new())),
                Check::List { required: false } => Some(Value::List(Vec::new())),
                _ => {
                    self.problem(name, format!("is missing; add {what}"));
                    None
                }
            };
        };
        let problem = match field.check {
            Check::Id => match value.as_str().map(|s| (s, ProductId::parse(s))) {
                Some((_, Ok(id))) => return Some(Value::Id(id)),
                Some((s, Err(e))) => format!("{} {e}", quoted(s)),
                None => format!("must be text, got {}", value.kind()),
            },
            Check::Text { max, required } => match read_text(what, value, max, required) {
                Ok(text) => return Some(Value::Text(text)),
                Err(problem) => problem,
            },
            Check::Url { local } => match read_text(what, value, MAX_URL, true) {
                Ok(url) => {
                    let check = if local {
                        check_image_url(&url)
                    } else {
                        check_https_url(&url)
                    };
                    match check {
                        Ok(()) => return Some(Value::Text(url)),
                        Err(why) => format!("{why} (got {})", quoted(&url)),
                    }
                }
                Err(problem) => problem,
            },
            // `value` (not the f64) in the messages: it quotes the number as
            // written, and core's f64 Display would add ~15 KB to the wasm.
            Check::Number { min, max } => match value.as_f64() {
                Some(n) if (f64::from(min)..=f64::from(max)).contains(&n) => {
                    return Some(Value::Number(n))
                }
                Some(_) => format!("is {value}; it must be between {min} and {max} ({what})"),
                None => format!("must be a number ({what}), got {}", value.kind()),
            },
            Check::Seconds { min, max } => match value.as_u64() {
                Some(n) if (u64::from(min)..=u64::from(max)).contains(&n) => {
                    return Some(Value::Number(n as f64))
                }
                _ => format!(
                    "must be a whole number of seconds from {min} to {max} ({what}), got {value}"
                ),
            },
            Check::List { required } => match read_list(value, what, required) {
                Ok(items) => return Some(Value::List(items)),
                Err(problem) => problem,
            },
        };
        self.problem(name, problem);
        None
    }
}

/// A text field's value, trimmed and checked; `Err` is the problem.
fn read_text(what: &str, value: &Json, max: usize, required: bool) -> Result<String, String> {
    let Some(s) = value.as_str() else {
        return Err(format!("must be text ({what}), got {}", value.kind()));
    };
    let trimmed = s.trim();
    if required && trimmed.is_empty() {
        return Err(format!("is empty; add {what}"));
    }
    let len = crate::json::char_count(trimmed);
    if len > max {
        return Err(format!(
            "is {len} characters long; shorten it to at most {max}"
        ));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err("contains control characters; remove them".into());
    }
    Ok(trimmed.to_owned())
}

/// A list field's distinct non-empty texts; `Err` is the problem.
fn read_list(value: &Json, what: &str, required: bool) -> Result<Vec<String>, String> {
    let Some(items) = value.as_array() else {
        return Err(format!(
            "must be a list of text ({what}), got {}",
            value.kind()
        ));
    };
    if required && items.is_empty() {
        return Err(format!("is empty; add {what}"));
    }
    let mut out: Vec<String> = Vec::new();
    for item in items {
        match item.as_str().map(str::trim) {
            Some(s) if !s.is_empty() && crate::json::char_count(s) <= MAX_LABEL => {
                if out.iter().any(|o| o == s) {
                    return Err(format!("lists {} twice; remove the duplicate", quoted(s)));
                }
                out.push(s.to_owned());
            }
            _ => {
                return Err(format!(
                "has an entry {item} that is not non-empty text of at most {MAX_LABEL} characters"
            ))
            }
        }
    }
    Ok(out)
}

fn read_product(index: usize, item: &Json, problems: &mut Vec<CatalogProblem>) -> Option<Product> {
    let Some(obj) = item.as_object() else {
        problems.push(CatalogProblem {
            product: format!("#{}", index + 1),
            field: "(product)".into(),
            message: format!("must be an object, got {}", item.kind()),
        });
        return None;
    };
    let raw_id = json::field(obj, "id").and_then(Json::as_str).unwrap_or("");
    let who = if raw_id.is_empty() {
        format!("#{}", index + 1)
    } else {
        product_name(raw_id, index)
    };
    let mut r = ProductReader {
        obj,
        who,
        problems,
        ok: true,
    };
    for (key, _) in obj {
        if !FIELDS.iter().any(|f| f.name == key) {
            let mut known = String::new();
            for f in FIELDS {
                if !known.is_empty() {
                    known.push_str(", ");
                }
                known.push_str(f.name);
            }
            r.problem(key, format!("unknown field; known fields are {known}"));
        }
    }
    let values = FIELDS.each_ref().map(|field| r.read(field));
    if !r.ok {
        return None;
    }
    // Every field read cleanly, so each value has its field's kind.
    let [id, labels, title, description, price, image_url, link_url, min_confidence, display_seconds, cooldown_seconds, reference_images, wordmark] =
        values;
    let Some(Value::Id(id)) = id else {
        return None;
    };
    Some(Product {
        id,
        labels: take_list(labels),
        title: take_text(title),
        description: take_text(description),
        price: take_text(price),
        image_url: take_text(image_url),
        link_url: take_text(link_url),
        min_confidence: take_number(min_confidence) as f32,
        display_seconds: take_number(display_seconds) as u32,
        cooldown_seconds: take_number(cooldown_seconds) as u32,
        reference_images: take_list(reference_images),
        wordmark: take_text(wordmark),
    })
}

fn take_text(value: Option<Value>) -> String {
    match value {
        Some(Value::Text(s)) => s,
        _ => String::new(),
    }
}

fn take_number(value: Option<Value>) -> f64 {
    match value {
        Some(Value::Number(n)) => n,
        _ => 0.0,
    }
}

fn take_list(value: Option<Value>) -> Vec<String> {
    match value {
        Some(Value::List(items)) => items,
        _ => Vec::new(),
    }
}

/// An absolute https URL with a host and no whitespace. Checked by hand rather
/// than with the `url` crate to keep the player's wasm small.
pub fn check_https_url(url: &str) -> Result<(), &'static str> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err("must be an https:// URL; plain http and other schemes are refused");
    };
    check_host_and_chars(rest)
}

fn check_host_and_chars(rest: &str) -> Result<(), &'static str> {
    if url_has_bad_chars(rest) {
        return Err("contains spaces, quotes or control characters; percent-encode them");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return Err("has no host (or has credentials in it); write https://host/path");
    }
    Ok(())
}

fn url_has_bad_chars(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\' | '`'))
}

/// Image URLs may also be relative to the catalog, or local for development.
pub fn check_image_url(url: &str) -> Result<(), &'static str> {
    if url.starts_with("https://") {
        return check_https_url(url);
    }
    for local in ["http://localhost", "http://127.0.0.1"] {
        if let Some(rest) = url.strip_prefix(local) {
            if rest.is_empty() || rest.starts_with([':', '/']) {
                return check_host_and_chars(url.get("http://".len()..).unwrap_or(""));
            }
        }
    }
    // Relative: no scheme, not protocol-relative.
    let scheme_like = url
        .split_once(':')
        .is_some_and(|(before, _)| !before.contains('/'));
    if scheme_like || url.starts_with("//") {
        return Err("must be https://, http://localhost, or a path relative to the catalog");
    }
    if url_has_bad_chars(url) {
        return Err("contains spaces, quotes or control characters; percent-encode them");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product_json(id: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id,
            "labels": [format!("{id}-logo")],
            "title": "Aurora Enamel Mug",
            "description": "12 oz.",
            "price": "$24.00",
            "image_url": "img/mug.png",
            "link_url": "https://shop.example.com/p/mug",
            "min_confidence": 70,
            "display_seconds": 20,
            "cooldown_seconds": 60
        })
    }

    fn catalog_of(products: Vec<serde_json::Value>) -> String {
        serde_json::json!({ "products": products }).to_string()
    }

    #[test]
    fn loads_a_valid_catalog_and_indexes_labels() {
        let catalog =
            Catalog::from_json(&catalog_of(vec![product_json("mug"), product_json("cap")]))
                .unwrap();
        assert_eq!(catalog.products().len(), 2);
        assert_eq!(
            catalog.product_for_label("cap-logo").unwrap().id.as_str(),
            "cap"
        );
        assert!(catalog.product_for_label("nothing").is_none());
        assert_eq!(catalog.get_str("mug").unwrap().display_seconds, 20);
    }

    #[test]
    fn round_trips_through_to_json() {
        let catalog = Catalog::from_json(&catalog_of(vec![product_json("mug")])).unwrap();
        assert_eq!(Catalog::from_json(&catalog.to_json()).unwrap(), catalog);
    }

    #[test]
    fn reports_every_problem_at_once_naming_product_and_field() {
        let mut bad = product_json("mug");
        bad["link_url"] = "http://shop.example.com".into();
        bad["min_confidence"] = 170.into();
        bad["title"] = "".into();
        bad["cooldown_secs"] = 5.into();
        let mut bad2 = product_json("Cap");
        bad2.as_object_mut().unwrap().remove("price");
        let err = Catalog::from_json(&catalog_of(vec![bad, bad2])).unwrap_err();
        let problems = err.problems();
        let fields: Vec<_> = problems
            .iter()
            .map(|p| (p.product.as_str(), p.field.as_str()))
            .collect();
        assert!(fields.contains(&("\"mug\" (#1)", "link_url")), "{err}");
        assert!(
            fields.contains(&("\"mug\" (#1)", "min_confidence")),
            "{err}"
        );
        assert!(fields.contains(&("\"mug\" (#1)", "title")), "{err}");
        assert!(fields.contains(&("\"mug\" (#1)", "cooldown_secs")), "{err}");
        assert!(fields.contains(&("\"Cap\" (#2)", "id")), "{err}");
        assert!(fields.contains(&("\"Cap\" (#2)", "price")), "{err}");
        assert_eq!(problems.len(), 6, "{err}");
        let text = err.to_string();
        assert!(text.contains("must be an https:// URL"), "{text}");
    }

    #[test]
    fn reads_an_optional_wordmark_and_bounds_it() {
        let mut with = product_json("mug");
        with["wordmark"] = " aws ".into();
        let catalog = Catalog::from_json(&catalog_of(vec![with, product_json("cap")])).unwrap();
        assert_eq!(catalog.products()[0].wordmark, "aws");
        assert_eq!(catalog.products()[1].wordmark, "");
        assert_eq!(Catalog::from_json(&catalog.to_json()).unwrap(), catalog);
        let mut long = product_json("mug");
        long["wordmark"] = "x".repeat(40).into();
        let mut number = product_json("cap");
        number["wordmark"] = 7.into();
        let Err(CatalogError::Invalid(problems)) =
            Catalog::from_json(&catalog_of(vec![long, number]))
        else {
            panic!("a 40-character wordmark and a number must be refused");
        };
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("\"wordmark\"") && t.contains("at most 32")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("\"wordmark\"") && t.contains("must be text")),
            "{text:?}"
        );
    }

    #[test]
    fn refuses_shared_ids_and_labels() {
        let a = product_json("mug");
        let mut b = product_json("mug");
        b["labels"] = serde_json::json!(["other"]);
        let mut c = product_json("cap");
        c["labels"] = serde_json::json!(["mug-logo"]);
        let err = Catalog::from_json(&catalog_of(vec![a, b, c])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ids must be unique"), "{text}");
        assert!(text.contains("also belongs to product \"mug\""), "{text}");
    }

    #[test]
    fn rejects_non_json_and_wrong_shapes_with_location() {
        match Catalog::from_json("{\n \"products\": [,]\n}") {
            Err(CatalogError::Json { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
        assert!(Catalog::from_json("[]").is_err());
        assert!(Catalog::from_json("{\"products\": []}").is_err());
        assert!(Catalog::from_json("{\"products\": [1]}")
            .unwrap_err()
            .to_string()
            .contains("must be an object"));
    }

    #[test]
    fn urls() {
        assert!(check_https_url("https://a.example/x?y=1").is_ok());
        for bad in [
            "http://a.example",
            "javascript:alert(1)",
            "https://",
            "https://a b",
            "https://user@evil",
        ] {
            assert!(check_https_url(bad).is_err(), "{bad}");
        }
        for ok in [
            "img/a.png",
            "/img/a.png",
            "https://cdn.example/a.png",
            "http://127.0.0.1:8080/a.png",
            "http://localhost/a.png",
        ] {
            assert!(check_image_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,xx",
            "//evil/a.png",
            "http://example.com/a.png",
            "http://localhost.evil.com/a.png",
        ] {
            assert!(check_image_url(bad).is_err(), "{bad}");
        }
    }
}
