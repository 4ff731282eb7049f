// The whole deployment in one stack, composed of constructs
// (lib/constructs/):
// - Recordings: the IVS channels writing thumbnails to a private bucket;
// - StateAndWorkflow: the state table and the one generic re-publishing
//   workflow;
// - DecisionFunctions: the on-thumbnail and on-tick Rust Lambdas;
// - Measurement: the show-tag key, the collector, the aggregator (counters,
//   raw events through Firehose to S3 for Athena) and the report function;
// - PlayerSite: the player on CloudFront, with the collector on the same
//   name and the dashboard hosted with it;
// - Alarms: the topic every construct adds its alarms to.
//
// Permissions are granted statement by statement on the exact resources
// (test/stack.test.ts checks every statement); nothing gets `*` as an action.
// Resources whose replacement someone would feel keep pinned logical IDs
// (PINNED_LOGICAL_IDS in lib/constructs/common.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { CfnOutput, CfnResource, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ivs from 'aws-cdk-lib/aws-ivs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { catalogFiles } from './catalog.ts';
import { CatalogStore } from './constructs/catalog-store.ts';
import { Alarms, suppressCheckov } from './constructs/common.ts';
import { DecisionFunctions } from './constructs/decision-functions.ts';
import { Measurement } from './constructs/measurement.ts';
import { PlayerSite } from './constructs/player-site.ts';
import { Recordings } from './constructs/recordings.ts';
import { LAMBDA_REASONS, RustFunctions } from './constructs/rust-function.ts';
import { StateAndWorkflow } from './constructs/state-and-workflow.ts';
import { PLAYER_DIST } from './repo.ts';
import type { Settings } from './settings.ts';

export { PINNED_LOGICAL_IDS, suppressCheckov } from './constructs/common.ts';
export { AGGREGATOR_BATCH_SIZE, AGGREGATOR_BATCHING_WINDOW_SECONDS, AGGREGATOR_RETRIES, COLLECTOR_METRICS_NAMESPACE, EVENTS_PREFIX, MEASURE_TABLE_ACTIONS, REPORT_INDEX } from './constructs/measurement.ts';
export { COLLECTOR_PATHS, playerPage } from './constructs/player-site.ts';
export { RECORDING_PREFIX, THUMBNAIL_OBJECTS, THUMBNAIL_SUFFIX } from './constructs/recordings.ts';
export { LAMBDA_CATALOG_PATH, LAMBDA_TEXT_MODELS_PATH } from './constructs/rust-function.ts';
export { TABLE_ACTIONS } from './constructs/state-and-workflow.ts';

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

export class AdStack extends Stack {
  readonly channels: ivs.CfnChannel[];
  readonly onThumbnail: lambda.Function;
  readonly onTick: lambda.Function;
  readonly operator: lambda.Function;
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
    if (!['index.html', 'player.js', 'recordings.html'].every((f) => fs.existsSync(path.join(playerDist, f)))) {
      throw new Error(`${playerDist} holds no built player; run ./player/build.sh first`);
    }

