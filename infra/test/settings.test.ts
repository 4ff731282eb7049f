import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { CatalogError, catalogFiles, stageCatalog } from '../lib/catalog.ts';
import { contextLimits, lambdaEnvironment, lambdaEnvNames, refusal, REPO_ROOT } from '../lib/repo.ts';
import { CONTEXT_KEYS, readSettings, SettingsError, type ContextKey } from '../lib/settings.ts';

const ARN = 'arn:aws:rekognition:us-east-1:123456789012:project/ads/version/ads.2026-11-01T10.00.00/1730000000000';
const from = (ctx: Record<string, unknown>) => (key: ContextKey) => ctx[key];

test('defaults: one channel, 5 s thumbnails, 7 days, the demo catalog', () => {
  const s = readSettings(from({ projectVersionArn: ARN }));
  assert.equal(s.channels, 1);
  assert.equal(s.thumbnailIntervalSeconds, 5);
  assert.equal(s.retentionDays, 7);
  assert.equal(s.detector, 'rekognition');
  assert.equal(s.projectVersionArn, ARN);
  assert.equal(s.catalogPath, path.join(REPO_ROOT, 'studio/demo/catalog.json'));
  assert.equal(s.maxActiveProducts, 1);
  assert.equal(s.republishSeconds, 5);
});

test('values from -c arrive as strings and are read as numbers', () => {
  const s = readSettings(from({ detector: 'builtin', channels: '3', thumbnailIntervalSeconds: '2', channelType: 'basic' }));
  assert.equal(s.channels, 3);
  assert.equal(s.thumbnailIntervalSeconds, 2);
  assert.equal(s.channelType, 'BASIC');
  assert.equal(s.projectVersionArn, undefined);
});

test('every problem is reported at once, naming the key and the fix', () => {
  let error: unknown;
  try {
    readSettings(from({ channels: '0', thumbnailIntervalSeconds: '2.5', retentionDays: 'week', detector: 'yolo', alarmEmail: 'ops' }), [
      'detecter',
      '@aws-cdk/core:target-partitions',
      'aws:cdk:bundling-stacks',
    ]);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof SettingsError, String(error));
  const text = error.problems.join('\n');
  assert.equal(error.problems.length, 7, text);
  assert.match(text, /projectVersionArn is not set/);
  assert.match(text, /detecter is not a setting of this app; the settings are channels, /);
  assert.match(text, /channels is "0"; it must be a whole number from 1 to 20/);
  assert.match(text, /thumbnailIntervalSeconds is "2.5"; it must be a whole number from 1 to 60/);
  assert.match(text, /retentionDays is "week"/);
  assert.match(text, /detector is "yolo"; it must be `rekognition`/);
  assert.match(text, /alarmEmail is "ops"/);
});

test('measurement: raw events kept 400 days unless told; the collector reserved only when asked', () => {
  const dflt = readSettings(from({ detector: 'builtin' }));
  assert.equal(dflt.eventRetentionDays, 400);
  assert.equal(dflt.collectorConcurrency, undefined);
  const set = readSettings(from({ detector: 'builtin', eventRetentionDays: '30', collectorConcurrency: '50' }));
  assert.equal(set.eventRetentionDays, 30);
  assert.equal(set.collectorConcurrency, 50);
  assert.throws(
    () => readSettings(from({ detector: 'builtin', collectorConcurrency: '0', eventRetentionDays: '0' })),
    (e: unknown) =>
      e instanceof SettingsError &&
      e.problems.length === 2 &&
      /collectorConcurrency is "0"; it must be a whole number from 1 to 1000, or not set/.test(e.problems.join('\n')) &&
      /eventRetentionDays is "0"/.test(e.problems.join('\n')),
  );
});

test('Rekognition needs a well-formed model ARN; the built-in detector refuses one', () => {
  assert.throws(() => readSettings(from({})), /projectVersionArn is not set; pass -c projectVersionArn=.* or -c detector=builtin/);
  assert.throws(
    () => readSettings(from({ projectVersionArn: 'arn:aws:rekognition:us-east-1:123456789012:project/ads' })),
    /projectVersionArn is "arn:aws:rekognition:us-east-1:123456789012:project\/ads"; it must be the Custom Labels model ARN \(arn:aws:rekognition:<region>/,
  );
  assert.throws(() => readSettings(from({ detector: 'builtin', projectVersionArn: ARN })), /projectVersionArn is set but detector is builtin/);
});

test('the Lambda environment accepts only names the backend reads', () => {
  const names = lambdaEnvNames();
  assert.ok(names.includes('TABLE_NAME') && names.includes('DETECTOR'), names.join());
  assert.ok(!names.some((n) => n.startsWith('$')));
  assert.deepEqual(lambdaEnvironment({ TABLE_NAME: 't' }), { TABLE_NAME: 't' });
  assert.throws(() => lambdaEnvironment({ TABLE: 't' }), /TABLE is not in backend\/lambda-env.json/);
  assert.throws(() => lambdaEnvironment({ AWS_REGION: 'us-east-1' }), /AWS_REGION is reserved/);
});

function tempCatalog(products: unknown[], files: string[] = []): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catalog-test-'));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), 'png');
  }
  const file = path.join(dir, 'catalog.json');
  fs.writeFileSync(file, JSON.stringify({ products }));
  return file;
}

