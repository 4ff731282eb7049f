// The deployment's settings, read from CDK context (`cdk deploy -c key=value`
// or cdk.json). Every problem is reported at once, naming the key and the fix,
// so a deployment is corrected in one pass (the same rule as the backend's
// config.rs).

import * as path from 'node:path';
import { REPO_ROOT, contextLimits, refusal } from './repo.ts';

export type Detector = 'rekognition' | 'builtin';

export interface Settings {
  /** How many IVS channels (1–20), each with its own stream key. */
  readonly channels: number;
  /** IVS channel type: STANDARD (transcoded renditions) or BASIC. */
  readonly channelType: 'STANDARD' | 'BASIC' | 'ADVANCED_SD' | 'ADVANCED_HD';
  /** Seconds between thumbnails (IVS accepts 1–60). */
  readonly thumbnailIntervalSeconds: number;
  /** Days before thumbnails and recordings expire from the bucket. */
  readonly retentionDays: number;
  readonly detector: Detector;
  /** Custom Labels model ARN; present exactly when detector is rekognition. */
  readonly projectVersionArn?: string;
  /** Absolute path of the catalog JSON. */
  readonly catalogPath: string;
  readonly maxActiveProducts: number;
  readonly republishSeconds: number;
  /** Where alarms are e-mailed, if given. */
  readonly alarmEmail?: string;
  /** Days the measurement's raw events stay in S3. */
  readonly eventRetentionDays: number;
  /** The collector's reserved concurrency, if given (its throttle). */
  readonly collectorConcurrency?: number;
  /** Requests per 5 minutes one address may make to the collector's paths (the edge's rate rule). */
  readonly edgeRateLimit: number;
  /** A CLOUDFRONT-scope AWS WAF web ACL (in us-east-1) to attach instead of the stack's own. */
  readonly webAclArn?: string;
  /** The cargo profile the Lambdas are built with (a deploy: release). */
  readonly buildProfile: BuildProfile;
}

/**
 * `release`: what a deploy ships (thin LTO). `bundle-check`: the same target,
 * features and binaries, linked fast, for infra/test.sh's packaging check.
 */
export const BUILD_PROFILES = ['release', 'bundle-check'] as const;
export type BuildProfile = (typeof BUILD_PROFILES)[number];

/** Every context key the app reads, with what it means (docs/deploy.md lists the same). */
export const CONTEXT_KEYS = {
  channels: 'number of IVS channels, 1 to 20 (default 1)',
  channelType: 'STANDARD (default), BASIC, ADVANCED_SD or ADVANCED_HD',
  thumbnailIntervalSeconds: 'seconds between thumbnails, 1 to 60 (default 5)',
  retentionDays: 'days before thumbnails and recordings expire, 1 to 3650 (default 7)',
  detector: '`rekognition` (default, needs projectVersionArn) or `builtin`',
  projectVersionArn: 'the Custom Labels model ARN (arn:aws:rekognition:<region>:<account>:project/<name>/version/<name>/<id>)',
  catalog: 'path of the catalog JSON, relative to the repository root (default studio/demo/catalog.json)',
  maxActiveProducts: 'at most this many cards at once on a channel, 1 to 8 (default 1)',
  republishSeconds: 'the workflow re-sends the cue this often, 1 to 60 (default 5)',
  alarmEmail: 'an e-mail address subscribed to the alarms topic (optional)',
  eventRetentionDays: 'days before raw measurement events expire from S3, 1 to 3650 (default 400: a year of reports and a month to spare)',
  collectorConcurrency: 'reserved concurrency of the collector, 1 to 1000: a hard cap on beacons and tracking links handled at once (optional; not set, the account\'s quota is the cap: a reservation fails in accounts whose quota is 10)',
  edgeRateLimit: 'requests per 5 minutes one address may make to the collector (beacons and tracking links) before AWS WAF blocks it, 100 to 2000000 (default 3000); the stack makes the web ACL when deployed in us-east-1',
  webAclArn: 'ARN of a CLOUDFRONT-scope AWS WAF web ACL (created in us-east-1) for the player\'s distribution: how a stack in another region gets the edge rate rule (docs/measurement.md gives the command)',
  buildProfile: 'the cargo profile the Lambdas are built with: release (default; what a deploy ships) or bundle-check (the packaging test\'s fast link)',
} as const;

