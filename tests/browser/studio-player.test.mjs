// The studio's stream in the real IVS web player, in real headless Chromium:
// it plays, and a cue sent with PutMetadata arrives as TEXT_METADATA_CUE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startStudio, serveDir, launchChromium, putMetadata, waitForCueListed, openPlayer, waitForCueEvent, repo,
} from './lib.mjs';

let studio, site, browser;

before(async () => {
  studio = await startStudio();
  site = await serveDir(join(repo, 'tests', 'browser', 'dist'));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await studio?.stop();
});

test('the IVS player plays the studio stream and receives a PutMetadata cue within 10 s', async () => {
  // The page is on another origin than the stream: CORS is exercised.
  assert.notEqual(new URL(site.url).origin, studio.base);
  const page = await openPlayer(browser.context, site.url, studio.playback);

  const cue = JSON.stringify({ v: 1, show: [{ id: 'kestrel', left: 20 }], n: Date.now() % 100000 });
  const putAt = Date.now();
  assert.equal(await putMetadata(studio.base, cue), 204);
  const listed = waitForCueListed(studio.playback, cue);
  const event = await waitForCueEvent(page, cue, 10000);
  const listedAt = await listed;
  assert.equal(event.text, cue);
  assert.ok(event.at - putAt <= 10000, `cue took ${event.at - putAt} ms`);
  console.log(`put -> listed ${listedAt - putAt} ms; listed -> TEXT_METADATA_CUE ${event.at - listedAt} ms`);

  // The next cue (here: nothing to show) arrives as well.
  const clear = JSON.stringify({ v: 1, show: [], n: Date.now() % 100000 });
  assert.equal(await putMetadata(studio.base, clear), 204);
  assert.equal((await waitForCueEvent(page, clear, 10000)).text, clear);
  const errors = await page.evaluate(() => window.ivsEvents.filter((e) => e.type === 'error'));
  assert.deepEqual(errors, []);
  // Only our cues surface: the PRIV marker opening every segment does not.
  const texts = await page.evaluate(() => window.ivsEvents.filter((e) => e.type === 'cue').map((e) => e.text));
  assert.deepEqual([...new Set(texts)].sort(), [cue, clear].sort());
});

test('a viewer joining after the first segments left the playlist plays on, segment after segment', async () => {
  // Wait until segment 0 has slid out of the window.
  while (!(await (await fetch(studio.playback)).text()).includes('#EXT-X-MEDIA-SEQUENCE:') ||
         (await (await fetch(studio.playback)).text()).includes('#EXT-X-MEDIA-SEQUENCE:0\n')) {
    await new Promise((r) => setTimeout(r, 500));
  }
  const page = await openPlayer(browser.context, site.url, studio.playback);
  const t0 = await page.evaluate(() => document.querySelector('video').currentTime);
  await page.waitForTimeout(5000);
  const t1 = await page.evaluate(() => document.querySelector('video').currentTime);
  // Over 5 s the picture advances across at least two segment boundaries.
  assert.ok(t1 - t0 > 3.5, `video advanced ${t1 - t0} s in 5 s`);
});
