// The functions of the decision core: on-thumbnail (finds the catalog's
// products in a thumbnail, decides, publishes the cue), on-tick (one step of
// the re-publishing workflow) and the operator function (pin, unpin, clear,
// pause, resume on the function's clock, IAM-signed), with exactly the
// grants of the calls they make.

import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { CatalogFiles } from '../catalog.ts';
import { lambdaEnvironment } from '../repo.ts';
import type { Settings } from '../settings.ts';
import { CATALOG_KEY, type CatalogStore, REFERENCES_PREFIX } from './catalog-store.ts';
import { type Alarms, FIVE_MINUTES, pin, PINNED_LOGICAL_IDS, suppressCheckov } from './common.ts';
import {
  CUE_LOG_PREFIX,
  RECORDING_ENDED_OBJECTS,
  RECORDING_ENDED_SUFFIX,
  RECORDING_PREFIX,
  type Recordings,
  REPLAY_CUES_OBJECTS,
  REPLAY_INDEX_KEY,
  SIGHTINGS_PREFIX,
  THUMBNAIL_OBJECTS,
  THUMBNAIL_SUFFIX,
} from './recordings.ts';
import { allow, LAMBDA_CATALOG_PATH, LAMBDA_TEXT_MODELS_PATH, type RustFunctions } from './rust-function.ts';
import { type StateAndWorkflow, TABLE_ACTIONS } from './state-and-workflow.ts';

export interface DecisionFunctionsProps {
  readonly settings: Settings;
  readonly catalog: CatalogFiles;
  readonly rust: RustFunctions;
  readonly recordings: Recordings;
  readonly state: StateAndWorkflow;
  /** The show tags' key: both functions stamp cues with it. */
  readonly measurementKey: secretsmanager.ISecret;
  /** The live catalog the functions follow and the operator function writes. */
  readonly catalogStore: CatalogStore;
  readonly alarms: Alarms;
}