export type ContextKey = keyof typeof CONTEXT_KEYS;

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `the deployment's context has ${problems.length} problem(s):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'SettingsError';
  }
}

const PROJECT_VERSION_ARN = /^arn:aws[a-z-]*:rekognition:[a-z0-9-]+:\d{12}:project\/[A-Za-z0-9_.-]+\/version\/[A-Za-z0-9_.-]+\/\d+$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const WEB_ACL_ARN = /^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/[A-Za-z0-9_-]+\/[a-f0-9-]+$/;

/**
 * Reads the settings through `lookup` (the app passes `node.tryGetContext`;
 * tests pass a map); `givenKeys` are all context keys present, to catch
 * misspellings. Values from `-c` arrive as strings, from cdk.json as
 * JSON values; both are accepted.
 */
export function readSettings(lookup: (key: ContextKey) => unknown, givenKeys: string[] = []): Settings {
  const problems: string[] = [];
  // A misspelt key (`-c detecter=builtin`) would silently fall back to a
  // default. CDK's own keys contain ':' or start with '@'.
  for (const key of givenKeys) {
    if (!key.includes(':') && !key.startsWith('@') && !(key in CONTEXT_KEYS)) {
      problems.push(`${key} is not a setting of this app; the settings are ${Object.keys(CONTEXT_KEYS).join(', ')}`);
    }
  }
  const text = (key: ContextKey): string | undefined => {
    const v = lookup(key);
    if (v === undefined || v === null) return undefined;
    const s = String(v).trim();
    return s === '' ? undefined : s;
  };
  // Bounds, defaults and the refusal's words from backend/limits.json, as
  // the Lambdas and the studio give them.
  const limits = contextLimits();
  const whole = (key: ContextKey): number => {
    const limit = limits[key];
    if (limit === undefined) throw new Error(`backend/limits.json has no entry with context ${key}`);
    const v = text(key);
    if (v === undefined) return limit.default;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isInteger(n) || n < limit.min || n > limit.max) {
      problems.push(refusal(key, v, limit));
      return limit.default;
    }
    return n;
  };

  const channels = whole('channels');
  const thumbnailIntervalSeconds = whole('thumbnailIntervalSeconds');
  const retentionDays = whole('retentionDays');
  const maxActiveProducts = whole('maxActiveProducts');
  const republishSeconds = whole('republishSeconds');
  const eventRetentionDays = whole('eventRetentionDays');
  const edgeRateLimit = whole('edgeRateLimit');
  const webAclArn = text('webAclArn');
  if (webAclArn !== undefined && !WEB_ACL_ARN.test(webAclArn)) {
    problems.push(`webAclArn is ${JSON.stringify(webAclArn)}; it must be a CLOUDFRONT-scope web ACL's ARN, arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>`);
  }
  let collectorConcurrency: number | undefined;
  const cc = text('collectorConcurrency');
  if (cc !== undefined) {
    collectorConcurrency = Number(cc);
    if (!Number.isInteger(collectorConcurrency) || collectorConcurrency < 1 || collectorConcurrency > 1000) {
      problems.push(`collectorConcurrency is ${JSON.stringify(cc)}; it must be a whole number from 1 to 1000, or not set (no reservation)`);
      collectorConcurrency = undefined;
    }
  }

  const channelTypes = ['STANDARD', 'BASIC', 'ADVANCED_SD', 'ADVANCED_HD'] as const;
  let channelType: Settings['channelType'] = 'STANDARD';
  const ct = text('channelType');
  if (ct !== undefined) {
    const found = channelTypes.find((t) => t === ct.toUpperCase());
    if (found) channelType = found;
    else problems.push(`channelType is ${JSON.stringify(ct)}; it must be one of ${channelTypes.join(', ')}`);
  }

  let detector: Detector = 'rekognition';
  const d = text('detector');
  if (d === 'builtin' || d === 'rekognition') detector = d;
  else if (d !== undefined) problems.push(`detector is ${JSON.stringify(d)}; it must be \`rekognition\` (Custom Labels) or \`builtin\` (the built-in detector)`);

  let projectVersionArn = text('projectVersionArn');
  if (detector === 'rekognition') {
    if (projectVersionArn === undefined) {
      problems.push(
        'projectVersionArn is not set; pass -c projectVersionArn=arn:aws:rekognition:<region>:<account>:project/<name>/version/<name>/<id> ' +
          '(your trained Custom Labels model), or -c detector=builtin to use the built-in detector instead',
      );
    } else if (!PROJECT_VERSION_ARN.test(projectVersionArn)) {
      problems.push(`projectVersionArn is ${JSON.stringify(projectVersionArn)}; it must be ${CONTEXT_KEYS.projectVersionArn}`);
    }
  } else if (projectVersionArn !== undefined) {
    problems.push('projectVersionArn is set but detector is builtin; drop one of them (the built-in detector gets no Rekognition permission)');
    projectVersionArn = undefined;
  }

  const catalog = text('catalog') ?? 'studio/demo/catalog.json';
  const catalogPath = path.resolve(REPO_ROOT, catalog);

  const alarmEmail = text('alarmEmail');
  if (alarmEmail !== undefined && !EMAIL.test(alarmEmail)) {
    problems.push(`alarmEmail is ${JSON.stringify(alarmEmail)}; it must be an e-mail address`);
  }

  let buildProfile: BuildProfile = 'release';
  const bp = text('buildProfile');
  if (bp !== undefined) {
    const found = BUILD_PROFILES.find((p) => p === bp);
    if (found) buildProfile = found;
    else problems.push(`buildProfile is ${JSON.stringify(bp)}; it must be one of ${BUILD_PROFILES.join(', ')} (default release)`);
  }

  if (problems.length > 0) throw new SettingsError(problems);
  return {
    channels,
    channelType,
    thumbnailIntervalSeconds,
    retentionDays,
    detector,
    projectVersionArn,
    catalogPath,
    maxActiveProducts,
    republishSeconds,
    alarmEmail,
    eventRetentionDays,
    collectorConcurrency,
    edgeRateLimit,
    webAclArn,
    buildProfile,
  };
}
