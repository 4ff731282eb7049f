// Benchmark: the time from an operator's Pin on the console to the card on
// a viewer's player, in the studio (demo show, local chain on), in headless
// Chromium. Each round pins tidewater with the console's button, waits for
// its card on the viewer's page, unpins it and waits for the card to go.
// Automatic cards are paused first, so only the pins show cards.
//
//   node tests/browser/bench-console-pin.mjs [pins=10]
//
// Uses $STUDIO_BIN, else target/release/studio when built, else the debug build.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStudio, launchChromium, repo, percentile } from './lib.mjs';

const pins = Number(process.argv[2] ?? 10);
const release = join(repo, 'target', 'release', 'studio');
const bin = process.env.STUDIO_BIN ?? (existsSync(release) ? release : join(repo, 'target', 'debug', 'studio'));
const dist = join(repo, 'player', 'dist');
const catalog = JSON.parse(readFileSync(join(repo, 'studio', 'demo', 'catalog.json'), 'utf8'));
const title = catalog.products.find((p) => p.id === 'tidewater').title;

const studio = await startStudio(['--site', dist], bin, { localChain: true });
const browser = await launchChromium();
const toCard = [];
const toGone = [];
try {
  const viewer = await browser.context.newPage();
  await viewer.goto(`${studio.base}/`);
  const op = await browser.context.newPage();
  await op.goto(`${studio.base}/console/#token=${studio.reportToken}`);
  const row = op.locator('tr[data-product="tidewater"]');
  const card = viewer.locator('.iap-card', { hasText: title });
  await row.waitFor({ timeout: 15000 });
  // Automatic cards paused: every tidewater card is the bench's own pin.
  await op.locator('#pause').click();
  await op.locator('#mode.paused').waitFor({ timeout: 5000 });
  // The stream must be playing before a card can show.
  await viewer.waitForFunction(() => document.querySelector('video')?.currentTime > 1, null, { timeout: 45000 });
  for (let i = 0; i < pins; i++) {
    // Pins land at random points of the segment cycle.
    await viewer.waitForTimeout(300 + Math.random() * 2000);
    let at = Date.now();
    await row.locator('button[data-action="pin"]').click();
    await card.waitFor({ timeout: 30000 });
    toCard.push(Date.now() - at);
    if (process.env.BENCH_VERBOSE) console.error(`pin ${i}: ${toCard.at(-1)} ms`);
    at = Date.now();
    await row.locator('button[data-action="unpin"]:not([disabled])').click();
    await card.waitFor({ state: 'detached', timeout: 30000 });
    toGone.push(Date.now() - at);
  }
} finally {
  await browser.close();
  await studio.stop();
}

const pct = percentile;
const line = (name, xs) =>
  `${name.padEnd(36)} p50 ${String(pct(xs, 50)).padStart(5)} ms   p95 ${String(pct(xs, 95)).padStart(5)} ms   max ${String(Math.max(...xs)).padStart(5)} ms`;
console.log(`studio ${bin}, ${pins} pins`);
console.log(line('Pin clicked -> card on the viewer', toCard));
console.log(line('Unpin clicked -> card gone', toGone));
