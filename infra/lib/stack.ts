// The whole deployment in one stack: IVS channels writing thumbnails to a
// private bucket, the on-thumbnail and on-tick Rust Lambdas, the state table,
// the one generic re-publishing workflow, the player on CloudFront, and the
// measurement: the collector Lambda behind the same CloudFront name, its
// counters table, raw events through Firehose to S3 for Athena, and the
// dashboard hosted with the player, reading an IAM-authorised report
// function.
//
// Permissions are granted statement by statement on the exact resources
// (test/stack.test.ts checks every statement); nothing gets `*` as an action.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  Annotations,
  ArnFormat,
  CfnOutput,
  CfnResource,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Token,
} from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ivs from 'aws-cdk-lib/aws-ivs';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as lambdaSources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { RustFunction } from 'cargo-lambda-cdk';
import type { Construct, IConstruct } from 'constructs';
import { catalogFiles, stageCatalog } from './catalog.ts';
import { BACKEND_MANIFEST, DASHBOARD_CSP_FILE, DASHBOARD_DIR, dashboardCsp, lambdaEnvironment, PLAYER_DIST, playerCsp, TEXT_MODEL_FILES, TEXT_MODELS_DIR, WORKFLOW_DEFINITION } from './repo.ts';
import type { Settings } from './settings.ts';

/** Where IVS writes (SEQUENTIAL storage) and the S3 filter that picks thumbnails. */
export const RECORDING_PREFIX = 'ivs/v1/';
export const THUMBNAIL_SUFFIX = '.jpg';
/** Thumbnails only: `ivs/v1/<account>/<channel>/<y>/<m>/<d>/<h>/<min>/<recording>/media/thumbnails/...`. */
export const THUMBNAIL_OBJECTS = `${RECORDING_PREFIX}*/media/thumbnails/*`;
/** Where the catalog sits inside the function's package ($LAMBDA_TASK_ROOT). */
export const LAMBDA_CATALOG_PATH = '/var/task/catalog.json';
/** The collector's own metrics (backend/src/collector.rs: METRICS_NAMESPACE). */
export const COLLECTOR_METRICS_NAMESPACE = 'IvsAds/Collector';

/** Where on-thumbnail's package holds the text models when the catalog has wordmarks. */
export const LAMBDA_TEXT_MODELS_PATH = '/var/task/text-models';
/** The table's item actions the backend performs (aws.rs: GetItem, conditional UpdateItem). */
export const TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'];
/**
 * The aggregator's calls (backend/src/measure_aws.rs: CounterStore): a
 * conditional Put per event (its dedupe record), the impression markers
 * (BatchWriteItem) and their reads for the viewable rule (BatchGetItem), and
 * one conditional Update per counter item per batch.
 */
export const MEASURE_TABLE_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
/** The counters table's index the report queries (measure_aws.rs: REPORT_INDEX). */
export const REPORT_INDEX = 'report';
/**
 * The aggregator's event source mapping. One batch per shard at a time
 * (parallelization 1): the counters' per-shard sequence check needs the
 * shard's order. A batch waits up to a second for more records, so a
 * counter item takes about one write a second per shard, whatever the
 * audience (a shard takes at most 1,000 records a second, under the batch
 * size, so batches are never cut by size).
 */
export const AGGREGATOR_BATCH_SIZE = 10000;
export const AGGREGATOR_BATCHING_WINDOW_SECONDS = 1;
export const AGGREGATOR_RETRIES = 10;
/** Where Firehose writes raw events: one folder per UTC day, as Athena's partition projection reads them. */
export const EVENTS_PREFIX = 'events/';
/** The collector's routes, served on the player's CloudFront name. */
export const COLLECTOR_PATHS = ['/measure/*', '/r/*'] as const;

export interface AdStackProps extends StackProps {
  readonly settings: Settings;
  /** Folder of the built player; player/dist unless a test gives another. */
  readonly playerDist?: string;
}

/**
 * Removes DependsOn entries that a Ref or GetAtt in the same resource already
 * enforces. CDK adds both for a function and its role; cfn-lint warns about
 * it (W3005), and the template must lint clean.
 */
export function dropImpliedDependsOn(template: { Resources?: Record<string, { DependsOn?: string[]; Properties?: unknown }> }): void {
  for (const resource of Object.values(template.Resources ?? {})) {
    if (!resource.DependsOn) continue;
    const referenced = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, inner] of Object.entries(v)) {
          if (k === 'Ref' && typeof inner === 'string') referenced.add(inner);
          else if (k === 'Fn::GetAtt' && Array.isArray(inner) && typeof inner[0] === 'string') referenced.add(inner[0]);
          walk(inner);
        }
      }
    };
    walk(resource.Properties);
    const kept = [resource.DependsOn].flat().filter((id) => !referenced.has(id));
    if (kept.length > 0) resource.DependsOn = kept;
    else delete resource.DependsOn;
  }
}

/** Adds a checkov suppression, with its reason, to a resource's metadata. */
export function suppressCheckov(scope: IConstruct, checks: Record<string, string>): void {
  const resource = scope instanceof CfnResource ? scope : (scope.node.defaultChild as CfnResource | undefined);
  if (!resource) throw new Error(`${scope.node.path} has no CloudFormation resource to annotate`);
  const existing = (resource.getMetadata('checkov') as { skip?: { id: string; comment: string }[] } | undefined)?.skip ?? [];
  const skip = [...existing, ...Object.entries(checks).map(([id, comment]) => ({ id, comment }))];
  resource.addMetadata('checkov', { skip });
}

/**
 * Logical IDs that must never change. CloudFormation replaces a resource
 * whose logical ID changes, so moving a construct (into another, or out)
 * would replace these: the buckets and the table kept on delete (whose
 * replacement would orphan the old one and start empty), the channels and
 * their stream keys (a new ingest endpoint and key for every broadcaster),
 * the recording configuration, the show-tag key (every printed QR code's
 * tag), the origin secret, and the distribution (the domain site owners
 * embed). Each is pinned to the ID it has had since it was made; the test
 * `retained and identity-bearing resources keep their logical IDs` fails if
 * one changes.
 */
export const PINNED_LOGICAL_IDS = {
  recordings: 'RecordingsA3BDCC51',
  recordingConfiguration: 'RecordingConfiguration',
  measurementTable: 'MeasurementCF48D3D0',
  measurementEvents: 'MeasurementEvents9088DB3E',
  measurementKey: 'MeasurementKey29F971F0',
  originVerify: 'CollectorOriginVerify75278128',
  playerBucket: 'PlayerBCE11709',
  playerDistribution: 'PlayerDistributionD5D25836',
} as const;