    const alarms = new Alarms(this, 'Alarms', { email: s.alarmEmail });
    const recordings = new Recordings(this, 'Recordings', { settings: s });
    this.channels = recordings.channels;
    const state = new StateAndWorkflow(this, 'State');
    const rust = new RustFunctions(s, catalog);
    const catalogStore = new CatalogStore(this, 'Catalog', { catalog });
    const measurement = new Measurement(this, 'Measurement', { settings: s, rust, alarms, catalogStore });
    const functions = new DecisionFunctions(this, 'Functions', {
      settings: s,
      catalog,
      rust,
      recordings,
      state,
      measurementKey: measurement.measurementKey,
      catalogStore,
      alarms,
    });
    state.workflow(functions.onTick, alarms);
    const player = new PlayerSite(this, 'Player', { settings: s, catalogStore, playerDist, channels: recordings.channels, recordings: recordings.bucket, measurement });
    this.onThumbnail = functions.onThumbnail;
    this.onTick = functions.onTick;
    this.operator = functions.operator;
    this.collector = measurement.collector;
    this.report = measurement.report;

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
    const playerUrl = `https://${player.distribution.distributionDomainName}/`;
    this.channels.forEach((channel, i) => {
      const n = i + 1;
      new CfnOutput(this, `Channel${n}Arn`, { value: channel.attrArn, description: `channel ${n}: ARN` });
      new CfnOutput(this, `Channel${n}IngestServer`, {
        value: `rtmps://${channel.attrIngestEndpoint}:443/app/`,
        description: `channel ${n}: OBS Settings > Stream > Server (RTMPS)`,
      });
      new CfnOutput(this, `Channel${n}PlaybackUrl`, { value: channel.attrPlaybackUrl, description: `channel ${n}: HLS playback URL` });
      new CfnOutput(this, `Channel${n}StreamKeyCommand`, {
        value: `aws ivs get-stream-key --region ${this.region} --arn ${recordings.streamKeys[i].attrArn} --query streamKey.value --output text`,
        description: `channel ${n}: prints the stream key for OBS (keep it secret)`,
      });
    });
    new CfnOutput(this, 'PlayerUrl', { value: playerUrl, description: 'the player page, with every channel' });
    new CfnOutput(this, 'CatalogUrl', { value: `${playerUrl}catalog/catalog.json`, description: 'the catalog as the player reads it (re-read every 30 s)' });
    new CfnOutput(this, 'CatalogObject', { value: catalogStore.objectUrl, description: 'the live catalog (versioned): change it with `adctl catalog` or the operator function' });
    new CfnOutput(this, 'EmbedScript', { value: `${playerUrl}player.js`, description: 'embed: <script type="module" src="..."> and <ivs-ad-player>' });
    new CfnOutput(this, 'RecordingsBucket', { value: recordings.bucket.bucketName });
    new CfnOutput(this, 'PlayerBucket', { value: player.bucket.bucketName });
    new CfnOutput(this, 'StateTable', { value: state.table.tableName });
    new CfnOutput(this, 'WorkflowArn', { value: state.stateMachineArn });
    new CfnOutput(this, 'AlarmsTopic', { value: alarms.topic.topicArn });
    new CfnOutput(this, 'CollectorUrl', { value: `${playerUrl}measure/events`, description: 'measurement beacons; embed with collector="https://<this name>"' });
    new CfnOutput(this, 'TrackingLinks', { value: `${playerUrl}r/`, description: 'QR codes and Open links: /r/<q|o>.<show key>, 302 to the product' });
    new CfnOutput(this, 'MeasurementTable', { value: measurement.table.tableName, description: 'counters per show and hour' });
    new CfnOutput(this, 'DashboardUrl', {
      value: `${playerUrl}dashboard/index.html`,
      description: 'the measurement dashboard: sign in with credentials that have the DashboardReaders policy',
    });
    new CfnOutput(this, 'OperatorUrl', {
      value: functions.operatorUrl.url,
      description: 'the operator function URL (IAM-signed POST /operator/<pin|unpin|clear|pause|resume|sold-out|in-stock|state|catalog|catalog-versions|catalog-restore|reference>)',
    });
    new CfnOutput(this, 'OperatorsPolicy', { value: functions.operators.managedPolicyArn, description: 'attach to whoever may steer the channels' });
    new CfnOutput(this, 'ReportUrl', { value: player.reportUrl.url, description: 'the report function URL (IAM-signed GET /measure/report, /measure/hours)' });
    new CfnOutput(this, 'DashboardReadersPolicy', { value: player.dashboardReaders.managedPolicyArn, description: 'attach to whoever may read the reports' });
    new CfnOutput(this, 'ReportCommand', {
      value: `adctl report --region ${this.region} --measure-table ${measurement.table.tableName}`,
      description: 'impressions, views, opens and scans per show (table, --format csv or json)',
    });
    new CfnOutput(this, 'EventsBucket', { value: measurement.events.bucketName, description: 'raw events, gzip JSON lines under events/dt=YYYY-MM-DD/' });
    new CfnOutput(this, 'AthenaTable', { value: `${measurement.athenaDatabase}.events`, description: 'the raw events in Athena (docs/measurement.md has a query)' });
  }
}
