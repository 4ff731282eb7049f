// Files the CDK app shares with the rest of the repository: read from where
// the backend and the player keep them, never copied, so nothing can drift.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BACKEND_MANIFEST = path.join(REPO_ROOT, 'backend', 'Cargo.toml');
/** The generic re-publishing workflow the backend ships (issue 2). */
export const WORKFLOW_DEFINITION = path.join(REPO_ROOT, 'backend', 'workflow', 'republish.asl.json');
/** The one list of environment variable names the Lambdas read. */
export const LAMBDA_ENV_FILE = path.join(REPO_ROOT, 'backend', 'lambda-env.json');
/** Every bounded setting's limits and default (backend/src/limits.rs reads the same). */
export const LIMITS_FILE = path.join(REPO_ROOT, 'backend', 'limits.json');
/** The built player (player/build.sh writes it). */
export const PLAYER_DIST = path.join(REPO_ROOT, 'player', 'dist');
/** The measurement dashboard's files (the studio serves the same ones). */
export const DASHBOARD_DIR = path.join(REPO_ROOT, 'dashboard');

/**
 * The built-in detector's text models (PP-OCRv4 detection and recognition,
 * from the rapidocr-onnxruntime wheel), fetched by scripts/setup.sh; never
 * committed. Names as detector/src/text.rs reads them.
 */
export const TEXT_MODELS_DIR = path.join(REPO_ROOT, '.cache', 'text-models');
export const TEXT_MODEL_FILES = ['ch_PP-OCRv4_det_infer.onnx', 'ch_PP-OCRv4_rec_infer.onnx'];

/** The player page's Content-Security-Policy, one directive per line (the studio sends the same). */
export const PLAYER_CSP_FILE = path.join(REPO_ROOT, 'player', 'web', 'content-security-policy.txt');

/** The policy as a header value: the file's directives, comments dropped. */
export function playerCsp(): string {
  return cspHeader(PLAYER_CSP_FILE);
}

/** A policy file (one directive per line, `#` comments) as a header value. */
function cspHeader(file: string): string {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .join('; ');
}

/** One bounded setting, as backend/limits.json gives it. */
export interface Limit {
  readonly env?: string;
  readonly option?: string;
  readonly context?: string;
  readonly min: number;
  readonly max: number;
  readonly default: number;
  readonly studio_default?: number;
  readonly why: string;
}

/** The limits table, by the context key each is given as (the entries without one are the Lambdas' or the studio's alone). */
export function contextLimits(): Record<string, Limit> {
  const parsed = JSON.parse(fs.readFileSync(LIMITS_FILE, 'utf8')) as Record<string, unknown>;
  const byContext: Record<string, Limit> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (key.startsWith('$')) continue;
    const limit = value as Limit;
    if (![limit.min, limit.max, limit.default].every(Number.isInteger) || typeof limit.why !== 'string') {
      throw new Error(`${LIMITS_FILE}: ${key} needs whole min, max and default and a why`);
    }
    if (limit.context !== undefined) byContext[limit.context] = limit;
  }
  return byContext;
}

/** The refusal of a value out of bounds: the words backend/src/limits.rs uses (Limit::refusal). */
export function refusal(name: string, given: string, limit: Limit): string {
  return `${name} is ${JSON.stringify(given)}; it must be a whole number from ${limit.min} to ${limit.max} (default ${limit.default}): ${limit.why}`;
}

/** The hosted dashboard's Content-Security-Policy, one directive per line. */
export const DASHBOARD_CSP_FILE = path.join(DASHBOARD_DIR, 'content-security-policy.txt');

/** The dashboard's policy as a header value, the report calls allowed to `reportOrigin`. */
export function dashboardCsp(reportOrigin: string): string {
  return cspHeader(DASHBOARD_CSP_FILE).replaceAll('{report-origin}', reportOrigin);
}

/** The names in backend/lambda-env.json (its `$comment` excluded). */
export function lambdaEnvNames(): string[] {
  const parsed: unknown = JSON.parse(fs.readFileSync(LAMBDA_ENV_FILE, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null) {
    throw new Error(`${LAMBDA_ENV_FILE}: expected an object of NAME: description`);
  }
  return Object.keys(parsed).filter((k) => !k.startsWith('$'));
}

/**
 * Builds a Lambda environment from `values`, refusing any name the backend
 * does not read. AWS_REGION is in the list but set by Lambda itself (a
 * reserved name), so it is never passed.
 */
export function lambdaEnvironment(values: Record<string, string>): Record<string, string> {
  const known = new Set(lambdaEnvNames());
  for (const name of Object.keys(values)) {
    if (!known.has(name)) {
      throw new Error(`environment variable ${name} is not in backend/lambda-env.json; add it there (and to backend/src/config.rs) or drop it`);
    }
    if (name === 'AWS_REGION') {
      throw new Error('AWS_REGION is reserved: Lambda sets it; do not pass it');
    }
  }
  return { ...values };
}