/** The channels' and stream keys' pinned logical IDs (see PINNED_LOGICAL_IDS). */
export const channelLogicalId = (i: number): string => `Channel${i}`;
export const streamKeyLogicalId = (i: number): string => `Channel${i}StreamKey`;

/** Pins `scope`'s CloudFormation resource to `logicalId` (see PINNED_LOGICAL_IDS). */
function pin(scope: IConstruct, logicalId: string): void {
  const resource = scope instanceof CfnResource ? scope : (scope.node.defaultChild as CfnResource | undefined);
  if (!resource) throw new Error(`${scope.node.path} has no CloudFormation resource to pin`);
  resource.overrideLogicalId(logicalId);
}

/**
 * A private bucket as every bucket of this stack is: no public access,
 * encrypted, TLS only, ACLs off, kept on delete (each holds the operator's
 * data or the site's files). `why` says why it needs neither access logs
 * nor versions (checkov's CKV_AWS_18 and CKV_AWS_21).
 */
function privateBucket(
  scope: Construct,
  id: string,
  why: { noAccessLogs: string; noVersions: string },
  lifecycleRules?: s3.LifecycleRule[],
): s3.Bucket {
  const bucket = new s3.Bucket(scope, id, {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    ...(lifecycleRules ? { lifecycleRules } : {}),
    removalPolicy: RemovalPolicy.RETAIN,
  });
  suppressCheckov(bucket, { CKV_AWS_18: why.noAccessLogs, CKV_AWS_21: why.noVersions });
  return bucket;
}

/** Reasons shared by every Lambda function of the stack (ours and CDK's helpers). */
const LAMBDA_REASONS = {
  CKV_AWS_117: 'Calls only public AWS endpoints (S3, DynamoDB, IVS, Rekognition, Step Functions, Firehose); a VPC would add NAT or endpoints and nothing to protect.',
  CKV_AWS_173: 'Environment holds resource names, numbers and secrets\' ARNs (the functions read the secrets at start-up); Lambda encrypts it at rest with its service key.',
  CKV_AWS_115: 'Reserved concurrency is not set: new accounts have a concurrency quota of 10 and reserving any of it fails the deployment there.',
};

export class AdStack extends Stack {
  readonly channels: ivs.CfnChannel[] = [];
  readonly onThumbnail: lambda.Function;
  readonly onTick: lambda.Function;
  readonly collector: lambda.Function;
  readonly report: lambda.Function;

  protected _toCloudFormation(): any {
    const template = super._toCloudFormation();
    dropImpliedDependsOn(template);
    return template;
  }

