// Benchmark: how long a cue takes from PutMetadata to (1) the playlist
// listing the segment that carries it and (2) TEXT_METADATA_CUE in the IVS web
// player in headless Chromium. Cues are sent at random points of the segment
// cycle, so the figures cover where in a segment a cue lands.
//
//   node tests/browser/bench-cue-latency.mjs [cues=20]
//
// Uses $STUDIO_BIN, else target/release/studio when built, else the debug build.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  startStudio, serveDir, launchChromium, putMetadata, waitForCueListed, openPlayer, waitForCueEvent, repo, percentile,
} from './lib.mjs';

const cues = Number(process.argv[2] ?? 20);
const release = join(repo, 'target', 'release', 'studio');
const bin = process.env.STUDIO_BIN ?? (existsSync(release) ? release : join(repo, 'target', 'debug', 'studio'));
const SEGMENT_MS = 2000;

const studio = await startStudio([], bin);
const site = await serveDir(join(repo, 'tests', 'browser', 'dist'));
const browser = await launchChromium();
const toListed = [];
const toEvent = [];
try {
  const page = await openPlayer(browser.context, site.url, studio.playback);
  for (let i = 0; i < cues; i++) {
    await new Promise((r) => setTimeout(r, 300 + Math.random() * SEGMENT_MS));
    const cue = JSON.stringify({ v: 1, show: [{ id: 'kestrel', left: 20 }], bench: i, r: Math.random().toString(36).slice(2, 8) });
    const putAt = Date.now();
    const status = await putMetadata(studio.base, cue);
    if (status !== 204) throw new Error(`PutMetadata answered ${status}`);
    const [listedAt, event] = await Promise.all([waitForCueListed(studio.playback, cue), waitForCueEvent(page, cue, 15000)]);
    toListed.push(listedAt - putAt);
    toEvent.push(event.at - listedAt);
  }
} finally {
  await browser.close();
  await site.close();
  await studio.stop();
}

const pct = percentile;
const line = (name, xs) =>
  `${name.padEnd(34)} p50 ${String(pct(xs, 50)).padStart(5)} ms   p95 ${String(pct(xs, 95)).padStart(5)} ms   max ${String(Math.max(...xs)).padStart(5)} ms`;
console.log(`studio ${bin}, ${cues} cues, ${SEGMENT_MS / 1000} s segments`);
console.log(line('PutMetadata -> listed in playlist', toListed));
console.log(line('listed -> TEXT_METADATA_CUE', toEvent));
const total = toListed.map((x, i) => x + toEvent[i]);
console.log(line('PutMetadata -> TEXT_METADATA_CUE', total));
const target = SEGMENT_MS + 500;
console.log(`target: listed within one segment + 0.5 s (${target} ms): ${Math.max(...toListed) <= target ? 'met' : 'MISSED'} (max ${Math.max(...toListed)} ms)`);
