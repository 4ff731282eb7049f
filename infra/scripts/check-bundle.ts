// Checks a synth made WITH bundling (cargo lambda build --release --arm64 for
// every Rust function the stack deploys): each function's package holds an
// arm64 Linux `bootstrap`, the catalog byte for byte, and the files the
// catalog names beside it; `adctl products` (host build, path in $ADCTL)
// accepts the packaged catalog. A catalog with wordmarks: on-thumbnail also
// carries the text models, byte for byte, and both detecting bootstraps
// hold the text code (one shared arm64 build); on-tick, the collector, the
// aggregator and the report function carry no models.
//
//   npx tsx scripts/check-bundle.ts <cdk.out dir> <catalog.json>

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { catalogFiles } from '../lib/catalog.ts';
import { TEXT_MODEL_FILES, TEXT_MODELS_DIR } from '../lib/repo.ts';

const [outDir, catalogPath] = process.argv.slice(2);
if (!outDir || !catalogPath) {
  console.error('usage: check-bundle.ts <cdk.out dir> <catalog.json>');
  process.exit(2);
}
const adctl = process.env.ADCTL;
if (!adctl) {
  console.error('set ADCTL to the adctl binary (target/debug/adctl)');
  process.exit(2);
}
const EM_AARCH64 = 183;
const problems: string[] = [];
const catalog = catalogFiles(path.resolve(catalogPath));
const templateFile = fs.readdirSync(outDir).find((f) => f.endsWith('.template.json'));
if (!templateFile) throw new Error(`${outDir}: no template; run cdk synth first`);
const template = JSON.parse(fs.readFileSync(path.join(outDir, templateFile), 'utf8'));
let checked = 0;
for (const [id, r] of Object.entries<any>(template.Resources)) {
  if (r.Type !== 'AWS::Lambda::Function' || r.Properties.Runtime !== 'provided.al2023') continue;
  // The function's own construct id (…/Functions/OnThumbnail/Resource):
  // logical IDs carry the parent construct's name too.
  const name = String(r.Metadata['aws:cdk:path'] ?? '').split('/').at(-2);
  if (!name) {
    problems.push(`${id}: no aws:cdk:path metadata; synth with path metadata (the default)`);
    continue;
  }
  const asset = path.join(outDir, r.Metadata['aws:asset:path']);
  const bootstrap = path.join(asset, 'bootstrap');
  if (!fs.existsSync(bootstrap)) {
    problems.push(`${id}: no bootstrap in ${asset}`);
    continue;
  }
  const head = fs.readFileSync(bootstrap).subarray(0, 20);
  const elf = head[0] === 0x7f && head.toString('latin1', 1, 4) === 'ELF';
  if (!elf || head.readUInt16LE(18) !== EM_AARCH64) problems.push(`${id}: bootstrap is not an arm64 ELF executable`);
  if ((fs.statSync(bootstrap).mode & 0o111) === 0) problems.push(`${id}: bootstrap is not executable`);
  const packaged = path.join(asset, 'catalog.json');
  if (!fs.existsSync(packaged) || !fs.readFileSync(packaged).equals(fs.readFileSync(catalog.catalogPath))) {
    problems.push(`${id}: catalog.json is missing or differs from ${catalog.catalogPath}`);
  } else {
    try {
      execFileSync(adctl, ['--catalog', packaged, 'products'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      problems.push(`${id}: adctl refuses the packaged catalog: ${(e as { stderr?: Buffer }).stderr ?? e}`);
    }
  }
  for (const rel of catalog.referenceImages) {
    if (!fs.existsSync(path.join(asset, rel))) problems.push(`${id}: reference image ${rel} is not packaged`);
  }
  const readsText = catalog.wordmarks.length > 0 && name === 'OnThumbnail';
  for (const f of TEXT_MODEL_FILES) {
    const packagedModel = path.join(asset, 'text-models', f);
    if (readsText && (!fs.existsSync(packagedModel) || !fs.readFileSync(packagedModel).equals(fs.readFileSync(path.join(TEXT_MODELS_DIR, f))))) {
      problems.push(`${id}: text model ${f} is missing from text-models/ or differs from ${TEXT_MODELS_DIR}`);
    }
    if (!readsText && fs.existsSync(packagedModel)) problems.push(`${id}: carries text model ${f}, which it never reads`);
  }
  // The text code names its model files (detector/src/text.rs): present
  // exactly when the backend was built with the `text` feature, which both
  // functions share when the catalog has wordmarks (one arm64 build of the
  // dependencies, not two).
  // The collector, the aggregator and the report function never detect: they link no
  // detector code, so no model names, whatever the features.
  const detects = !['Collector', 'Aggregator', 'Report'].includes(name);
  const withText = fs.readFileSync(bootstrap).includes(TEXT_MODEL_FILES[0]);
  if (detects && withText !== catalog.wordmarks.length > 0) {
    problems.push(`${id}: bootstrap was built ${withText ? 'with' : 'without'} the text feature, but the catalog ${catalog.wordmarks.length > 0 ? 'has' : 'has no'} wordmarks`);
  }
  const mb = (fs.statSync(bootstrap).size / 1048576).toFixed(1);
  console.log(`  ${id}: arm64 bootstrap ${mb} MiB, catalog.json, ${catalog.referenceImages.length} reference image(s)${readsText ? ', text models' : ''}`);
  checked++;
}
if (checked < 6) problems.push(`expected the on-thumbnail, on-tick, operator, collector, aggregator and report functions, found ${checked}`);
if (problems.length > 0) {
  console.error(problems.map((p) => `  - ${p}`).join('\n'));
  process.exit(1);
}
