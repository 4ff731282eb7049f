// The local chain's delays, from the studio's own log: for every product the
// chain shows, where its cue lands on the show's timeline after the product
// entered (timed metadata puts cue and picture on one timeline, so player
// buffering does not count), and the wall-clock time from the thumbnail being
// written to the cue being accepted.
//
//   cargo build --release -p studio && node tests/browser/bench-chain.mjs [LOOPS] [INTERVAL]
//
// LOOPS of the 90 s demo show (default 2), thumbnails every INTERVAL s
// (default 5, IVS's default).
import { join } from 'node:path';
import { startStudio, repo } from './lib.mjs';

const loops = Number(process.argv[2] ?? 2);
const interval = Number(process.argv[3] ?? 5);
// studio/src/demo.rs: when each logo enters (seconds into the 90 s loop).
const SCHEDULE = [['kestrel', 3], ['lumen', 28], ['tidewater', 53], ['kestrel', 60]];
const LOOP = 90;

const bin = process.env.STUDIO_BIN ?? join(repo, 'target', 'release', 'studio');
const studio = await startStudio(['--thumbnail-interval', String(interval)], bin, { localChain: true });
console.log(`demo show, thumbnails every ${interval} s, ${loops} loop(s) of ${LOOP} s...`);
await new Promise((r) => setTimeout(r, (loops * LOOP + 3) * 1000));
await studio.stop();

// Log lines start with their wall-clock time; a shown line also carries its
// show time, which ties the two clocks together.
const wall = (line) => Date.parse(line.slice(0, line.indexOf(' ')));
const shownLines = studio.stderr.filter((l) => l.includes('products shown') && l.includes('cue_at_show_secs'));
const first = shownLines[0];
const showStart = first ? wall(first) / 1000 - Number(/cue_at_show_secs=([0-9.]+)/.exec(first)[1]) : 0;
// A product sighted while cooling down (the decision core's rule, not a
// delay) shows late on purpose: those shows are left out of the delays.
const cooling = studio.stderr
  .map((l) => [/label=([a-z0-9-]+) .*outcome="cooling_down"/.exec(l)?.[1], wall(l) / 1000 - showStart])
  .filter(([id]) => id);
const delays = [];
const chain = [];
for (const line of shownLines) {
  const at = Number(/cue_at_show_secs=([0-9.]+)/.exec(line)?.[1]);
  const ms = Number(/thumbnail_to_cue_ms=([0-9.]+)/.exec(line)?.[1]);
  if (Number.isFinite(ms)) chain.push(ms);
  const t = at % LOOP;
  for (const id of [...line.matchAll(/LocalStudio1 ([a-z0-9-]+)/g)].map((m) => m[1])) {
    // The latest entry of this product at or before the cue.
    const entry = SCHEDULE.filter(([p, e]) => p === id && e <= t).map(([, e]) => e).pop();
    if (entry === undefined) continue;
    const entered = at - (t - entry);
    if (cooling.some(([c, when]) => c === id && when >= entered && when <= at)) {
      console.log(`${id}: held by its cooldown, shown ${(t - entry).toFixed(1)} s after it entered (left out)`);
      continue;
    }
    delays.push({ id, delay: t - entry });
  }
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round((s.length - 1) * p))];
};
const d = delays.map((x) => x.delay);
console.log(`products shown: ${delays.length} (${delays.map((x) => `${x.id} ${x.delay.toFixed(2)} s`).join(', ')})`);
if (d.length) console.log(`product's first frame → its cue, on the video timeline: p50 ${pct(d, 0.5).toFixed(2)} s, max ${Math.max(...d).toFixed(2)} s (target ≤ interval + 1 = ${interval + 1} s)`);
if (chain.length) console.log(`thumbnail written → cue accepted: p50 ${pct(chain, 0.5).toFixed(0)} ms, max ${Math.max(...chain).toFixed(0)} ms (target ≤ 500 ms)`);
