//! Bindings to the IVS web player's `MediaPlayer` (npm `amazon-ivs-player`).
//! The page's JS creates it (the SDK is bundled there) and hands it over.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    pub type MediaPlayer;

    #[wasm_bindgen(method)]
    pub fn load(this: &MediaPlayer, url: &str);
    #[wasm_bindgen(method, js_name = attachHTMLVideoElement)]
    pub fn attach_video(this: &MediaPlayer, video: &web_sys::HtmlVideoElement);
    #[wasm_bindgen(method, js_name = setMuted)]
    pub fn set_muted(this: &MediaPlayer, muted: bool);
    #[wasm_bindgen(method, js_name = setAutoplay)]
    pub fn set_autoplay(this: &MediaPlayer, autoplay: bool);
    #[wasm_bindgen(method, js_name = addEventListener)]
    pub fn add_event_listener(this: &MediaPlayer, name: &str, listener: &js_sys::Function);
    #[wasm_bindgen(method)]
    pub fn delete(this: &MediaPlayer);
    #[wasm_bindgen(method, js_name = getPosition)]
    pub fn position(this: &MediaPlayer) -> f64;
}

/// `PlayerEventType` and `PlayerState` values the player listens for.
pub const EVENT_TEXT_METADATA_CUE: &str = "PlayerTextMetadataCue";
pub const EVENT_ERROR: &str = "PlayerError";
pub const STATE_PLAYING: &str = "Playing";
pub const STATE_ENDED: &str = "Ended";

/// What to tell the viewer about a player error, from its `code` and `type`.
pub fn error_message(code: u32, kind: &str) -> String {
    match (code, kind) {
        (429, _) => "Too many viewers right now.".into(),
        (404, _) | (_, "ErrorNotAvailable") => "The stream is offline.".into(),
        (_, "ErrorNetwork") => "The network connection was lost.".into(),
        _ => format!("Playback stopped ({kind} {code})."),
    }
}

/// Seconds before the `attempt`-th retry (0-based): 2, 4, 8, 16, then 30.
pub fn retry_delay_secs(attempt: u32) -> u32 {
    2u32.saturating_pow(attempt + 1).min(30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_plain_words_and_retries_back_off() {
        assert!(error_message(404, "ErrorNotAvailable").contains("offline"));
        assert!(error_message(429, "ErrorNotAvailable").contains("Too many viewers"));
        assert!(error_message(0, "ErrorNetwork").contains("network"));
        assert_eq!(
            (0..6).map(retry_delay_secs).collect::<Vec<_>>(),
            vec![2, 4, 8, 16, 30, 30]
        );
    }
}
