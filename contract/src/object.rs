//! One way to read a JSON object, used by the catalog, the cue and the
//! measurement events: fields are asked for by name, each checked where it
//! is asked for (so a field's value cannot end up in another's place), every
//! problem is named by its field's path, and the keys nobody asked for are
//! listed by [`ObjectReader::unknown_keys`] for the caller to judge (the
//! catalog refuses them; the cue ignores them, as a newer cue may carry
//! more).
//!
//! Two modes: the catalog collects every problem (an author fixes a file in
//! one pass); the cue and an event batch stop at the first (a player or the
//! collector only needs to know it is refused, and stops working at once).

use crate::json::{self, Json};

/// What a reader does after a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep reading and report every problem.
    CollectAll,
    /// Read nothing more: later fields are `None` without a problem.
    StopAtFirst,
}

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's path: `title`, `show[2].id`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The fields of one JSON object, read by name.
pub struct ObjectReader<'a> {
    fields: &'a [(String, Json)],
    /// `show[2]` for a nested object, empty at the root.
    path: &'a str,
    mode: Mode,
    asked: Vec<&'static str>,
    problems: Vec<FieldProblem>,
}

impl<'a> ObjectReader<'a> {
    /// A reader of `value`'s fields, named under `path` (empty at the
    /// root); `None` when `value` is not an object (the caller says so in
    /// its own words).
    pub fn new(value: &'a Json, path: &'a str, mode: Mode) -> Option<Self> {
        let fields = value.as_object()?;
        Some(Self {
            fields,
            path,
            mode,
            asked: Vec::new(),
            problems: Vec::new(),
        })
    }

    /// A field's full path: `show[2].id`.
    pub fn path(&self, name: &str) -> String {
        let mut path = String::with_capacity(self.path.len() + 1 + name.len());
        path.push_str(self.path);
        if !self.path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
        path
    }

    /// True once a problem stopped a [`Mode::StopAtFirst`] reader.
    pub fn stopped(&self) -> bool {
        self.mode == Mode::StopAtFirst && !self.problems.is_empty()
    }

    /// Records a problem with field `name` (a name of this object, or a path
    /// below it such as `labels[1]`).
    pub fn problem(&mut self, name: &str, message: String) {
        if self.stopped() {
            return;
        }
        self.problems.push(FieldProblem {
            field: self.path(name),
            message,
        });
    }

    /// Field `name` as written (JSON `null` included), or `None` when it is
    /// absent or the reader has stopped.
    pub fn optional(&mut self, name: &'static str) -> Option<&'a Json> {
        self.asked.push(name);
        if self.stopped() {
            return None;
        }
        json::field(self.fields, name)
    }

    /// Field `name`, or `None`: when absent, after recording `missing` as
    /// its problem if given (`Some("is missing")`).
    pub fn value(&mut self, name: &'static str, missing: Option<&str>) -> Option<&'a Json> {
        let value = self.optional(name);
        if let (None, Some(message)) = (value, missing) {
            self.problem(name, message.to_owned());
        }
        value
    }

    /// `checked`'s value, or `None` after recording its problem as field
    /// `name`'s.
    #[inline]
    pub fn check<T>(&mut self, name: &str, checked: Result<T, String>) -> Option<T> {
        match checked {
            Ok(v) => Some(v),
            Err(message) => {
                self.problem(name, message);
                None
            }
        }
    }

    /// Field `name`, checked by `check` ([`ObjectReader::value`], then
    /// [`ObjectReader::check`]). Inlined, so each caller's check is all
    /// that is generated per use (the player's wasm carries this).
    #[inline]
    pub fn read<T>(
        &mut self,
        name: &'static str,
        missing: Option<&str>,
        check: impl FnOnce(&'a Json) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.value(name, missing)?;
        self.check(name, check(value))
    }

    /// Field `name` as text; anything else is "must be text".
    pub fn text(&mut self, name: &'static str, missing: Option<&str>) -> Option<&'a str> {
        self.read(name, missing, |v| {
            v.as_str().ok_or_else(|| "must be text".into())
        })
    }

    /// The keys of the object that were never asked for, in file order.
    pub fn unknown_keys(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.fields
            .iter()
            .map(|(key, _)| key.as_str())
            .filter(|key| !self.asked.iter().any(|asked| asked == key))
    }

    /// The names asked for so far, in order (for "known fields are ...").
    pub fn asked(&self) -> &[&'static str] {
        &self.asked
    }

    /// Every problem found, in order (at most one when stopping at the
    /// first).
    pub fn into_problems(self) -> Vec<FieldProblem> {
        self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Json {
        Json::parse(text).unwrap_or(Json::Null)
    }

    #[test]
    fn fields_are_read_by_name_and_problems_named_by_path() {
        let v = object(r#"{"a": "x", "b": 3, "c": null, "extra": 1}"#);
        let mut r = ObjectReader::new(&v, "show[2]", Mode::CollectAll).unwrap();
        assert_eq!(r.text("a", Some("is missing")), Some("x"));
        assert_eq!(r.text("b", None), None);
        assert_eq!(r.optional("c"), Some(&Json::Null));
        assert_eq!(r.read("d", Some("is missing; add d"), |_| Ok(())), None);
        assert_eq!(r.read("e", None, |_| Ok(())), None);
        assert_eq!(r.unknown_keys().collect::<Vec<_>>(), ["extra"]);
        assert_eq!(r.asked(), ["a", "b", "c", "d", "e"]);
        let problems = r.into_problems();
        assert_eq!(
            problems,
            [
                FieldProblem {
                    field: "show[2].b".into(),
                    message: "must be text".into()
                },
                FieldProblem {
                    field: "show[2].d".into(),
                    message: "is missing; add d".into()
                },
            ]
        );
    }

    #[test]
    fn stopping_at_the_first_problem_reads_nothing_more() {
        let v = object(r#"{"a": 1, "b": 2}"#);
        let mut r = ObjectReader::new(&v, "", Mode::StopAtFirst).unwrap();
        assert_eq!(r.text("a", None), None);
        assert!(r.stopped());
        let mut checked = false;
        assert_eq!(
            r.read("b", Some("is missing"), |_| {
                checked = true;
                Ok(())
            }),
            None
        );
        assert!(!checked, "no check runs after the first problem");
        assert_eq!(r.text("z", Some("is missing")), None);
        assert_eq!(r.into_problems().len(), 1);
    }

    #[test]
    fn only_objects_are_read() {
        assert!(ObjectReader::new(&object("[1]"), "", Mode::CollectAll).is_none());
        let empty = object("{}");
        assert_eq!(
            ObjectReader::new(&empty, "", Mode::CollectAll).map(|r| r.into_problems()),
            Some(Vec::new())
        );
    }
}