  constructor(scope: Construct, id: string, props: AdStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const catalog = catalogFiles(s.catalogPath);
    const playerDist = props.playerDist ?? PLAYER_DIST;
    if (!fs.existsSync(path.join(playerDist, 'index.html')) || !fs.existsSync(path.join(playerDist, 'player.js'))) {
      throw new Error(`${playerDist} holds no built player; run ./player/build.sh first`);
    }

    // ---- Recordings and thumbnails -------------------------------------
    // Recordings are the operator's data: `cdk destroy` keeps the bucket
    // (docs/deploy.md, Tear down, says how to delete it).
    const recordings = privateBucket(
      this,
      'Recordings',
      {
        noAccessLogs: 'Access logs would need a second bucket; thumbnails are transient machine input, read only by the on-thumbnail function.',
        noVersions: 'IVS writes each thumbnail and segment once under a new key; versions would only keep expired objects longer.',
      },
      [
        {
          id: 'expire-recordings-and-thumbnails',
          prefix: RECORDING_PREFIX,
          expiration: Duration.days(s.retentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    );
    pin(recordings, PINNED_LOGICAL_IDS.recordings);

    const recording = new ivs.CfnRecordingConfiguration(this, 'RecordingConfiguration', {
      destinationConfiguration: { s3: { bucketName: recordings.bucketName } },
      thumbnailConfiguration: {
        recordingMode: 'INTERVAL',
        targetIntervalSeconds: s.thumbnailIntervalSeconds,
        storage: ['SEQUENTIAL'],
        // The built-in detector is measured on 1280x720 frames; Rekognition
        // gets the full resolution.
        ...(s.detector === 'builtin' ? { resolution: 'HD' } : {}),
      },
      // A broadcaster who drops and reconnects within a minute stays in one
      // recording (one key prefix).
      recordingReconnectWindowSeconds: 60,
    });
    pin(recording, PINNED_LOGICAL_IDS.recordingConfiguration);

    const streamKeys: ivs.CfnStreamKey[] = [];
    for (let i = 1; i <= s.channels; i++) {
      const channel = new ivs.CfnChannel(this, `Channel${i}`, {
        name: `${this.stackName}-${i}`,
        type: s.channelType,
        latencyMode: 'LOW',
        recordingConfigurationArn: recording.attrArn,
      });
      pin(channel, channelLogicalId(i));
      this.channels.push(channel);
      // The channel resource creates no stream key; the key's value is never
      // an output (Outputs show the command that reads it).
      const key = new ivs.CfnStreamKey(this, `Channel${i}StreamKey`, { channelArn: channel.attrArn });
      pin(key, streamKeyLogicalId(i));
      streamKeys.push(key);
    }

    // ---- State and workflow --------------------------------------------
    const table = new dynamodb.Table(this, 'State', {
      partitionKey: { name: 'channel', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expires_at',
      // Display state only (what shows, cooldowns); it rebuilds itself.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    suppressCheckov(table, {
      CKV_AWS_119: 'Holds which product shows on which channel and until when: no personal or secret data; encrypted at rest with the AWS-owned key.',
    });

    // The workflow's ARN is built from its fixed name: on-tick must know it
    // (its config requires STATE_MACHINE_ARN) while the workflow must know
    // on-tick's ARN, and a token reference both ways would be a cycle.
    const stateMachineName = `${this.stackName}-republish`;
    const stateMachineArn = this.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // ---- Measurement key -----------------------------------------------
    // The key of the show tags: on-thumbnail and on-tick stamp cues with it,
    // the collector checks events and tracking links with it. Generated by
    // Secrets Manager (64 hex digits, 32 bytes); each function reads it once
    // at start-up (MEASUREMENT_KEY_SECRET_ARN, backend/src/secrets.rs), so
    // it is in no environment or template, and each role may read exactly
    // this secret. Rotating it (a new value; functions pick it up as they
    // start) makes the tracking links of past shows 404: do it between shows.
    const measurementKey = new secretsmanager.Secret(this, 'MeasurementKey', {
      description: `${this.stackName}: key of the show tags that cues carry and the collector checks (hex)`,
      generateSecretString: {
        passwordLength: 64,
        excludeUppercase: true,
        excludePunctuation: true,
        includeSpace: false,
        // Leaves 0-9 and a-f: hex, as the backend reads MEASUREMENT_KEY.
        excludeCharacters: 'ghijklmnopqrstuvwxyz',
      },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    pin(measurementKey, PINNED_LOGICAL_IDS.measurementKey);
    suppressCheckov(measurementKey, {
      CKV_AWS_149: 'Encrypted with the AWS-managed Secrets Manager key; read by three functions\' roles, each granted this secret alone, so a customer key adds a key policy and nothing else.',
    });
    // The collector's origin secret: CloudFront adds it to every request it
    // sends the collector, which refuses any request without it, so the
    // function URL is reachable through the distribution only and the
    // viewer address CloudFront adds can be believed. The distribution's
    // origin header resolves it at deploy time (a dynamic reference: not in
    // the template); the collector reads it at start-up.
    const originVerify = new secretsmanager.Secret(this, 'CollectorOriginVerify', {
      description: `${this.stackName}: the header value CloudFront sends the collector (x-origin-verify)`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    pin(originVerify, PINNED_LOGICAL_IDS.originVerify);
    suppressCheckov(originVerify, {
      CKV_AWS_149: 'Encrypted with the AWS-managed Secrets Manager key; read by the collector\'s role alone and resolved by CloudFormation into the distribution\'s origin header.',
    });

    // ---- Functions -----------------------------------------------------
    const lambdaCatalog = fs.mkdtempSync(path.join(os.tmpdir(), 'ivs-ads-'));
    stageCatalog(catalog, catalog.referenceImages, lambdaCatalog);
    const environment = lambdaEnvironment({
      TABLE_NAME: table.tableName,
      STATE_MACHINE_ARN: stateMachineArn,
      CATALOG_PATH: LAMBDA_CATALOG_PATH,
      DETECTOR_TEXT_MODELS: LAMBDA_TEXT_MODELS_PATH,
      MAX_ACTIVE_PRODUCTS: String(s.maxActiveProducts),
      REPUBLISH_SECONDS: String(s.republishSeconds),
      // Lambda's async retries deliver events late; an old frame must not
      // show a product now. Two thumbnail intervals and 30 s.
      MAX_EVENT_AGE_SECONDS: String(2 * s.thumbnailIntervalSeconds + 30),
      DETECTOR: s.detector,
      ...(s.projectVersionArn ? { REKOGNITION_PROJECT_VERSION_ARN: s.projectVersionArn } : {}),
      MEASUREMENT_KEY_SECRET_ARN: measurementKey.secretArn,
    });
    // Wordmarks in the catalog: on-thumbnail reads text, so it is built with
    // the backend's `text` feature and its package carries the two models
    // (15 MB) at text-models/, beside the catalog, where Config looks.
    const readsText = s.detector === 'builtin' && catalog.wordmarks.length > 0;
    if (readsText) {
      const missing = TEXT_MODEL_FILES.filter((f) => !fs.existsSync(path.join(TEXT_MODELS_DIR, f)));
      if (missing.length > 0) {
        throw new Error(
          `the catalog names wordmarks (${catalog.wordmarks.join(', ')}), which the built-in detector reads with its text models, ` +
            `but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not in ${TEXT_MODELS_DIR}; run scripts/setup.sh, which fetches them`,
        );
      }
    }
    // Both functions build with the same features: cargo then compiles the
    // dependencies once for the two (on-tick never loads the models, and
    // tract only adds size to its binary). Different features would build
    // the whole dependency tree twice for arm64 (21 min instead of ~10
    // for infra/test.sh, measured).
    const rustFunction = (id: string, binary: string, extra: Partial<lambda.FunctionOptions>, withModels = false) => {
      const logGroup = new logs.LogGroup(this, `${id}Logs`, {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      suppressCheckov(logGroup, {
        CKV_AWS_158: 'Logs hold product ids, labels and timings, no personal data; CloudWatch encrypts them at rest by default.',
      });
      // Its own role, without AWSLambdaBasicExecutionRole (logs:* on any log
      // group): it may write to its own log group and nothing else.
      const role = new iam.Role(this, `${id}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `${binary}: exactly the grants in lib/stack.ts`,
      });
      logGroup.grantWrite(role);
      const fn = new RustFunction(this, id, {
        role,
        manifestPath: BACKEND_MANIFEST,
        binaryName: binary,
        bundling: {
          architecture: lambda.Architecture.ARM_64,
          profile: s.buildProfile,
          // The catalog (and the built-in detector's reference images) ship
          // inside the package, at $LAMBDA_TASK_ROOT/catalog.json.
          commandHooks: {
            beforeBundling: () => [],
            afterBundling: (_input: string, output: string) => [
              `cp -R ${shellQuote(lambdaCatalog)}/. ${shellQuote(output)}/`,
              ...(withModels
                ? [
                    `mkdir -p ${shellQuote(path.join(output, path.basename(LAMBDA_TEXT_MODELS_PATH)))}`,
                    ...TEXT_MODEL_FILES.map((f) => `cp ${shellQuote(path.join(TEXT_MODELS_DIR, f))} ${shellQuote(path.join(output, path.basename(LAMBDA_TEXT_MODELS_PATH), f))}`),
                  ]
                : []),
            ],
          },
          ...(readsText ? { cargoLambdaFlags: ['--features', 'text'] } : {}),
        },
        environment,
        logGroup,
        ...extra,
      });
      // A reservation satisfies CKV_AWS_115; a suppression then would be unneeded.
      const { CKV_AWS_115, ...reasons } = LAMBDA_REASONS;
      suppressCheckov(fn, extra.reservedConcurrentExecutions === undefined ? { ...reasons, CKV_AWS_115 } : reasons);
      return fn;
    };

    const failed = new sqs.Queue(this, 'OnThumbnailFailed', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    suppressCheckov(failed, {
      CKV_AWS_27: 'Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); the check recognizes KMS keys only.',
    });
    this.onThumbnail = rustFunction('OnThumbnail', 'on-thumbnail', {
      description: 'Finds catalog products in an IVS thumbnail, decides what shows, publishes the cue.',
      // The built-in detector runs on the CPU: 1769 MB is one full vCPU.
      memorySize: s.detector === 'builtin' ? 1769 : 512,
      timeout: Duration.seconds(30),
      // S3 invokes asynchronously: two retries, and a thumbnail older than
      // five minutes is worthless, so it goes to the queue instead.
      retryAttempts: 2,
      maxEventAge: Duration.minutes(5),
      deadLetterQueue: failed,
    }, readsText);
    this.onTick = rustFunction('OnTick', 'on-tick', {
      description: 'One step of the re-publishing workflow: re-sends the channel cue or clears it.',
      memorySize: 256,
      timeout: Duration.seconds(10),
    });
    suppressCheckov(this.onTick, {
      CKV_AWS_116: 'Invoked synchronously by the workflow, whose Retry handles failures; a dead-letter queue applies to asynchronous calls only.',
    });

    const workflow = new sfn.StateMachine(this, 'Republish', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      // Inline (not an S3 asset), so the template is complete and linted whole.
      definitionBody: sfn.DefinitionBody.fromString(fs.readFileSync(WORKFLOW_DEFINITION, 'utf8')),
      definitionSubstitutions: { TickFunctionArn: this.onTick.functionArn },
    });

    // ---- Least-privilege grants ----------------------------------------
    const channelArns = this.channels.map((c) => c.attrArn);
    const allow = (fn: lambda.Function, actions: string[], resources: string[]) =>
      fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources }));
    for (const fn of [this.onThumbnail, this.onTick]) {
      allow(fn, ['ivs:PutMetadata'], channelArns);
      allow(fn, TABLE_ACTIONS, [table.tableArn]);
      // The show tags' key, read once at start-up.
      allow(fn, ['secretsmanager:GetSecretValue'], [measurementKey.secretArn]);
    }
    // on-thumbnail starts the workflow; on-tick hands a long show over to a
    // new execution after MAX_WORKFLOW_STEPS (backend/src/handlers.rs).
    // test/permissions.test.ts holds every grant here to a call the
    // functions make over the wire, and every such call to a grant.
    for (const fn of [this.onThumbnail, this.onTick]) {
      allow(fn, ['states:StartExecution'], [stateMachineArn]);
    }
    allow(this.onThumbnail, ['s3:GetObject'], [recordings.arnForObjects(THUMBNAIL_OBJECTS)]);
    if (s.detector === 'rekognition' && s.projectVersionArn) {
      allow(this.onThumbnail, ['rekognition:DetectCustomLabels'], [s.projectVersionArn]);
    }
    if (s.detector === 'builtin' && catalog.s3References.length > 0) {
      allow(
        this.onThumbnail,
        ['s3:GetObject'],
        catalog.s3References.map((r) => this.formatArn({ service: 's3', region: '', account: '', resource: r.bucket, resourceName: r.key })),
      );
    }
    this.onTick.grantInvoke(workflow);

    // ---- Measurement: counters, raw events, the collector ---------------
    // Counters and dedupe records (backend/src/collector.rs has the key
    // layout). What advertisers are billed on: kept when the stack goes.
    const measureTable = new dynamodb.Table(this, 'Measurement', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expires_at',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    pin(measureTable, PINNED_LOGICAL_IDS.measurementTable);
    // The report reads counters by day with Query, never a Scan: only
    // counter items carry gpk (`s#<day>` or `h#<day>`) and gsk, so the
    // index holds no dedupe record.
    measureTable.addGlobalSecondaryIndex({
      indexName: REPORT_INDEX,
      partitionKey: { name: 'gpk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    suppressCheckov(measureTable, {
      CKV_AWS_119: 'Counts per show and hour and event ids with random per-page viewer ids: no personal or secret data; encrypted at rest with the AWS-owned key.',
    });

    const events = privateBucket(
      this,
      'MeasurementEvents',
      {
        noAccessLogs: 'Written only by Firehose and read by Athena queries, both logged in CloudTrail; access logs would need a second bucket.',
        noVersions: 'Firehose writes each object once under a new key; versions would only keep expired objects longer.',
      },
      [{ id: 'expire-raw-events', expiration: Duration.days(s.eventRetentionDays), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    );
    pin(events, PINNED_LOGICAL_IDS.measurementEvents);

    // Firehose's own role: write objects under its two prefixes, and its
    // delivery errors to its log stream.
    const streamLogs = new logs.LogGroup(this, 'MeasurementStreamLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    suppressCheckov(streamLogs, {
      CKV_AWS_158: 'Delivery errors name objects and error codes, no personal data; CloudWatch encrypts them at rest by default.',
    });
    const streamLogStream = new logs.LogStream(this, 'MeasurementStreamLogStream', { logGroup: streamLogs, removalPolicy: RemovalPolicy.DESTROY });
    const streamRole = new iam.Role(this, 'MeasurementStreamRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': this.account } } }),
      description: 'Firehose: raw measurement events to the events bucket',
    });
    streamRole.addToPolicy(new iam.PolicyStatement({
      actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
      resources: [events.bucketArn],
    }));
    streamRole.addToPolicy(new iam.PolicyStatement({
      actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
      resources: [events.arnForObjects(`${EVENTS_PREFIX}*`), events.arnForObjects('errors/*')],
    }));
    streamRole.addToPolicy(new iam.PolicyStatement({
      actions: ['logs:PutLogEvents'],
      resources: [this.formatArn({ service: 'logs', resource: 'log-group', resourceName: `${streamLogs.logGroupName}:log-stream:${streamLogStream.logStreamName}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
    }));
    const stream = new firehose.CfnDeliveryStream(this, 'MeasurementStream', {
      deliveryStreamType: 'DirectPut',
      deliveryStreamEncryptionConfigurationInput: { keyType: 'AWS_OWNED_CMK' },
      extendedS3DestinationConfiguration: {
        bucketArn: events.bucketArn,
        roleArn: streamRole.roleArn,
        // One folder per UTC day (Athena's partition `dt`), gzip JSON lines.
        prefix: `${EVENTS_PREFIX}dt=!{timestamp:yyyy-MM-dd}/`,
        errorOutputPrefix: 'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/',
        bufferingHints: { intervalInSeconds: 60, sizeInMBs: 5 },
        compressionFormat: 'GZIP',
        cloudWatchLoggingOptions: { enabled: true, logGroupName: streamLogs.logGroupName, logStreamName: streamLogStream.logStreamName },
      },
    });
    // Firehose checks its role when the stream is created: the policy first.
    stream.node.addDependency(streamRole);

    // Athena: a table over the raw events with partition projection, so a
    // new day needs no crawler and no MSCK REPAIR.
    const athenaDatabase = `${this.stackName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_measurement`;
    const database = new glue.CfnDatabase(this, 'MeasurementDatabase', {
      catalogId: this.account,
      databaseInput: { name: athenaDatabase, description: 'raw measurement events (docs/measurement.md)' },
    });
    const eventsTable = new glue.CfnTable(this, 'MeasurementEventsTable', {
      catalogId: this.account,
      databaseName: athenaDatabase,
      tableInput: {
        name: 'events',
        description: 'one row per accepted event; robot or no_impression rows are invalid traffic, not in the counts',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': `NOW-${s.eventRetentionDays}DAYS,NOW`,
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'storage.location.template': `s3://${events.bucketName}/${EVENTS_PREFIX}dt=\${dt}/`,
        },
        partitionKeys: [{ name: 'dt', type: 'string' }],
        storageDescriptor: {
          location: `s3://${events.bucketName}/${EVENTS_PREFIX}`,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
          // The fields of backend::measure::Recorded, as Firehose receives them.
          columns: [
            { name: 'event_id', type: 'string' },
            { name: 'viewer', type: 'string' },
            { name: 'measure', type: 'string', comment: 'impression, viewable, open, dismiss, click or scan' },
            { name: 'channel', type: 'string' },
            { name: 'product', type: 'string' },
            { name: 'show', type: 'bigint', comment: 'the show id: when the display window opened, Unix ms' },
            { name: 'at', type: 'bigint', comment: 'when the collector received it, Unix seconds' },
            { name: 'robot', type: 'boolean' },
            // A viewable without an impression (null before the rule, and false).
            { name: 'no_impression', type: 'boolean' },
          ],
        },
      },
    });
    eventsTable.addResourceDependency(database);

    // The measurement stream: the collector appends accepted events, the
    // aggregator counts them. On demand: it scales with the audience, and
    // a write it throttles is answered 503 and sent again by the player.
    const measureEvents = new kinesis.Stream(this, 'MeasurementQueue', {
      streamMode: kinesis.StreamMode.ON_DEMAND,
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: Duration.hours(24),
    });
    (measureEvents.node.defaultChild as CfnResource).applyRemovalPolicy(RemovalPolicy.DESTROY);

    this.collector = rustFunction('Collector', 'collector', {
      description: 'Measurement: checks players\' beacons and tracking-link visits (QR scans, Open clicks) onto the measurement stream, then redirects to the product.',
      memorySize: 256,
      timeout: Duration.seconds(10),
      environment: lambdaEnvironment({
        CATALOG_PATH: LAMBDA_CATALOG_PATH,
        MEASURE_STREAM_NAME: measureEvents.streamName,
        MEASUREMENT_KEY_SECRET_ARN: measurementKey.secretArn,
        ORIGIN_VERIFY_SECRET_ARN: originVerify.secretArn,
      }),
      ...(s.collectorConcurrency !== undefined ? { reservedConcurrentExecutions: s.collectorConcurrency } : {}),
    });
    suppressCheckov(this.collector, {
      CKV_AWS_116: 'Invoked synchronously through its function URL: a failed beacon or link answers an error to the caller; a dead-letter queue applies to asynchronous calls only.',
    });
    allow(this.collector, ['kinesis:PutRecords'], [measureEvents.streamArn]);
    allow(this.collector, ['secretsmanager:GetSecretValue'], [measurementKey.secretArn, originVerify.secretArn]);

    // The aggregator: counts the stream into the table, raw events to
    // Firehose. A failed batch is delivered again (safe: measure_aws.rs),
    // then its records' place goes to a dead-letter queue and the alarm.
    const aggregatorDeadLetters = new sqs.Queue(this, 'AggregatorFailed', {
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
    });
    suppressCheckov(aggregatorDeadLetters, {
      CKV_AWS_27: 'Holds the shard and sequence numbers of batches that failed, no event data; SQS encrypts at rest with its own key by default.',
    });
    const aggregator = rustFunction('Aggregator', 'aggregator', {
      description: 'Measurement: counts the measurement stream into the counters (one write per counter item per batch) and sends raw events to Firehose.',
      memorySize: 256,
      timeout: Duration.seconds(60),
      environment: lambdaEnvironment({
        MEASURE_TABLE_NAME: measureTable.tableName,
        MEASURE_DELIVERY_STREAM_NAME: stream.ref,
      }),
    });
    suppressCheckov(aggregator, {
      CKV_AWS_116: 'Invoked by a Kinesis event source mapping, whose on-failure destination (AggregatorFailed) is the dead-letter queue; a function DLQ applies to asynchronous calls only.',
    });
    aggregator.addEventSource(new lambdaSources.KinesisEventSource(measureEvents, {
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: AGGREGATOR_BATCH_SIZE,
      maxBatchingWindow: Duration.seconds(AGGREGATOR_BATCHING_WINDOW_SECONDS),
      parallelizationFactor: 1,
      retryAttempts: AGGREGATOR_RETRIES,
      bisectBatchOnError: false,
      onFailure: new lambdaSources.SqsDlq(aggregatorDeadLetters),
    }));
    allow(aggregator, MEASURE_TABLE_ACTIONS, [measureTable.tableArn]);
    allow(aggregator, ['firehose:PutRecordBatch'], [stream.attrArn]);
    // Players post beacons from any page (navigator.sendBeacon sends no
    // credentials and cannot sign), and phones follow the QR code: the URL
    // is public by design, and every request is validated (size, fields,
    // show tag, rate per viewer) before anything is counted.
    const collectorUrl = this.collector.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    suppressCheckov(collectorUrl, {
      CKV_AWS_258: 'Public on purpose: beacons come from viewers\' browsers and scans from phones, neither can sign; every request is validated before it counts.',
    });

    // The report function: the hosted dashboard's read of the counters
    // (backend/src/report_api.rs). Its URL takes IAM-signed requests only
    // (below, once the dashboard's origin is known); its role may only Scan
    // the counters. Why IAM and not Cognito: see report_api.rs.
    this.report = rustFunction('Report', 'report', {
      description: 'Measurement: the counters per show and hour for the hosted dashboard (IAM-signed requests only).',
      memorySize: 256,
      timeout: Duration.seconds(10),
      environment: lambdaEnvironment({ MEASURE_TABLE_NAME: measureTable.tableName }),
    });
    suppressCheckov(this.report, {
      CKV_AWS_116: 'Invoked synchronously through its function URL: a failed read answers an error to the dashboard; a dead-letter queue applies to asynchronous calls only.',
    });
    allow(this.report, ['dynamodb:Query'], [`${measureTable.tableArn}/index/${REPORT_INDEX}`]);

    recordings.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.LambdaDestination(this.onThumbnail),
      { prefix: RECORDING_PREFIX, suffix: THUMBNAIL_SUFFIX },
    );

    // ---- Alarms --------------------------------------------------------
    const alarms = new sns.Topic(this, 'Alarms', { enforceSSL: true });
    suppressCheckov(alarms, {
      CKV_AWS_26: 'CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key; messages carry alarm names only.',
    });
    if (s.alarmEmail) alarms.addSubscription(new snsSubs.EmailSubscription(s.alarmEmail));
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string, threshold = 1) => {
      const a = new cloudwatch.Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(new cwActions.SnsAction(alarms));
    };
    const fiveMinutes = { period: Duration.minutes(5), statistic: 'Sum' };
    alarm('OnThumbnailErrors', this.onThumbnail.metricErrors(fiveMinutes), 'on-thumbnail failed; its logs say which thumbnail and why.');
    alarm('OnThumbnailThrottles', this.onThumbnail.metricThrottles(fiveMinutes), 'on-thumbnail was throttled: raise the account concurrency or the thumbnail interval.');
    alarm(
      'OnThumbnailFailedEvents',
      failed.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      'thumbnail events gave up after retries and wait in the OnThumbnailFailed queue.',
    );
    alarm('OnTickErrors', this.onTick.metricErrors(fiveMinutes), 'on-tick failed; cards may stay up until the workflow retries.');
    alarm('RepublishFailed', workflow.metricFailed(fiveMinutes), 'a re-publishing workflow execution failed.');
    alarm('CollectorErrors', this.collector.metricErrors(fiveMinutes), 'the collector failed; events of that batch were not counted (its logs say why).');
    alarm('CollectorThrottles', this.collector.metricThrottles(fiveMinutes), 'the collector was throttled: beacons and tracking links were refused; raise collectorConcurrency or the account quota.');
    // The collector answers a failed or refused batch (503, 400, 429) and a
    // link whose count was lost (302): none is a Lambda error, so it says
    // so in its own metrics (one embedded-metric-format log line a request,
    // backend/src/collector.rs: RequestMetrics).
    const collectorMetric = (name: string) =>
      new cloudwatch.Metric({
        namespace: COLLECTOR_METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { Function: this.collector.functionName },
        period: Duration.minutes(5),
        statistic: 'Sum',
      });
    alarm('CollectorFailedBatches', collectorMetric('FailedBatches'), 'the collector could not store batches (503): players send them again, but the store is failing or throttled; its logs say why.');
    alarm('CollectorLostLinks', collectorMetric('LostLinks'), 'tracking links were followed but their scans or clicks could not be stored: those counts are lost.');
    alarm('AggregatorErrors', aggregator.metricErrors(fiveMinutes), 'the aggregator failed a batch; the stream delivers it again (its logs say why). Counts wait until it succeeds.');
    alarm(
      'AggregatorIteratorAge',
      aggregator.metric('IteratorAge', { period: Duration.minutes(5), statistic: 'Maximum' }),
      'the aggregator is more than 5 minutes behind the measurement stream: the report lags, and records older than 24 h are lost.',
      300_000,
    );
    alarm(
      'AggregatorDeadLetters',
      aggregatorDeadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      'the aggregator gave up on a batch: its events are not counted. The message names the shard and sequence numbers; adctl reconcile recounts from the raw events.',
    );
    const aggregatorMetric = (name: string) =>
      new cloudwatch.Metric({
        namespace: COLLECTOR_METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { Function: aggregator.functionName },
        period: Duration.minutes(5),
        statistic: 'Sum',
      });
    alarm('AggregatorBadRecords', aggregatorMetric('BadRecords'), 'the measurement stream held records that are not events (skipped): a foreign writer or a bug.');
    // Throttling, as AWS counts it (the SDK's and our own retries absorb it,
    // so the failure alarms above stay quiet until it is too late): a show
    // has outgrown the stream's shards or the table's partitions.
    alarm(
      'MeasurementQueueThrottled',
      measureEvents.metricPutRecordsThrottledRecords({ period: Duration.minutes(5), statistic: 'Sum' }),
      'the measurement stream throttled more than 1,000 of the collector\'s records in 5 minutes (each is put again, then the beacon is re-sent): give the stream more shards before the next large show (docs/measurement.md, capacity).',
      1000,
    );
    alarm(
      'MeasurementTableThrottled',
      measureTable.metricThrottledRequestsForOperations({
        operations: [dynamodb.Operation.PUT_ITEM, dynamodb.Operation.UPDATE_ITEM, dynamodb.Operation.BATCH_WRITE_ITEM, dynamodb.Operation.BATCH_GET_ITEM, dynamodb.Operation.QUERY],
        period: Duration.minutes(5),
      }),
      'DynamoDB throttled more than 100 of the measurement table\'s requests in 5 minutes (retried: counts lag, none lost unless the aggregator\'s dead letters fill).',
      100,
    );
    alarm(
      'RawEventsDeliveryFailed',
      new cloudwatch.Metric({
        namespace: 'AWS/Firehose',
        metricName: 'DeliveryToS3.DataFreshness',
        dimensionsMap: { DeliveryStreamName: stream.ref },
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      'Firehose has held raw events for more than 15 minutes without delivering them to S3 (its log stream says why).',
      900,
    );
    alarm(
      'CollectorRefusedBatches',
      collectorMetric('RefusedBatches'),
      'more than 50 beacons in 5 minutes were refused whole (malformed, forged, or over a viewer\'s rate): a broken player build or abuse; the logs give each reason.',
      50,
    );

    // ---- The player ----------------------------------------------------
    const site = privateBucket(this, 'Player', {
      noAccessLogs: 'Static player files; CloudFront in front of it is where viewer requests arrive.',
      noVersions: 'Every deploy uploads the player again from player/dist; the repository is its history.',
    });
    pin(site, PINNED_LOGICAL_IDS.playerBucket);

    // Embedders load player.js, its wasm and the catalog from other origins:
    // CORS for GET, plus the usual security headers.
    const headers = new cloudfront.ResponseHeadersPolicy(this, 'PlayerHeaders', {
      corsBehavior: {
        accessControlAllowOrigins: ['*'],
        accessControlAllowMethods: ['GET', 'HEAD'],
        accessControlAllowHeaders: ['*'],
        accessControlAllowCredentials: false,
        originOverride: true,
      },
      securityHeadersBehavior: {
        contentTypeOptions: { override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
        // Never framed (the CSP's frame-ancestors, for older browsers too).
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        // The one policy (player/web/content-security-policy.txt) that the
        // studio serves too, where the browser tests prove it.
        contentSecurityPolicy: { contentSecurityPolicy: playerCsp(), override: true },
      },
    });
    const siteOrigin = origins.S3BucketOrigin.withOriginAccessControl(site);
    // The edge's rate rule: one address may make edgeRateLimit requests to
    // the collector's paths in 5 minutes, then AWS WAF blocks it until it
    // slows down (the collector's own limits are per warm instance). A
    // CLOUDFRONT-scope web ACL can only live in us-east-1: a stack there
    // makes it; elsewhere, pass one as webAclArn (docs/measurement.md).
    // Cost: $5 a month, $1 a rule, $0.60 per million requests.
    let webAclArn = s.webAclArn;
    if (webAclArn === undefined && !Token.isUnresolved(this.region) && this.region === 'us-east-1') {
      const acl = new wafv2.CfnWebACL(this, 'EdgeRateRule', {
        scope: 'CLOUDFRONT',
        defaultAction: { allow: {} },
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${this.stackName}-edge`, sampledRequestsEnabled: true },
        rules: [{
          name: 'CollectorRatePerAddress',
          priority: 0,
          action: { block: {} },
          visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${this.stackName}-collector-rate`, sampledRequestsEnabled: true },
          statement: {
            rateBasedStatement: {
              limit: s.edgeRateLimit,
              evaluationWindowSec: 300,
              aggregateKeyType: 'IP',
              scopeDownStatement: {
                orStatement: {
                  statements: ['/measure/', '/r/'].map((prefix) => ({
                    byteMatchStatement: {
                      fieldToMatch: { uriPath: {} },
                      positionalConstraint: 'STARTS_WITH',
                      searchString: prefix,
                      textTransformations: [{ priority: 0, type: 'NONE' }],
                    },
                  })),
                },
              },
            },
          },
        }],
      });
      suppressCheckov(acl, {
        CKV_AWS_192: 'Nothing behind this distribution runs Java or Log4j (S3 files and Rust functions); the managed bad-inputs rule group would add $1 a month and its share per request for no protection.',
      });
      webAclArn = acl.attrArn;
    }
    if (webAclArn === undefined) {
      Annotations.of(this).addWarning(
        `no edge rate rule: a CLOUDFRONT web ACL must be made in us-east-1 and this stack is in ${this.region}; ` +
          'make one (docs/measurement.md, "The edge\'s rate rule") and deploy with -c webAclArn=<its ARN>',
      );
    }
    const distribution = new cloudfront.Distribution(this, 'PlayerDistribution', {
      ...(webAclArn !== undefined ? { webAclId: webAclArn } : {}),
      comment: `${this.stackName} player`,
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: siteOrigin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
    });
    pin(distribution, PINNED_LOGICAL_IDS.playerDistribution);
    // The collector on the player's own name: beacons from the hosted page
    // are same-origin, and the QR code's link stays short. Never cached;
    // every viewer header but Host goes through (the collector reads the
    // User-Agent to keep robots out of the counts).
    // With the origin secret (above), and the viewer's address, which the
    // collector's rate limits and link counts key on (hashed).
    const collectorOrigin = new origins.FunctionUrlOrigin(collectorUrl, {
      customHeaders: { 'x-origin-verify': originVerify.secretValue.unsafeUnwrap() },
    });
    const collectorRequests = new cloudfront.OriginRequestPolicy(this, 'CollectorRequests', {
      comment: 'The collector: what it reads of a viewer request (user agent, prefetch hints, the viewer address), no cookies',
      headerBehavior: cloudfront.OriginRequestHeaderBehavior.allowList(
        'user-agent', 'sec-purpose', 'purpose', 'x-purpose', 'x-moz', 'cloudfront-viewer-address',
      ),
      queryStringBehavior: cloudfront.OriginRequestQueryStringBehavior.all(),
      cookieBehavior: cloudfront.OriginRequestCookieBehavior.none(),
    });
    for (const pattern of COLLECTOR_PATHS) {
      distribution.addBehavior(pattern, collectorOrigin, {
        viewerProtocolPolicy: pattern === '/r/*' ? cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS : cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: pattern === '/r/*' ? cloudfront.AllowedMethods.ALLOW_GET_HEAD : cloudfront.AllowedMethods.ALLOW_ALL,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: collectorRequests,
        responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        compress: false,
      });
    }
    // The dashboard, hosted with the player: signed requests go from the
    // reader's browser straight to the report function's URL (SigV4 signs
    // its host), so CORS admits this origin there and the page's own CSP
    // admits that host.
    const playerOrigin = `https://${distribution.distributionDomainName}`;
    const reportUrl = this.report.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.AWS_IAM,
      cors: {
        allowedOrigins: [playerOrigin],
        allowedMethods: [lambda.HttpMethod.GET],
        allowedHeaders: ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],
        maxAge: Duration.hours(1),
      },
    });
    // Any function URL host of this region: the exact host would make the
    // URL (whose CORS names the distribution) and the distribution (whose
    // headers would name the URL) depend on each other. Only this page's
    // own scripts run (script-src 'self'), and only they hold the keys.
    const reportHost = `*.lambda-url.${this.region}.on.aws`;
    const dashboardHeaders = new cloudfront.ResponseHeadersPolicy(this, 'DashboardHeaders', {
      securityHeadersBehavior: {
        contentTypeOptions: { override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        contentSecurityPolicy: {
          contentSecurityPolicy: dashboardCsp(`https://${reportHost}`),
          override: true,
        },
      },
    });
    distribution.addBehavior('/dashboard/*', siteOrigin, {
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
      cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
      responseHeadersPolicy: dashboardHeaders,
      compress: true,
    });
    // Who may read the reports: attach this policy to an operator's or an
    // advertiser's role or user. Nothing else can call the report URL.
    const dashboardReaders = new iam.ManagedPolicy(this, 'DashboardReaders', {
      description: `${this.stackName}: read the measurement reports through the hosted dashboard (the report function URL, IAM-signed)`,
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [this.report.functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
      ],
    });

    suppressCheckov(distribution, {
      ...(webAclArn === undefined
        ? { CKV_AWS_68: 'No CLOUDFRONT web ACL can be made outside us-east-1; synth warns and docs/measurement.md says how to attach one (webAclArn).' }
        : {}),
      CKV_AWS_86: 'Access logs need a log bucket with ACLs; viewer numbers come from IVS\'s own metrics.',
      CKV_AWS_174: 'The default *.cloudfront.net certificate fixes the minimum TLS version; with your own domain and certificate, set minimumProtocolVersion TLSv1.2_2021.',
    });

    // Staged as catalog/catalog.json plus its card images, at the same paths.
    const playerCatalog = fs.mkdtempSync(path.join(os.tmpdir(), 'ivs-ads-'));
    stageCatalog(catalog, catalog.cardImages, path.join(playerCatalog, 'catalog'));
    // The dashboard's files at dashboard/, the same the studio serves; its
    // config.json (written at deploy, when the URL is known) names the
    // report function, which switches the page to IAM sign-in.
    // Its policy file is sent as a header (above), not hosted.
    fs.cpSync(DASHBOARD_DIR, path.join(playerCatalog, 'dashboard'), {
      recursive: true,
      filter: (source) => source !== DASHBOARD_CSP_FILE,
    });
    const deployment = new s3deploy.BucketDeployment(this, 'PlayerFiles', {
      destinationBucket: site,
      sources: [
        s3deploy.Source.asset(playerDist, { exclude: ['index.html'] }),
        s3deploy.Source.data('index.html', playerPage(this.channels, `https://${distribution.distributionDomainName}`)),
        s3deploy.Source.asset(playerCatalog),
        s3deploy.Source.jsonData('dashboard/config.json', { api: reportUrl.url, region: this.region }),
      ],
      distribution,
      distributionPaths: ['/*'],
      // Unhashed file names: browsers re-check after 5 minutes, and every
      // deploy invalidates CloudFront.
      cacheControl: [s3deploy.CacheControl.maxAge(Duration.minutes(5))],
      memoryLimit: 512,
    });

    // CDK grants the deployment's invalidation on `*`; narrow it to this
    // distribution (both actions support resource-level permissions).
    narrowInvalidation(deployment, this.formatArn({
      service: 'cloudfront',
      region: '',
      resource: 'distribution',
      resourceName: distribution.distributionId,
    }));

    // CDK's own helper functions (the bucket-notification and deployment
    // custom resources) run only while CloudFormation deploys.
    for (const child of this.node.findAll()) {
      if (child instanceof CfnResource && child.cfnResourceType === 'AWS::Lambda::Function' && child.getMetadata('checkov') === undefined) {
        const { CKV_AWS_173, ...always } = LAMBDA_REASONS;
        suppressCheckov(child, {
          ...always,
          // Only the deployment handler has environment variables.
          ...(child instanceof lambda.CfnFunction && child.environment ? { CKV_AWS_173 } : {}),
          CKV_AWS_116: 'A CDK custom-resource handler: CloudFormation calls it during deployment and a failure fails the deployment.',
        });
      }
    }

    // ---- Outputs -------------------------------------------------------
    const playerUrl = `https://${distribution.distributionDomainName}/`;
    this.channels.forEach((channel, i) => {
      const n = i + 1;
      new CfnOutput(this, `Channel${n}Arn`, { value: channel.attrArn, description: `channel ${n}: ARN` });
      new CfnOutput(this, `Channel${n}IngestServer`, {
        value: `rtmps://${channel.attrIngestEndpoint}:443/app/`,
        description: `channel ${n}: OBS Settings > Stream > Server (RTMPS)`,
      });
      new CfnOutput(this, `Channel${n}PlaybackUrl`, { value: channel.attrPlaybackUrl, description: `channel ${n}: HLS playback URL` });
      new CfnOutput(this, `Channel${n}StreamKeyCommand`, {
        value: `aws ivs get-stream-key --region ${this.region} --arn ${streamKeys[i].attrArn} --query streamKey.value --output text`,
        description: `channel ${n}: prints the stream key for OBS (keep it secret)`,
      });
    });
    new CfnOutput(this, 'PlayerUrl', { value: playerUrl, description: 'the player page, with every channel' });
    new CfnOutput(this, 'CatalogUrl', { value: `${playerUrl}catalog/catalog.json`, description: 'the catalog as the player reads it' });
    new CfnOutput(this, 'EmbedScript', { value: `${playerUrl}player.js`, description: 'embed: <script type="module" src="..."> and <ivs-ad-player>' });
    new CfnOutput(this, 'RecordingsBucket', { value: recordings.bucketName });
    new CfnOutput(this, 'PlayerBucket', { value: site.bucketName });
    new CfnOutput(this, 'StateTable', { value: table.tableName });
    new CfnOutput(this, 'WorkflowArn', { value: stateMachineArn });
    new CfnOutput(this, 'AlarmsTopic', { value: alarms.topicArn });
    new CfnOutput(this, 'CollectorUrl', { value: `${playerUrl}measure/events`, description: 'measurement beacons; embed with collector="https://<this name>"' });
    new CfnOutput(this, 'TrackingLinks', { value: `${playerUrl}r/`, description: 'QR codes and Open links: /r/<q|o>.<show key>, 302 to the product' });
    new CfnOutput(this, 'MeasurementTable', { value: measureTable.tableName, description: 'counters per show and hour' });
    new CfnOutput(this, 'DashboardUrl', {
      value: `${playerUrl}dashboard/index.html`,
      description: 'the measurement dashboard: sign in with credentials that have the DashboardReaders policy',
    });
    new CfnOutput(this, 'ReportUrl', { value: reportUrl.url, description: 'the report function URL (IAM-signed GET /measure/report, /measure/hours)' });
    new CfnOutput(this, 'DashboardReadersPolicy', { value: dashboardReaders.managedPolicyArn, description: 'attach to whoever may read the reports' });
    new CfnOutput(this, 'ReportCommand', {
      value: `adctl report --region ${this.region} --measure-table ${measureTable.tableName}`,
      description: 'impressions, views, opens and scans per show (table, --format csv or json)',
    });
    new CfnOutput(this, 'EventsBucket', { value: events.bucketName, description: 'raw events, gzip JSON lines under events/dt=YYYY-MM-DD/' });
    new CfnOutput(this, 'AthenaTable', { value: `${athenaDatabase}.events`, description: 'the raw events in Athena (docs/measurement.md has a query)' });
  }
}

function narrowInvalidation(deployment: s3deploy.BucketDeployment, distributionArn: string): void {
  const policy = deployment.handlerRole.node.tryFindChild('DefaultPolicy') as iam.Policy | undefined;
  const cfn = policy?.node.defaultChild as iam.CfnPolicy | undefined;
  if (!policy || !cfn) throw new Error('BucketDeployment has no DefaultPolicy: the CDK changed; revisit narrowInvalidation');
  const statements = (Stack.of(deployment).resolve(policy.document) as { Statement: { Action: string | string[] }[] }).Statement;
  const index = statements.findIndex((st) => [st.Action].flat().includes('cloudfront:CreateInvalidation'));
  if (index < 0) throw new Error('BucketDeployment grants no CreateInvalidation: the CDK changed; revisit narrowInvalidation');
  cfn.addPropertyOverride(`PolicyDocument.Statement.${index}.Resource`, distributionArn);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The hosted page: one player per channel, with the playback URL filled in
 * at deploy time, the catalog deployed beside it, and the collector (on the
 * same CloudFront name) measuring.
 */
export function playerPage(channels: ivs.CfnChannel[], collector: string): string {
  const players = channels
    .map(
      (c, i) =>
        `<h2>Channel ${i + 1}</h2>\n<ivs-ad-player playback-url="${c.attrPlaybackUrl}" catalog="catalog/catalog.json" collector="${collector}"></ivs-ad-player>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live shopping</title>
<link rel="stylesheet" href="page.css">
<h1>Live shopping</h1>
<script type="module" src="player.js"></script>
${players}
</html>
`;
}
