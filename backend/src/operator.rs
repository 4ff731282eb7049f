//! What an operator does by hand, over the same adapters and rules as the
//! Lambdas: show a product now, clear a channel, read a channel's state.

use crate::decision::{self, ChannelState};
use crate::handlers::{
    cue_as_sent, publish_cue, save_with_retry, start_workflow, HandlerError, Pipeline,
};
use crate::thumbnail_key::channel_id_of;
use ad_contract::{Cue, ProductId};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("product {0:?} is not in the catalog; `adctl products` lists the ids")]
    UnknownProduct(String),
    #[error("{0:?} is not an IVS channel ARN (arn:aws:ivs:<region>:<account>:channel/<id>)")]
    BadChannel(String),
    #[error(transparent)]
    Handler(#[from] HandlerError),
    #[error("PutMetadata")]
    Publish(#[from] crate::ports::PublishError),
    #[error("reading the sightings")]
    Sightings(#[source] crate::ports::ServiceError),
    #[error("no thumbnail {0} (expired after a day, or not served here)")]
    NoThumbnail(String),
}

fn check_channel(arn: &str) -> Result<(), OperatorError> {
    if arn.starts_with("arn:") && arn.contains(":ivs:") && arn.contains(":channel/") {
        Ok(())
    } else {
        Err(OperatorError::BadChannel(arn.into()))
    }
}

/// Shows `product` on the channel now, ignoring its cooldown; returns the cue
/// published.
pub async fn show_now(p: &Pipeline, channel: &str, product: &str) -> Result<Cue, OperatorError> {
    pin(p, channel, product, None).await
}

fn catalog_product(p: &Pipeline, product: &str) -> Result<ProductId, OperatorError> {
    ProductId::parse(product)
        .ok()
        .filter(|id| p.catalog().get(id).is_some())
        .ok_or_else(|| OperatorError::UnknownProduct(product.into()))
}

/// Shows `product` on the channel now, ignoring its cooldown, for `seconds`
/// or else its display time ([`decision::pin`]); returns the cue published.
pub async fn pin(
    p: &Pipeline,
    channel: &str,
    product: &str,
    seconds: Option<u32>,
) -> Result<Cue, OperatorError> {
    check_channel(channel)?;
    let id = catalog_product(p, product)?;
    let channel_id = channel_id_of(channel).to_owned();
    let (decision, _) = save_with_retry(p, channel, |state, now| {
        decision::pin(
            state,
            &p.catalog(),
            &id,
            seconds,
            now,
            &p.rules,
            &channel_id,
        )
    })
    .await?;
    let cue = decision
        .cue
        .ok_or_else(|| OperatorError::UnknownProduct(product.into()))?;
    let cue = publish_cue(p, channel, &cue).await?;
    if let Some(execution) = &decision.start_workflow {
        start_workflow(p, channel, execution).await;
    }
    Ok(cue)
}

/// Takes `product`'s card off the channel now (its cooldown starts now) and
/// publishes the cue of the cards that remain; `None` when it was not
/// showing (nothing is published).
pub async fn unpin(
    p: &Pipeline,
    channel: &str,
    product: &str,
) -> Result<Option<Cue>, OperatorError> {
    check_channel(channel)?;
    let id = catalog_product(p, product)?;
    let (decision, _) = save_with_retry(p, channel, |state, now| {
        decision::unpin(state, &p.catalog(), &id, now)
    })
    .await?;
    match decision.cue {
        Some(cue) => Ok(Some(publish_cue(p, channel, &cue).await?)),
        None => Ok(None),
    }
}

/// Marks `product` sold out on the channel (`sold_out`), or back in stock
/// ([`decision::set_sold_out`]); publishes the cue when its card is up
/// (returned), so viewers see the change at once.
pub async fn sold_out(
    p: &Pipeline,
    channel: &str,
    product: &str,
    sold_out: bool,
) -> Result<Option<Cue>, OperatorError> {
    check_channel(channel)?;
    let id = catalog_product(p, product)?;
    let (decision, _) = save_with_retry(p, channel, |state, now| {
        decision::set_sold_out(state, &id, sold_out, now)
    })
    .await?;
    match decision.cue {
        Some(cue) => Ok(Some(publish_cue(p, channel, &cue).await?)),
        None => Ok(None),
    }
}

/// Takes every card off the channel now (cooldowns start now) and publishes
/// the clear cue.
pub async fn clear(p: &Pipeline, channel: &str) -> Result<Cue, OperatorError> {
    check_channel(channel)?;
    let (decision, _) = save_with_retry(p, channel, |state, now| {
        decision::clear_all(state, &p.catalog(), now)
    })
    .await?;
    let cue = decision.cue.unwrap_or_default();
    Ok(publish_cue(p, channel, &cue).await?)
}

/// Pauses automatic showing on the channel for `seconds` (at most
/// [`decision::MAX_PAUSE_SECONDS`]), or resumes it (`seconds` = 0). Cards
/// already up stay until their end; the operator's `show` still works.
/// Returns when the pause ends (0: not paused), by the server's clock.
pub async fn pause(p: &Pipeline, channel: &str, seconds: u64) -> Result<u64, OperatorError> {
    check_channel(channel)?;
    let (_, state) = save_with_retry(p, channel, |state, now| {
        decision::set_pause(state, seconds, now)
    })
    .await?;
    Ok(state.paused_until)
}

/// The channel's state as JSON, with the cue a viewer would get now.
pub async fn state(p: &Pipeline, channel: &str) -> Result<Value, OperatorError> {
    check_channel(channel)?;
    let state: ChannelState = p.store.load(channel).await.map_err(HandlerError::from)?;
    let now = p.clock.now();
    let products: serde_json::Map<String, Value> = state
        .products
        .iter()
        .map(|(id, s)| {
            (
                id.to_string(),
                json!({
                    "shown_at": s.shown_at,
                    "show": s.show.0,
                    "visible_until": s.visible_until,
                    "cooldown_until": s.cooldown_until,
                    "confidence": s.confidence,
                    "showing": s.visible_until > now,
                    "cooling_down": s.visible_until <= now && s.cooldown_until > now,
                }),
            )
        })
        .collect();
    Ok(json!({
        "channel": channel,
        "now": now,
        "version": state.version,
        "workflow": state.workflow,
        "workflow_running": state.lease_held(now),
        "lease_until": state.lease_until,
        "paused": state.paused(now).is_some(),
        "paused_until": state.paused_until,
        "sold_out": state.sold_out.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
        "products": products,
        // What a viewer joining now would be sent.
        "cue_now": cue_as_sent(p, channel, &state.cue_at(now))
            .ok()
            .and_then(|cue| cue.encode().ok())
            .unwrap_or_default(),
    }))
}
