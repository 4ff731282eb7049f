// AWS Signature Version 4 for the hosted dashboard's GET requests to the
// report function URL (AuthType AWS_IAM), with the browser's WebCrypto. The
// reader's credentials stay in this page's memory; only signatures leave.
// Checked against botocore's signer by tests/browser/dashboard-sigv4.test.mjs.

const encoder = new TextEncoder();
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

async function hmac(key, text) {
  const raw = typeof key === 'string' ? encoder.encode(key) : key;
  const k = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, encoder.encode(text));
}

// RFC 3986 unreserved characters stay; everything else is %XX, as SigV4 asks.
const uriEncode = (text) => encodeURIComponent(text)
  .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The headers that sign `GET url` for `service` in `region` at `now`:
 * `authorization`, `x-amz-date` and, with a session token,
 * `x-amz-security-token`. `credentials` is { accessKeyId, secretAccessKey,
 * sessionToken? }.
 */
export async function signGet(url, credentials, region, service, now = new Date()) {
  const u = new URL(url);
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const day = amzDate.slice(0, 8);
  const signed = { host: u.host, 'x-amz-date': amzDate };
  if (credentials.sessionToken) signed['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(signed).sort();
  const canonicalHeaders = names.map((n) => `${n}:${String(signed[n]).trim()}\n`).join('');
  const signedHeaders = names.join(';');
  const query = [...u.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => compare(a, b) || compare(x, y))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const path = u.pathname.split('/').map((s) => uriEncode(decodeURIComponent(s))).join('/') || '/';
  const canonical = ['GET', path, query, canonicalHeaders, signedHeaders, EMPTY_SHA256].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, await sha256Hex(canonical)].join('\n');
  let key = await hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, service, 'aws4_request']) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  const headers = {
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    'x-amz-date': amzDate,
  };
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  return headers;
}
