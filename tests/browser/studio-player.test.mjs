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
});