export class DecisionFunctions extends Construct {
  readonly onThumbnail: lambda.Function;
  readonly onTick: lambda.Function;
  /** The operator function, and its URL (AuthType AWS_IAM). */
  readonly operator: lambda.Function;
  readonly operatorUrl: lambda.FunctionUrl;
  /** Attach to whoever may steer the channels: invoke the operator URL. */
  readonly operators: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: DecisionFunctionsProps) {
    super(scope, id);
    const { settings: s, catalog, rust, recordings, state, measurementKey, catalogStore, alarms } = props;
    const environment = lambdaEnvironment({
      TABLE_NAME: state.table.tableName,
      STATE_MACHINE_ARN: state.stateMachineArn,
      CATALOG_PATH: LAMBDA_CATALOG_PATH,
      CATALOG_OBJECT: catalogStore.objectUrl,
      DETECTOR_TEXT_MODELS: LAMBDA_TEXT_MODELS_PATH,
      MAX_ACTIVE_PRODUCTS: String(s.maxActiveProducts),
      REPUBLISH_SECONDS: String(s.republishSeconds),
      // Lambda's async retries deliver events late; an old frame must not
      // show a product now. Two thumbnail intervals and 30 s.
      MAX_EVENT_AGE_SECONDS: String(2 * s.thumbnailIntervalSeconds + 30),
      DETECTOR: s.detector,
      ...(s.projectVersionArn ? { REKOGNITION_PROJECT_VERSION_ARN: s.projectVersionArn } : {}),
      MEASUREMENT_KEY_SECRET_ARN: measurementKey.secretArn,
      // Replay: the published cues are kept beside the recordings.
      RECORDINGS_BUCKET: recordings.bucket.bucketName,
      RECORDINGS_RETENTION_DAYS: String(s.retentionDays),
    });

    const failed = new sqs.Queue(this, 'OnThumbnailFailed', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    pin(failed, PINNED_LOGICAL_IDS.onThumbnailFailed);
    suppressCheckov(failed, {
      CKV_AWS_27: 'Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); the check recognizes KMS keys only.',
    });
    this.onThumbnail = rust.make(this, 'OnThumbnail', 'on-thumbnail', {
      description: 'Finds catalog products in an IVS thumbnail, decides what shows, publishes the cue.',
      environment,
      // The built-in detector runs on the CPU: 1769 MB is one full vCPU.
      memorySize: s.detector === 'builtin' ? 1769 : 512,
      timeout: Duration.seconds(30),
      // S3 invokes asynchronously: two retries, and a thumbnail older than
      // five minutes is worthless, so it goes to the queue instead.
      retryAttempts: 2,
      maxEventAge: Duration.minutes(5),
      deadLetterQueue: failed,
    }, rust.readsText);
    this.onTick = rust.make(this, 'OnTick', 'on-tick', {
      description: 'One step of the re-publishing workflow: re-sends the channel cue or clears it.',
      environment,
      memorySize: 256,
      timeout: Duration.seconds(10),
    });
    suppressCheckov(this.onTick, {
      CKV_AWS_116: 'Invoked synchronously by the workflow, whose Retry handles failures; a dead-letter queue applies to asynchronous calls only.',
    });

    // The operator's actions run here, on the function's clock, not on the
    // operator's machine (backend/src/operator_api.rs says why).
    this.operator = rust.make(this, 'Operator', 'operator', {
      description: 'The operator\'s pin, unpin, clear, pause, resume, sold out and state read on a channel, and catalog changes, on the function\'s clock (IAM-signed requests only).',
      environment,
      memorySize: 256,
      timeout: Duration.seconds(10),
    });
    suppressCheckov(this.operator, {
      CKV_AWS_116: 'Invoked synchronously through its function URL: a failed action answers an error to the operator; a dead-letter queue applies to asynchronous calls only.',
    });
    this.operatorUrl = this.operator.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    this.operators = new iam.ManagedPolicy(this, 'Operators', {
      description: `${Stack.of(this).stackName}: steer the channels through the operator function (its URL, IAM-signed)`,
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [this.operator.functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
      ],
    });

    // Least privilege. test/permissions.test.ts holds every grant here to a
    // call the functions make over the wire, and every such call to a grant.
    const channelArns = recordings.channels.map((c) => c.attrArn);
    for (const fn of [this.onThumbnail, this.onTick, this.operator]) {
      allow(fn, ['ivs:PutMetadata'], channelArns);
      allow(fn, TABLE_ACTIONS, [state.table.tableArn]);
      // The show tags' key, read once at start-up.
      allow(fn, ['secretsmanager:GetSecretValue'], [measurementKey.secretArn]);
    }
    // on-thumbnail starts the workflow; on-tick hands a long show over to a
    // new execution after MAX_WORKFLOW_STEPS (backend/src/handlers.rs).
    for (const fn of [this.onThumbnail, this.onTick, this.operator]) {
      allow(fn, ['states:StartExecution'], [state.stateMachineArn]);
    }
    allow(this.onThumbnail, ['s3:GetObject'], [recordings.bucket.arnForObjects(THUMBNAIL_OBJECTS)]);
    // Replay (backend/src/replay.rs): every function that publishes a cue
    // keeps it in the cue log; at a recording's end on-thumbnail reads the
    // log (listing it by time: the list shows key names, no content) and
    // IVS's recording-ended file, and writes the recording's cues.json and
    // the index (read first, then a conditional write).
    const cueLog = recordings.bucket.arnForObjects(`${CUE_LOG_PREFIX}*`);
    const replayIndex = recordings.bucket.arnForObjects(REPLAY_INDEX_KEY);
    for (const fn of [this.onThumbnail, this.onTick, this.operator]) {
      allow(fn, ['s3:PutObject'], [cueLog]);
    }
    allow(this.onThumbnail, ['s3:GetObject'], [cueLog, recordings.bucket.arnForObjects(RECORDING_ENDED_OBJECTS), replayIndex]);
    // What the detector saw (backend/src/sightings_aws.rs): on-thumbnail
    // keeps each thumbnail's sighting; the operator function lists and
    // reads a channel's newest for the console.
    const sightings = recordings.bucket.arnForObjects(`${SIGHTINGS_PREFIX}*`);
    allow(this.onThumbnail, ['s3:PutObject'], [recordings.bucket.arnForObjects(REPLAY_CUES_OBJECTS), replayIndex, sightings]);
    allow(this.onThumbnail, ['s3:ListBucket'], [recordings.bucket.bucketArn]);
    allow(this.operator, ['s3:GetObject'], [sightings, recordings.bucket.arnForObjects(THUMBNAIL_OBJECTS)]);
    allow(this.operator, ['s3:ListBucket'], [recordings.bucket.bucketArn]);
    // The live catalog: every function follows it; the operator function
    // writes it (a new version), lists and reads its versions, and keeps
    // reference images beside it, which the built-in detector reads.
    const catalogObject = catalogStore.bucket.arnForObjects(CATALOG_KEY);
    const references = catalogStore.bucket.arnForObjects(`${REFERENCES_PREFIX}*`);
    for (const fn of [this.onThumbnail, this.onTick, this.operator]) {
      allow(fn, ['s3:GetObject'], [catalogObject]);
    }
    allow(this.operator, ['s3:PutObject'], [catalogObject, references]);
    allow(this.operator, ['s3:GetObjectVersion'], [catalogObject]);
    allow(this.operator, ['s3:ListBucketVersions'], [catalogStore.bucket.bucketArn]);
    if (s.detector === 'builtin') {
      allow(this.onThumbnail, ['s3:GetObject'], [references]);
    }
    if (s.detector === 'rekognition' && s.projectVersionArn) {
      allow(this.onThumbnail, ['rekognition:DetectCustomLabels'], [s.projectVersionArn]);
    }
    if (s.detector === 'builtin' && catalog.s3References.length > 0) {
      const stack = Stack.of(this);
      allow(
        this.onThumbnail,
        ['s3:GetObject'],
        catalog.s3References.map((r) => stack.formatArn({ service: 's3', region: '', account: '', resource: r.bucket, resourceName: r.key })),
      );
    }

    recordings.bucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.LambdaDestination(this.onThumbnail),
      { prefix: RECORDING_PREFIX, suffix: THUMBNAIL_SUFFIX },
    );
    // A recording's end, for its replay timeline (the suffixes cannot
    // overlap, so S3 takes both rules on one prefix).
    recordings.bucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.LambdaDestination(this.onThumbnail),
      { prefix: RECORDING_PREFIX, suffix: RECORDING_ENDED_SUFFIX.slice(1) },
    );

    alarms.add(this, 'OnThumbnailErrors', this.onThumbnail.metricErrors(FIVE_MINUTES), 'on-thumbnail failed; its logs say which thumbnail and why.');
    alarms.add(this, 'OnThumbnailThrottles', this.onThumbnail.metricThrottles(FIVE_MINUTES), 'on-thumbnail was throttled: raise the account concurrency or the thumbnail interval.');
    alarms.add(
      this,
      'OnThumbnailFailedEvents',
      failed.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      'thumbnail events gave up after retries and wait in the OnThumbnailFailed queue.',
    );
    alarms.add(this, 'OnTickErrors', this.onTick.metricErrors(FIVE_MINUTES), 'on-tick failed; cards may stay up until the workflow retries.');
    alarms.add(this, 'OperatorErrors', this.operator.metricErrors(FIVE_MINUTES), 'the operator function failed; an operator\'s action may not have taken effect (its logs say which and why).');
  }
}
