// A bare test page around the IVS web player: it records player states,
// errors and TEXT_METADATA_CUE events (with the wall-clock time each arrived)
// for the tests to read through Playwright.
import { create, PlayerEventType, PlayerState, isPlayerSupported } from 'amazon-ivs-player';

window.ivsEvents = [];

window.startPlayer = (playbackUrl) => {
  const asset = (name) => new URL(name, document.baseURI).href;
  const player = create({
    wasmWorker: asset('amazon-ivs-wasmworker.min.js'),
    wasmBinary: asset('amazon-ivs-wasmworker.min.wasm'),
  });
  player.attachHTMLVideoElement(document.getElementById('video'));
  for (const state of Object.values(PlayerState)) {
    player.addEventListener(state, () => window.ivsEvents.push({ type: 'state', state, at: Date.now() }));
  }
  player.addEventListener(PlayerEventType.TEXT_METADATA_CUE, (cue) =>
    window.ivsEvents.push({ type: 'cue', text: cue.text, description: cue.description, at: Date.now() }));
  player.addEventListener(PlayerEventType.ERROR, (error) =>
    window.ivsEvents.push({ type: 'error', error: JSON.stringify(error), at: Date.now() }));
  player.setAutoplay(true);
  player.setMuted(true);
  player.load(playbackUrl);
  window.ivsPlayer = player;
  return isPlayerSupported;
};
