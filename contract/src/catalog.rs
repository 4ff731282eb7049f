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
use crate::object::{Mode, ObjectReader};
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
/// The longest display window a product may have (and an operator's pin).
pub const MAX_DISPLAY_SECONDS: u32 = 3600;
const MAX_COOLDOWN_SECONDS: u32 = 86_400;

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

/// One product field as it is read: its name, and what it holds (for the
/// "is missing; add ..." and type messages).
struct Field {
    name: &'static str,
    what: &'static str,
}

const ID: Field = Field {
    name: "id",
    what: "a short stable id such as \"aurora-mug\"",
};
const LABELS: Field = Field {
    name: "labels",
    what: "the detection label(s) that mean this product",
};
const TITLE: Field = Field {
    name: "title",
    what: "the product's title",
};
const DESCRIPTION: Field = Field {
    name: "description",
    what: "a short description",
};
const PRICE: Field = Field {
    name: "price",
    what: "the price as display text, e.g. \"$24.00\"",
};
const IMAGE_URL: Field = Field {
    name: "image_url",
    what: "the product image: an https:// URL or a path relative to the catalog",
};
const LINK_URL: Field = Field {
    name: "link_url",
    what: "the https:// page the QR code opens",
};
const MIN_CONFIDENCE: Field = Field {
    name: "min_confidence",
    what: "the lowest detection confidence, 0 to 100, that shows the product",
};
const DISPLAY_SECONDS: Field = Field {
    name: "display_seconds",
    what: "how long the card shows",
};
const COOLDOWN_SECONDS: Field = Field {
    name: "cooldown_seconds",
    what: "how long after the display window before it may show again",
};
const REFERENCE_IMAGES: Field = Field {
    name: "reference_images",
    what: "reference image paths for the built-in detector",
};
const WORDMARK: Field = Field {
    name: "wordmark",
    what: "the brand name as its logo spells it, e.g. \"aws\", for the built-in detector's text reading",
};

/// A product's fields, each read by name where its [`Product`] field is
/// filled, so two fields cannot trade places unseen. Plain functions over
/// [`ObjectReader`] rather than a generic check per field: the player's
/// wasm carries this reader, and its size is a feature.
struct ProductFields<'r, 'a> {
    r: &'r mut ObjectReader<'a>,
}

impl<'a> ProductFields<'_, 'a> {
    /// The field's value; JSON `null` reads as absent. An absent required
    /// field is its problem ("is missing; add ...").
    fn value(&mut self, field: &Field, required: bool) -> Option<&'a Json> {
        let value = self.r.optional(field.name).filter(|v| !v.is_null());
        if value.is_none() && required {
            self.r
                .problem(field.name, format!("is missing; add {}", field.what));
        }
        value
    }

    /// The checked value, or `T::default()` after recording the problem
    /// (a product with a problem is dropped whole, so the default is never
    /// used).
    fn settle<T: Default>(&mut self, field: &Field, checked: Result<T, String>) -> T {
        checked.unwrap_or_else(|problem| {
            self.r.problem(field.name, problem);
            T::default()
        })
    }

    fn id(&mut self) -> Option<ProductId> {
        let value = self.value(&ID, true)?;
        let checked = match value.as_str() {
            Some(s) => ProductId::parse(s).map_err(|e| format!("{} {e}", quoted(s))),
            None => Err(format!("must be text, got {}", value.kind())),
        };
        checked
            .map_err(|problem| self.r.problem(ID.name, problem))
            .ok()
    }

    fn text(&mut self, field: &Field, max: usize, required: bool) -> String {
        match self.value(field, required) {
            Some(value) => {
                let checked = read_text(field.what, value, max, required);
                self.settle(field, checked)
            }
            None => String::new(),
        }
    }

    fn url(&mut self, field: &Field, local: bool) -> String {
        let Some(value) = self.value(field, true) else {
            return String::new();
        };
        let checked = read_text(field.what, value, MAX_URL, true).and_then(|url| {
            let check = if local {
                check_image_url(&url)
            } else {
                check_https_url(&url)
            };
            match check {
                Ok(()) => Ok(url),
                Err(why) => Err(format!("{why} (got {})", quoted(&url))),
            }
        });
        self.settle(field, checked)
    }

    // `value` (not the f64) in the messages: it quotes the number as
    // written, and core's f64 Display would add ~15 KB to the wasm.
    fn number(&mut self, field: &Field, min: u32, max: u32) -> f64 {
        let Some(value) = self.value(field, true) else {
            return 0.0;
        };
        let checked = match value.as_f64() {
            Some(n) if (f64::from(min)..=f64::from(max)).contains(&n) => Ok(n),
            Some(_) => Err(format!(
                "is {value}; it must be between {min} and {max} ({})",
                field.what
            )),
            None => Err(format!(
                "must be a number ({}), got {}",
                field.what,
                value.kind()
            )),
        };
        self.settle(field, checked)
    }

    fn seconds(&mut self, field: &Field, min: u32, max: u32) -> u32 {
        let Some(value) = self.value(field, true) else {
            return 0;
        };
        let checked = match value.as_u64() {
            Some(n) if (u64::from(min)..=u64::from(max)).contains(&n) => Ok(n as u32),
            _ => Err(format!(
                "must be a whole number of seconds from {min} to {max} ({}), got {value}",
                field.what
            )),
        };
        self.settle(field, checked)
    }

    fn list(&mut self, field: &Field, required: bool) -> Vec<String> {
        match self.value(field, required) {
            Some(value) => {
                let checked = read_list(value, field.what, required);
                self.settle(field, checked)
            }
            None => Vec::new(),
        }
    }
}

