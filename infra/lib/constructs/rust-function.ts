// The stack's Rust Lambdas: each built from the backend crate for arm64,
// with its own role and log group, the catalog in its package, and
// checkov's reasons.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RustFunction } from 'cargo-lambda-cdk';
import type { Construct } from 'constructs';
import { type CatalogFiles, stageCatalog } from '../catalog.ts';
import { BACKEND_MANIFEST, TEXT_MODEL_FILES, TEXT_MODELS_DIR } from '../repo.ts';
import type { Settings } from '../settings.ts';
import { suppressCheckov } from './common.ts';

/** Where the functions find the catalog and the text models in their package. */
export const LAMBDA_CATALOG_PATH = '/var/task/catalog.json';
export const LAMBDA_TEXT_MODELS_PATH = '/var/task/text-models';

/** Reasons shared by every Lambda function of the stack (ours and CDK's helpers). */
export const LAMBDA_REASONS = {
  CKV_AWS_117: 'Calls only public AWS endpoints (S3, DynamoDB, IVS, Rekognition, Step Functions, Firehose); a VPC would add NAT or endpoints and nothing to protect.',
  CKV_AWS_173: 'Environment holds resource names, numbers and secrets\' ARNs (the functions read the secrets at start-up); Lambda encrypts it at rest with its service key.',
  CKV_AWS_115: 'Reserved concurrency is not set: new accounts have a concurrency quota of 10 and reserving any of it fails the deployment there.',
};

/** Grants `actions` on exactly `resources` to the function's own role. */
export function allow(fn: lambda.Function, actions: string[], resources: string[]): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources }));
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Builds the stack's Rust functions. Every function is built with the same
 * features: cargo then compiles the dependencies once for all of them
 * (on-tick never loads the models, and tract only adds size to its binary).
 * Different features would build the whole dependency tree twice for arm64
 * (21 min instead of ~10 for infra/test.sh, measured).
 */
export class RustFunctions {
  /** Whether on-thumbnail reads wordmarks, so the package carries the text models. */
  readonly readsText: boolean;
  private readonly staged: string;

  constructor(private readonly settings: Settings, catalog: CatalogFiles) {
    this.staged = fs.mkdtempSync(path.join(os.tmpdir(), 'ivs-ads-'));
    stageCatalog(catalog, catalog.referenceImages, this.staged);
    // Wordmarks in the catalog: on-thumbnail reads text, so it is built with
    // the backend's `text` feature and its package carries the two models
    // (15 MB) at text-models/, beside the catalog, where Config looks.
    this.readsText = settings.detector === 'builtin' && catalog.wordmarks.length > 0;
    if (this.readsText) {
      const missing = TEXT_MODEL_FILES.filter((f) => !fs.existsSync(path.join(TEXT_MODELS_DIR, f)));
      if (missing.length > 0) {
        throw new Error(
          `the catalog names wordmarks (${catalog.wordmarks.join(', ')}), which the built-in detector reads with its text models, ` +
            `but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not in ${TEXT_MODELS_DIR}; run scripts/setup.sh, which fetches them`,
        );
      }
    }
  }

  /**
   * The function `binary` of the backend crate as `id` in `scope`, with its
   * log group (`${id}Logs`) and role (`${id}Role`), which may write to that
   * log group and nothing else until granted more.
   */
  make(scope: Construct, id: string, binary: string, options: Partial<lambda.FunctionOptions>, withModels = false): lambda.Function {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    suppressCheckov(logGroup, {
      CKV_AWS_158: 'Logs hold product ids, labels and timings, no personal data; CloudWatch encrypts them at rest by default.',
    });
    // Its own role, without AWSLambdaBasicExecutionRole (logs:* on any log
    // group).
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${binary}: exactly the grants in lib/constructs/`,
    });
    logGroup.grantWrite(role);
    const modelsIn = (output: string) => path.join(output, path.basename(LAMBDA_TEXT_MODELS_PATH));
    const fn = new RustFunction(scope, id, {
      role,
      manifestPath: BACKEND_MANIFEST,
      binaryName: binary,
      bundling: {
        architecture: lambda.Architecture.ARM_64,
        profile: this.settings.buildProfile,
        // The catalog (and the built-in detector's reference images) ship
        // inside the package, at $LAMBDA_TASK_ROOT/catalog.json.
        commandHooks: {
          beforeBundling: () => [],
          afterBundling: (_input: string, output: string) => [
            `cp -R ${shellQuote(this.staged)}/. ${shellQuote(output)}/`,
            ...(withModels
              ? [
                  `mkdir -p ${shellQuote(modelsIn(output))}`,
                  ...TEXT_MODEL_FILES.map((f) => `cp ${shellQuote(path.join(TEXT_MODELS_DIR, f))} ${shellQuote(path.join(modelsIn(output), f))}`),
                ]
              : []),
          ],
        },
        ...(this.readsText ? { cargoLambdaFlags: ['--features', 'text'] } : {}),
      },
      logGroup,
      ...options,
    });
    // A reservation satisfies CKV_AWS_115; a suppression then would be unneeded.
    const { CKV_AWS_115, ...reasons } = LAMBDA_REASONS;
    suppressCheckov(fn, options.reservedConcurrentExecutions === undefined ? { ...reasons, CKV_AWS_115 } : reasons);
    return fn;
  }
}
