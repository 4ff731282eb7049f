// What every construct of the stack shares: checkov's reasons, pinned
// logical IDs, the private bucket, and the alarms topic.

import { CfnResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IConstruct } from 'constructs';

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
 * whose logical ID changes, and each construct's resources take the
 * construct's path into their IDs, so moving one would replace these:
 * - kept on delete: the recordings, the counters, the raw events and the
 *   player's bucket (a replacement would orphan the old one and start empty);
 * - what someone outside the stack holds: each channel and stream key (a
 *   new ingest endpoint and key for every broadcaster), the recording
 *   configuration, the show-tag key (every printed QR code's tag), the
 *   origin secret, the distribution (the domain site owners embed), the
 *   alarms topic (its confirmed e-mail subscriptions) and the dashboard
 *   readers' policy (attached to operators' roles, so it cannot be deleted);
 * - fixed names, which a replacement (made before the old one goes) would
 *   collide with: the workflow and the Athena database and table;
 * - what holds data in flight: the state table (what shows now), the
 *   measurement stream and its Firehose buffer, and the two dead-letter
 *   queues.
 * Each is pinned to the ID it had before the stack was split into
 * constructs; the test `retained and identity-bearing resources keep their
 * logical IDs` fails if one changes.
 */
export const PINNED_LOGICAL_IDS = {
  recordings: 'RecordingsA3BDCC51',
  recordingConfiguration: 'RecordingConfiguration',
  stateTable: 'State1C20CC9A',
  workflow: 'Republish024E6D3C',
  onThumbnailFailed: 'OnThumbnailFailed9569EB7A',
  measurementTable: 'MeasurementCF48D3D0',
  measurementEvents: 'MeasurementEvents9088DB3E',
  measurementKey: 'MeasurementKey29F971F0',
  measurementQueue: 'MeasurementQueueD5360BB5',
  measurementStream: 'MeasurementStream',
  measurementDatabase: 'MeasurementDatabase',
  measurementEventsTable: 'MeasurementEventsTable',
  aggregatorFailed: 'AggregatorFailed142A6622',
  originVerify: 'CollectorOriginVerify75278128',
  alarms: 'Alarms04B5A0BF',
  playerBucket: 'PlayerBCE11709',
  catalogBucket: 'Catalog742F25FD',
  playerDistribution: 'PlayerDistributionD5D25836',
  dashboardReaders: 'DashboardReaders3C713829',
} as const;

/** The channels' and stream keys' pinned logical IDs (see PINNED_LOGICAL_IDS). */
export const channelLogicalId = (i: number): string => `Channel${i}`;
export const streamKeyLogicalId = (i: number): string => `Channel${i}StreamKey`;

/** Pins `scope`'s CloudFormation resource to `logicalId` (see PINNED_LOGICAL_IDS). */
export function pin(scope: IConstruct, logicalId: string): void {
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
export function privateBucket(
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

/** Five-minute sums: what most alarms watch. */
export const FIVE_MINUTES = { period: Duration.minutes(5), statistic: 'Sum' };

/**
 * The alarms topic (e-mailed to alarmEmail) and the one way to add an alarm
 * to it: each construct adds the alarms of what it owns.
 */
export class Alarms extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: { email?: string }) {
    super(scope, id);
    // 'Default': the topic keeps the IDs it had at the stack's top level, and
    // so do its policy and e-mail subscriptions (a new subscription would
    // ask for confirmation again).
    this.topic = new sns.Topic(this, 'Default', { enforceSSL: true });
    pin(this.topic, PINNED_LOGICAL_IDS.alarms);
    suppressCheckov(this.topic, {
      CKV_AWS_26: 'CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key; messages carry alarm names only.',
    });
    if (props.email) this.topic.addSubscription(new snsSubs.EmailSubscription(props.email));
  }

  /** An alarm at `threshold` or more in one period, missing data not breaching. */
  add(scope: Construct, id: string, metric: cloudwatch.IMetric, description: string, threshold = 1): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(this.topic));
    return alarm;
  }
}