test('the demo catalog ships its logos as card and reference images', () => {
  const c = catalogFiles(path.join(REPO_ROOT, 'studio/demo/catalog.json'));
  assert.deepEqual(c.cardImages, ['kestrel.png', 'lumen.png', 'tidewater.png']);
  assert.deepEqual(c.referenceImages, ['kestrel.png', 'lumen.png', 'tidewater.png']);
  assert.deepEqual(c.s3References, []);
  assert.equal(c.productCount, 3);
});

test('catalog files: remote images stay remote, s3:// references become grants, local ones are staged', () => {
  const file = tempCatalog(
    [
      { id: 'a', image_url: 'https://cdn.example/a.png', reference_images: ['refs/a.png', 's3://my-refs/logos/a.png'] },
      { id: 'b', image_url: './img/b.png' },
    ],
    ['refs/a.png', 'img/b.png', 'unrelated.txt'],
  );
  const c = catalogFiles(file);
  assert.deepEqual(c.cardImages, ['img/b.png']);
  assert.deepEqual(c.referenceImages, ['refs/a.png']);
  assert.deepEqual(c.s3References, [{ bucket: 'my-refs', key: 'logos/a.png' }]);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'stage-test-'));
  stageCatalog(c, c.cardImages, path.join(stage, 'catalog'));
  const staged = fs.readdirSync(stage, { recursive: true }).map(String).sort();
  assert.deepEqual(staged, ['catalog', 'catalog/catalog.json', 'catalog/img', 'catalog/img/b.png']);
});

test('catalog problems name the product, the field and the fix', () => {
  const file = tempCatalog([
    { id: 'a', image_url: 'missing.png' },
    { id: 'b', image_url: '../outside.png', reference_images: ['https://x.example/r.png', 's3://Bad_Bucket'] },
    { id: 'c', reference_images: 'r.png' },
  ]);
  let error: unknown;
  try {
    catalogFiles(file);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof CatalogError, String(error));
  const text = error.message;
  assert.match(text, /product "a" \(#1\), field "image_url": file .*missing.png does not exist; add it beside the catalog/);
  assert.match(text, /product "b" \(#2\), field "image_url": "..\/outside.png" must stay beside the catalog/);
  assert.match(text, /product "b" \(#2\), field "reference_images": "https:\/\/x.example\/r.png" must be a path beside the catalog or an s3/);
  assert.match(text, /"s3:\/\/Bad_Bucket" is not an s3:\/\/bucket\/key URL/);
  assert.match(text, /product "c" \(#3\), field "reference_images": must be an array/);
  assert.throws(() => catalogFiles('/nonexistent/catalog.json'), /cannot read it as JSON .*pass -c catalog=/);
  assert.throws(() => catalogFiles(tempCatalog([])), /"products" must be a non-empty array/);
});

test('build profile: a deploy builds with release; the packaging check may ask for bundle-check, nothing else', () => {
  assert.equal(readSettings(from({ detector: 'builtin' })).buildProfile, 'release');
  assert.equal(readSettings(from({ detector: 'builtin', buildProfile: 'bundle-check' })).buildProfile, 'bundle-check');
  assert.throws(
    () => readSettings(from({ detector: 'builtin', buildProfile: 'dev' })),
    (e: unknown) => e instanceof SettingsError && /buildProfile is "dev"; it must be one of release, bundle-check/.test(e.problems.join('\n')),
  );
});

test('limits: one table (backend/limits.json) with the Lambdas and the studio, the same refusal, the described bounds', () => {
  const limits = contextLimits();
  for (const key of ['channels', 'thumbnailIntervalSeconds', 'retentionDays', 'maxActiveProducts', 'republishSeconds', 'eventRetentionDays', 'edgeRateLimit'] as const) {
    const limit = limits[key];
    assert.ok(limit, `${key} is not in backend/limits.json`);
    assert.ok(
      CONTEXT_KEYS[key].includes(`${limit.min} to ${limit.max} (default ${limit.default}`),
      `CONTEXT_KEYS.${key} (${CONTEXT_KEYS[key]}) does not say ${limit.min} to ${limit.max} (default ${limit.default})`,
    );
  }
  let error: unknown;
  try {
    readSettings(from({ detector: 'builtin', maxActiveProducts: '9', republishSeconds: '5.0' }));
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof SettingsError, String(error));
  // backend/src/limits.rs's a_refusal_names_the_setting_the_bounds_the_default_and_why gives the same words for MAX_ACTIVE_PRODUCTS.
  assert.ok(
    error.problems.includes(refusal('maxActiveProducts', '9', limits.maxActiveProducts)) &&
      error.problems.some((p) => p.startsWith('maxActiveProducts is "9"; it must be a whole number from 1 to 8 (default 1): ') && p.includes('(K)')),
    error.problems.join('\n'),
  );
  assert.ok(error.problems.some((p) => p.startsWith('republishSeconds is "5.0"')), error.problems.join('\n'));
});
