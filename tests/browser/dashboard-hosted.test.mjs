// The dashboard as the stack hosts it: the page and its config.json on one
// origin (CloudFront in AWS, here a static server with the stack's CSP), the
// report function on another (its IAM-authorised function URL, here a
// stand-in that answers CORS preflights and checks each request's SigV4
// signature with the reader's secret, as Lambda does). Real Chromium: the
// reader pastes credentials, the page signs, the counters show; a wrong
// secret is refused with the fix; nothing is stored in the browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium, repo } from './lib.mjs';
import { signGet } from '../../dashboard/sigv4.js';

const READER = { accessKeyId: 'ASIAREADER0000000001', secretAccessKey: 'reader/secret+key0123456789abcdefghijklm', sessionToken: 'IQoJb3JpZ2luX2VjEJr//session+token==' };
const REGION = 'eu-west-1';
const SHOWS = [
  { channel: 'chanA', product: 'kestrel', show: 1796300000123, impressions: 40, viewable: 30, view_rate: 0.75, opens: 3, scans: 5, click_through_rate: 0.2 },
  { channel: 'chanA', product: 'lumen', show: 1796300000456, impressions: 10, viewable: 4, view_rate: 0.4, opens: 0, scans: 1, click_through_rate: 0.1 },
];
const HOURS = [
  { hour: '2026-12-04T05', channel: 'chanA', product: 'kestrel', measure: 'impression', count: 40 },
  { hour: '2026-12-04T05', channel: 'chanA', product: 'kestrel', measure: 'scan', count: 5 },
];

let site, api, siteUrl, apiUrl;
const seen = [];

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));

/** Lambda's check of an AWS_IAM function URL request, for the one reader it knows. */
async function verified(req) {
  const given = req.headers.authorization ?? '';
  const amzDate = req.headers['x-amz-date'] ?? '';
  const when = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(amzDate);
  if (!when) return false;
  const at = new Date(Date.UTC(+when[1], when[2] - 1, +when[3], +when[4], +when[5], +when[6]));
  if (Math.abs(Date.now() - at) > 5 * 60 * 1000) return false;
  const token = req.headers['x-amz-security-token'];
  if (token !== READER.sessionToken) return false;
  const expected = await signGet(`http://${req.headers.host}${req.url}`, READER, REGION, 'lambda', at);
  return given === expected.authorization;
}

before(async () => {
  const files = {
    '/dashboard/index.html': ['text/html; charset=utf-8', readFileSync(join(repo, 'dashboard/index.html'))],
    '/dashboard/dashboard.js': ['text/javascript; charset=utf-8', readFileSync(join(repo, 'dashboard/dashboard.js'))],
    '/dashboard/sigv4.js': ['text/javascript; charset=utf-8', readFileSync(join(repo, 'dashboard/sigv4.js'))],
    '/dashboard/dashboard.css': ['text/css; charset=utf-8', readFileSync(join(repo, 'dashboard/dashboard.css'))],
  };
  api = createServer(async (req, res) => {
    const cors = { 'access-control-allow-origin': siteUrl, vary: 'origin' };
    if (req.method === 'OPTIONS') {
      // The function URL's CORS configuration, as the stack sets it.
      res.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'GET',
        'access-control-allow-headers': 'authorization,x-amz-date,x-amz-security-token,x-amz-content-sha256',
        'access-control-max-age': '3600',
      });
      return res.end();
    }
    const ok = await verified(req);
    seen.push({ url: req.url, ok, headers: { ...req.headers } });
    if (!ok) {
      res.writeHead(403, { ...cors, 'content-type': 'application/json' });
      return res.end('{"message":"Forbidden"}');
    }
    const path = req.url.split('?')[0];
    const body = path === '/measure/hours' ? JSON.stringify(HOURS)
      : req.url.includes('format=csv') ? 'channel,product\nchanA,kestrel\n'
        : JSON.stringify(SHOWS);
    res.writeHead(200, { ...cors, 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(body);
  });
  apiUrl = `http://127.0.0.1:${await listen(api)}`;
  site = createServer((req, res) => {
    const path = req.url.split('?')[0];
    // The stack's dashboard policy, with this stand-in's origin for the function URLs'.
    const csp = dashboardPolicy(apiUrl);
    if (path === '/dashboard/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-security-policy': csp });
      return res.end(JSON.stringify({ api: apiUrl, region: REGION }));
    }
    const file = files[path];
    if (!file) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': file[0], 'content-security-policy': csp });
    res.end(file[1]);
  });
  siteUrl = `http://127.0.0.1:${await listen(site)}`;
});

after(() => {
  site?.close();
  api?.close();
});

test('hosted: the reader signs in with AWS credentials, the page signs each request, the counters show, nothing is stored', async () => {
  const b = await launchChromium();
  try {
    const page = await b.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Console errors (a CSP violation among them); failed loads are the
    // favicon and the deliberate wrong secret, checked through `seen`.
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
    await page.goto(`${siteUrl}/dashboard/index.html`);
    await page.locator('#iam-login').waitFor();
    assert.equal(await page.locator('#login').isHidden(), true, 'no token form when hosted');
    assert.equal(seen.length, 0, 'nothing is asked before sign-in');

    // A wrong secret: refused, and the page says what is needed.
    await page.fill('#access-key', READER.accessKeyId);
    await page.fill('#secret-key', 'not-the-secret');
    await page.fill('#session-token', READER.sessionToken);
    await page.click('#iam-login button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#status').textContent.includes('DashboardReaders'));
    assert.equal(await page.locator('#iam-login').isVisible(), true);
    assert.ok(seen.length > 0 && seen.every((s) => !s.ok));

    await page.fill('#access-key', READER.accessKeyId);
    await page.fill('#secret-key', READER.secretAccessKey);
    await page.fill('#session-token', READER.sessionToken);
    await page.click('#iam-login button[type=submit]');
    await page.waitForFunction(() => document.querySelector('[data-total="impressions"] b')?.textContent === '50');
    assert.equal(await page.locator('#shows tbody tr').count(), SHOWS.length);
    assert.ok(await page.locator('#chart-impressions svg rect').count() >= 1);
    const signed = seen.filter((s) => s.ok);
    assert.ok(signed.some((s) => s.url === '/measure/report?format=json'));
    assert.ok(signed.some((s) => s.url === '/measure/hours'));
    for (const s of signed) {
      assert.match(s.headers.authorization, new RegExp(`^AWS4-HMAC-SHA256 Credential=${READER.accessKeyId}/\\d{8}/${REGION}/lambda/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$`));
      assert.ok(!JSON.stringify(s.headers).includes(READER.secretAccessKey), 'the secret never leaves the page');
    }
    // The secret is in no field, no storage and no cookie.
    assert.equal(await page.inputValue('#secret-key'), '');
    const stored = await page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }, document.cookie]));
    assert.ok(!stored.includes('reader/secret'), stored);
    assert.deepEqual(errors, []);
  } finally {
    await b.close();
  }
});

/** dashboard/content-security-policy.txt as a header value (what infra/lib/repo.ts sends). */
function dashboardPolicy(reportOrigin) {
  return readFileSync(join(repo, 'dashboard', 'content-security-policy.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .join('; ')
    .replaceAll('{report-origin}', reportOrigin);
}
