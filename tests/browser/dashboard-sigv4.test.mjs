// The hosted dashboard signs its report requests itself (dashboard/sigv4.js):
// here its signatures are compared with botocore's, the AWS SDK for Python's
// own signer (installed in the project's venv with moto), for requests with
// and without a session token, encoded query strings (as a URL carries
// them: botocore signs the query as given), and dates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repo } from './lib.mjs';
import { signGet } from '../../dashboard/sigv4.js';

const python = existsSync(join(repo, '.cache/venv/bin/python3')) ? join(repo, '.cache/venv/bin/python3') : 'python3';

/** botocore's Authorization header for the same request. */
function botocore(url, creds, region, service, amzDate) {
  const script = `
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, key, secret, token, region, service, stamp = json.loads(sys.argv[1])
request = AWSRequest(method="GET", url=url)
request.context["timestamp"] = stamp
request.headers["X-Amz-Date"] = stamp
if token:
    request.headers["X-Amz-Security-Token"] = token
auth = SigV4Auth(Credentials(key, secret, token or None), service, region)
canonical = auth.canonical_request(request)
signature = auth.signature(auth.string_to_sign(request, canonical), request)
scope = "/".join([stamp[:8], region, service, "aws4_request"])
print(f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={signature}")
`;
  const args = JSON.stringify([url, creds.accessKeyId, creds.secretAccessKey, creds.sessionToken ?? '', region, service, amzDate]);
  return execFileSync(python, ['-c', script, args], { encoding: 'utf8' }).trim();
}

const CREDS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

test('signatures match botocore for function URL requests', () => {
  const cases = [
    ['https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/measure/report?format=json', CREDS, 'us-east-1', new Date('2026-12-04T05:06:07Z')],
    ['https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/measure/hours', { ...CREDS, sessionToken: 'IQoJb3JpZ2luX2VjE+/token==' }, 'eu-west-1', new Date('2030-01-31T23:59:59.999Z')],
    ['https://x.lambda-url.us-east-1.on.aws/measure/report?format=csv&b=a%20b&a=z~%2A', CREDS, 'us-east-1', new Date('2026-02-03T00:00:00Z')],
  ];
  return Promise.all(cases.map(async ([url, creds, region, when]) => {
    const ours = await signGet(url, creds, region, 'lambda', when);
    const theirs = botocore(url, creds, region, 'lambda', ours['x-amz-date']);
    assert.equal(ours.authorization, theirs, url);
    assert.equal(ours['x-amz-security-token'], creds.sessionToken);
  }));
});

test('a different secret, date or URL gives a different signature', async () => {
  const url = 'https://x.lambda-url.us-east-1.on.aws/measure/report?format=json';
  const when = new Date('2026-12-04T05:06:07Z');
  const base = (await signGet(url, CREDS, 'us-east-1', 'lambda', when)).authorization;
  for (const other of [
    signGet(url, { ...CREDS, secretAccessKey: 'other' }, 'us-east-1', 'lambda', when),
    signGet(url, CREDS, 'us-east-1', 'lambda', new Date('2026-12-04T05:06:08Z')),
    signGet(`${url}x`, CREDS, 'us-east-1', 'lambda', when),
  ]) assert.notEqual((await other).authorization, base);
});
