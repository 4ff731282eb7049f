// Every checkov suppression in the template must be needed: this strips them,
// runs checkov, and requires that the failed checks are exactly the
// suppressed ones (a stale suppression would hide a future regression).
//
//   npx tsx scripts/check-suppressions.ts <template.json>

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const file = process.argv[2];
if (!file) {
  console.error('usage: check-suppressions.ts <template.json>');
  process.exit(2);
}
const template = JSON.parse(fs.readFileSync(file, 'utf8'));
const suppressed = new Set<string>();
for (const [id, r] of Object.entries<any>(template.Resources)) {
  for (const skip of r.Metadata?.checkov?.skip ?? []) suppressed.add(`${id} ${skip.id}`);
  if (r.Metadata?.checkov) delete r.Metadata.checkov;
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkov-'));
const bare = path.join(dir, 'template.json');
fs.writeFileSync(bare, JSON.stringify(template));
let report = '';
try {
  report = execFileSync('checkov', ['-f', bare, '--framework', 'cloudformation', '--quiet', '--skip-download', '-o', 'json'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
} catch (e) {
  // checkov exits 1 when a check fails, which is expected here.
  report = (e as { stdout?: string }).stdout ?? '';
}
fs.rmSync(dir, { recursive: true, force: true });
const parsed = JSON.parse(report);
const failedChecks: { check_id: string; resource: string }[] = (Array.isArray(parsed) ? parsed : [parsed]).flatMap(
  (r: any) => r.results?.failed_checks ?? [],
);
const failed = new Set(failedChecks.map((c) => `${c.resource.split('.').pop()} ${c.check_id}`));
const stale = [...suppressed].filter((s) => !failed.has(s));
const missing = [...failed].filter((f) => !suppressed.has(f));
if (stale.length || missing.length) {
  if (stale.length) console.error(`suppressed but passing (remove the suppression):\n  ${stale.join('\n  ')}`);
  if (missing.length) console.error(`failing without a suppression:\n  ${missing.join('\n  ')}`);
  process.exit(1);
}
console.log(`  ${suppressed.size} suppressions, each needed`);
