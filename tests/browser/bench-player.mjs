// Benchmark of our player in headless Chromium, on the studio's demo page
// with the stream playing:
//   * cue -> card: from applying a cue (what a TEXT_METADATA_CUE does) to
//     (a) the card being in the DOM (our work: decode, overlay, QR, render),
//     and (b) the start of the first frame (requestAnimationFrame) that has
//     the card, i.e. the frame that paints it. Cues arrive at a random point
//     of the frame cycle, so (b) includes waiting for the next vsync (up to
//     16.7 ms at 60 Hz); the count of cards painted in the very next frame
//     is what "within one frame" means.
//   * QR generation: qrSvg(link) for product links, per call.
//
//   node tests/browser/bench-player.mjs [cards=100]
//
// Needs player/dist (player/build.sh). Uses $STUDIO_BIN, else the release
// studio when built, else the debug build.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startStudio, launchChromium, waitLive, repo, percentile } from './lib.mjs';

const cards = Number(process.argv[2] ?? 100);
const dist = join(repo, 'player', 'dist');
if (!existsSync(join(dist, 'player.js'))) throw new Error('build the player first: player/build.sh');
const release = join(repo, 'target', 'release', 'studio');
const bin = process.env.STUDIO_BIN ?? (existsSync(release) ? release : join(repo, 'target', 'debug', 'studio'));

const studio = await startStudio(['--site', dist], bin);
const browser = await launchChromium();
let results;
try {
  await waitLive(studio.playback);
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1100, height: 800 });
  await page.goto(`${studio.base}/`);
  await page.waitForFunction(() => document.querySelector('.iap-root video')?.currentTime > 0.5, null, { timeout: 45000 });
  results = await page.evaluate(async (n) => {
    const el = document.querySelector('ivs-ad-player');
    const handle = el.handle;
    const catalog = await (await fetch('/demo/catalog.json')).json();
    const ids = catalog.products.map((p) => p.id);
    const box = el.querySelector('.iap-cards');
    const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
    const shownAtFrame = () => new Promise((r) =>
      requestAnimationFrame(() => r({ at: performance.now(), shown: !!box.querySelector('.iap-card') })));
    const toDom = [];
    const toFrame = [];
    let nextFrame = 0;
    for (let i = 0; i < n; i++) {
      handle.cue('{"v":1,"show":[]}');
      await frame();
      await frame();
      const id = ids[i % ids.length];
      const inDom = new Promise((resolve) => {
        const seen = new MutationObserver(() => {
          if (box.querySelector('.iap-card')) {
            seen.disconnect();
            resolve(performance.now());
          }
        });
        seen.observe(box, { childList: true, subtree: true });
      });
      await new Promise((r) => setTimeout(r, Math.random() * 16));
      const t0 = performance.now();
      const next = shownAtFrame();
      handle.cue(JSON.stringify({ v: 1, show: [{ id, left: 30 }] }));
      const t1 = await inDom;
      let f = await next;
      if (f.shown) nextFrame++;
      while (!f.shown) f = await shownAtFrame();
      toDom.push(t1 - t0);
      toFrame.push(f.at - t0);
    }
    handle.cue('{"v":1,"show":[]}');

    // QR: batches of calls, since performance.now() is coarsened to 0.1 ms.
    const { qrSvg } = await import('/player.js');
    const links = catalog.products.map((p) => p.link_url);
    const long = 'https://shop.example/products/kestrel-trail-runner-2026?utm_source=ivs&utm_medium=live&utm_campaign=spring-launch';
    links.push(long);
    const perCall = [];
    for (let b = 0; b < 30; b++) {
      const t0 = performance.now();
      for (let i = 0; i < 50; i++) qrSvg(links[i % links.length]);
      perCall.push((performance.now() - t0) / 50);
    }
    return { toDom, toFrame, nextFrame, perCall, linkLengths: links.map((l) => l.length) };
  }, cards);
} finally {
  await browser.close();
  await studio.stop();
}

const pct = percentile;
const ms = (x) => x.toFixed(2).padStart(6);
const line = (name, xs) =>
  `${name.padEnd(38)} p50 ${ms(pct(xs, 50))} ms   p95 ${ms(pct(xs, 95))} ms   max ${ms(Math.max(...xs))} ms`;
console.log(`headless Chromium, demo page playing the studio's stream; ${cards} cards`);
console.log(line('cue -> card in the DOM', results.toDom));
console.log(line('cue -> frame that paints it (rAF)', results.toFrame));
console.log(`${''.padEnd(38)} painted in the very next frame: ${results.nextFrame}/${cards}`);
console.log(line(`qrSvg per call (links of ${Math.min(...results.linkLengths)}-${Math.max(...results.linkLengths)} chars)`, results.perCall));
const p95Dom = pct(results.toDom, 95);
const p95Qr = pct(results.perCall, 95);
console.log(`target: cue -> card within one frame (16 ms): ${p95Dom <= 16 ? 'met' : 'MISSED'} (p95 in DOM ${ms(p95Dom)} ms)`);
console.log(`target: QR generation <= 1 ms: ${p95Qr <= 1 ? 'met' : 'MISSED'} (p95 ${ms(p95Qr)} ms)`);
