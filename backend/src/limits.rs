//! The bounds and defaults of every bounded setting, read from
//! `backend/limits.json`: the one table the Lambdas' configuration
//! ([`crate::config`]), the studio's options, the decision core's defaults
//! ([`crate::decision::Rules`]) and the CDK app (`infra/lib/settings.ts`)
//! all read, so a value one refuses the others refuse too, with the same
//! message ([`Limit::refusal`]).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The table as shipped (the CDK app reads the same file).
pub const TABLE: &str = include_str!("../limits.json");

/// One setting's bounds, its default, and where it is given.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Its name in a Lambda's environment (`backend/lambda-env.json`).
    pub env: Option<String>,
    /// The studio's option.
    pub option: Option<String>,
    /// The CDK context key.
    pub context: Option<String>,
    pub min: u64,
    pub max: u64,
    pub default: u64,
    /// The studio's own default, where its demo differs.
    pub studio_default: Option<u64>,
    /// What it bounds, and why these bounds: the end of every refusal.
    pub why: String,
}

impl Limit {
    /// The message for `given`, refused as `name`: the same words from the
    /// Lambdas, the studio and the CDK app.
    pub fn refusal(&self, name: &str, given: &str, default: u64) -> String {
        format!(
            "{name} is {given:?}; it must be a whole number from {} to {} (default {default}): {}",
            self.min, self.max, self.why
        )
    }

    /// `given` as a whole number within the bounds, or the refusal.
    pub fn check(&self, name: &str, given: &str, default: u64) -> Result<u64, String> {
        match given.trim().parse::<u64>() {
            Ok(n) if (self.min..=self.max).contains(&n) => Ok(n),
            _ => Err(self.refusal(name, given, default)),
        }
    }

    /// The studio's default: its own where its demo differs.
    pub fn for_studio(&self) -> u64 {
        self.studio_default.unwrap_or(self.default)
    }
}

/// The parsed table. It is part of the build (`include_str!`), not input:
/// `every_limit_parses_and_holds_its_default` proves it parses.
static LIMITS: LazyLock<BTreeMap<String, Limit>> = LazyLock::new(|| {
    let mut table: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(TABLE).expect("backend/limits.json is valid JSON (tested)");
    table.retain(|key, _| !key.starts_with('$'));
    table
        .into_iter()
        .map(|(key, value)| {
            let limit = serde_json::from_value(value)
                .unwrap_or_else(|e| panic!("backend/limits.json: {key}: {e} (tested)"));
            (key, limit)
        })
        .collect()
});

fn limit(key: &str) -> &'static Limit {
    LIMITS
        .get(key)
        .unwrap_or_else(|| panic!("backend/limits.json has no {key} (tested)"))
}

/// K: cards at once on a channel.
pub fn max_active_products() -> &'static Limit {
    limit("max_active_products")
}

/// R: seconds between the workflow's re-sends.
pub fn republish_seconds() -> &'static Limit {
    limit("republish_seconds")
}

/// Seconds between IVS thumbnails.
pub fn thumbnail_interval_seconds() -> &'static Limit {
    limit("thumbnail_interval_seconds")
}

/// How old a thumbnail event may be and still count.
pub fn max_event_age_seconds() -> &'static Limit {
    limit("max_event_age_seconds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_parses_and_holds_its_default() {
        for key in [
            "max_active_products",
            "republish_seconds",
            "thumbnail_interval_seconds",
            "max_event_age_seconds",
            "channels",
            "retention_days",
            "event_retention_days",
            "edge_rate_limit",
        ] {
            let l = limit(key);
            assert!(l.min <= l.default && l.default <= l.max, "{key}: {l:?}");
            assert!(
                l.min <= l.for_studio() && l.for_studio() <= l.max,
                "{key}: {l:?}"
            );
            assert!(
                l.env.is_some() || l.option.is_some() || l.context.is_some(),
                "{key} is given nowhere"
            );
        }
        assert_eq!(LIMITS.len(), 8, "a new limit gets a line above");
    }

    /// K is bounded by what a cue can carry: the contract's figure.
    #[test]
    fn k_is_the_contracts_cards_at_once() {
        assert_eq!(
            max_active_products().max,
            ad_contract::MAX_CARDS_AT_ONCE as u64
        );
    }

    #[test]
    fn a_refusal_names_the_setting_the_bounds_the_default_and_why() {
        let k = max_active_products();
        assert_eq!(k.check("MAX_ACTIVE_PRODUCTS", "3", 1), Ok(3));
        let refused = k.check("MAX_ACTIVE_PRODUCTS", "9", 1).unwrap_err();
        assert!(
            refused.starts_with(
                "MAX_ACTIVE_PRODUCTS is \"9\"; it must be a whole number from 1 to 8 (default 1): "
            ),
            "{refused}"
        );
        assert!(refused.contains("(K)"), "{refused}");
        for bad in ["0", "-1", "2.5", "many", ""] {
            assert!(k.check("K", bad, 1).is_err(), "{bad:?} taken");
        }
    }

    /// Every environment name in the table is one the Lambdas read, and
    /// the configuration's names are the table's.
    #[test]
    fn environment_names_are_the_lambdas_own() {
        use crate::config::{MAX_ACTIVE_PRODUCTS, MAX_EVENT_AGE_SECONDS, REPUBLISH_SECONDS};
        assert_eq!(
            max_active_products().env.as_deref(),
            Some(MAX_ACTIVE_PRODUCTS)
        );
        assert_eq!(republish_seconds().env.as_deref(), Some(REPUBLISH_SECONDS));
        assert_eq!(
            max_event_age_seconds().env.as_deref(),
            Some(MAX_EVENT_AGE_SECONDS)
        );
        let env: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(include_str!("../lambda-env.json")).unwrap_or_default();
        for (key, l) in LIMITS.iter() {
            if let Some(name) = &l.env {
                assert!(
                    env.contains_key(name),
                    "{key}: {name} is not in lambda-env.json"
                );
            }
        }
    }
}