/// A text field's value, trimmed and checked; `Err` is the problem.
// Not inlined: two readers call it, and the wasm carries one copy.
#[inline(never)]
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
// Not inlined: two readers call it, and the wasm carries one copy.
#[inline(never)]
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
    let Some(mut r) = ObjectReader::new(item, "", Mode::CollectAll) else {
        problems.push(CatalogProblem {
            product: format!("#{}", index + 1),
            field: "(product)".into(),
            message: format!("must be an object, got {}", item.kind()),
        });
        return None;
    };
    let raw_id = item.get("id").and_then(Json::as_str).unwrap_or("");
    let who = if raw_id.is_empty() {
        format!("#{}", index + 1)
    } else {
        product_name(raw_id, index)
    };
    let mut f = ProductFields { r: &mut r };
    // Each field read by name into its own place, in the order the file
    // format lists them (the order of "known fields are ...").
    let id = f.id();
    let labels = f.list(&LABELS, true);
    let title = f.text(&TITLE, MAX_TITLE, true);
    let description = f.text(&DESCRIPTION, MAX_DESCRIPTION, false);
    let price = f.text(&PRICE, MAX_PRICE, true);
    let image_url = f.url(&IMAGE_URL, true);
    let link_url = f.url(&LINK_URL, false);
    let min_confidence = f.number(&MIN_CONFIDENCE, 0, 100) as f32;
    let display_seconds = f.seconds(&DISPLAY_SECONDS, 1, MAX_DISPLAY_SECONDS);
    let cooldown_seconds = f.seconds(&COOLDOWN_SECONDS, 0, MAX_COOLDOWN_SECONDS);
    let reference_images = f.list(&REFERENCE_IMAGES, false);
    let wordmark = f.text(&WORDMARK, MAX_WORDMARK, false);
    // Unknown fields first, as a misspelt name explains the "missing" one.
    let mut known = String::new();
    for name in r.asked() {
        if !known.is_empty() {
            known.push_str(", ");
        }
        known.push_str(name);
    }
    let before = problems.len();
    for key in r.unknown_keys() {
        problems.push(CatalogProblem {
            product: who.clone(),
            field: key.into(),
            message: format!("unknown field; known fields are {known}"),
        });
    }
    let unknown_free = problems.len() == before;
    let found = r.into_problems();
    let clean = found.is_empty();
    for p in found {
        problems.push(CatalogProblem {
            product: who.clone(),
            field: p.field,
            message: p.message,
        });
    }
    if !clean || !unknown_free {
        return None;
    }
    Some(Product {
        id: id?,
        labels,
        title,
        description,
        price,
        image_url,
        link_url,
        min_confidence,
        display_seconds,
        cooldown_seconds,
        reference_images,
        wordmark,
    })
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
