// The synthesized template, checked resource by resource with
// aws-cdk-lib/assertions. Offline: the Rust functions are not built here
// (bundling skipped); scripts/test.sh builds them for real with cargo lambda.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { dashboardCsp, lambdaEnvNames, playerCsp, REPO_ROOT, WORKFLOW_DEFINITION } from '../lib/repo.ts';
import { readSettings, type ContextKey } from '../lib/settings.ts';
import { AdStack, COLLECTOR_METRICS_NAMESPACE, COLLECTOR_PATHS, EVENTS_PREFIX, PINNED_LOGICAL_IDS, THUMBNAIL_OBJECTS } from '../lib/stack.ts';
import { catalogFiles } from '../lib/catalog.ts';
import { recordingsPage } from '../lib/constructs/player-site.ts';

const ARN = 'arn:aws:rekognition:eu-west-1:123456789012:project/ads/version/ads.1/1730000000000';

/** A stand-in for player/dist: the stack only checks that the player was built. */
function fakePlayerDist(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'player-dist-'));
  for (const f of ['index.html', 'player.js', 'ivs_ad_player_bg.wasm']) fs.writeFileSync(path.join(dir, f), f);
  // The real replays page: the stack configures it.
  fs.copyFileSync(path.join(REPO_ROOT, 'player/web/recordings.html'), path.join(dir, 'recordings.html'));
  return dir;
}

function synth(context: Record<string, unknown>): Template {
  const app = new App({ postCliContext: { 'aws:cdk:bundling-stacks': [] } });
  const settings = readSettings((key: ContextKey) => context[key]);
  const stack = new AdStack(app, 'Ads', {
    settings,
    playerDist: fakePlayerDist(),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  return Template.fromStack(stack);
}

type Resource = { Type: string; Properties?: Record<string, any>; Metadata?: Record<string, any> };
const resources = (t: Template): Record<string, Resource> => t.toJSON().Resources;
const logicalId = (t: Template, type: string, prefix: string): string => {
  const ids = Object.entries(resources(t))
    .filter(([id, r]) => r.Type === type && id.includes(prefix))
    .map(([id]) => id);
  assert.equal(ids.length, 1, `one ${type} named ${prefix}*: ${ids.join(', ')}`);
  return ids[0];
};
const getAtt = (id: string, attr = 'Arn') => ({ 'Fn::GetAtt': [id, attr] });

/** The inline statements of the policies attached to a role. */
function statementsOf(t: Template, roleId: string): { Action: string | string[]; Resource: unknown; Effect: string }[] {
  return Object.values(resources(t))
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((r) => r.Properties!.PolicyDocument.Statement);
}
const actionsOf = (st: { Action: string | string[] }) => [st.Action].flat().sort();

/** S3's filter semantics: a key matches when it has the prefix and the suffix. */
function notificationMatches(t: Template, key: string): boolean {
  const notifications = Object.values(resources(t)).filter((r) => r.Type === 'Custom::S3BucketNotifications');
  assert.equal(notifications.length, 1);
  const configs = notifications[0].Properties!.NotificationConfiguration.LambdaFunctionConfigurations;
  return configs.some((c: any) => {
    const rules: { Name: string; Value: string }[] = c.Filter.Key.FilterRules;
    return rules.every((r) => (r.Name.toLowerCase() === 'prefix' ? key.startsWith(r.Value) : key.endsWith(r.Value)));
  });
}

describe('Rekognition detector, two channels', () => {
  const t = synth({ projectVersionArn: ARN, channels: '2', retentionDays: '30', thumbnailIntervalSeconds: '10', maxActiveProducts: '2' });
  const onThumbnail = logicalId(t, 'AWS::Lambda::Function', 'OnThumbnail');
  const onTick = logicalId(t, 'AWS::Lambda::Function', 'OnTick');
  const table = logicalId(t, 'AWS::DynamoDB::Table', 'State');
  const recordings = logicalId(t, 'AWS::S3::Bucket', 'Recordings');
  const workflow = logicalId(t, 'AWS::StepFunctions::StateMachine', 'Republish');
  const queue = logicalId(t, 'AWS::SQS::Queue', 'OnThumbnailFailed');
  const collector = logicalId(t, 'AWS::Lambda::Function', 'Collector');
  const measureTable = logicalId(t, 'AWS::DynamoDB::Table', 'Measurement');
  const stream = logicalId(t, 'AWS::KinesisFirehose::DeliveryStream', 'MeasurementStream');
  const events = logicalId(t, 'AWS::S3::Bucket', 'MeasurementEvents');
  const secret = logicalId(t, 'AWS::SecretsManager::Secret', 'MeasurementKey');
  const catalogBucket = logicalId(t, 'AWS::S3::Bucket', 'Catalog');
  const catalogObject = JSON.stringify({ 'Fn::Join': ['', [getAtt(catalogBucket), '/catalog/catalog.json']] });
  const catalogReferences = JSON.stringify({ 'Fn::Join': ['', [getAtt(catalogBucket), '/references/*']] });
  const channels = ['Channel1', 'Channel2'];
  const recordingObjects = (pattern: string) => JSON.stringify({ 'Fn::Join': ['', [getAtt(recordings), `/${pattern}`]] });
  // Replay: the cue log every publishing function writes, and what
  // on-thumbnail reads and writes at a recording's end.
  const cueLog = recordingObjects('cue-log/*');
  const replayGrants = [
    ['s3:GetObject', JSON.stringify([
      { 'Fn::Join': ['', [getAtt(recordings), '/cue-log/*']] },
      { 'Fn::Join': ['', [getAtt(recordings), '/ivs/v1/*/events/recording-ended.json']] },
      { 'Fn::Join': ['', [getAtt(recordings), '/recordings/index.json']] },
    ])],
    ['s3:PutObject', JSON.stringify([
      { 'Fn::Join': ['', [getAtt(recordings), '/ivs/v1/*/media/hls/cues.json']] },
      { 'Fn::Join': ['', [getAtt(recordings), '/recordings/index.json']] },
      // What the detector saw, for the operator's console.
      { 'Fn::Join': ['', [getAtt(recordings), '/sightings/*']] },
    ])],
    ['s3:ListBucket', JSON.stringify(getAtt(recordings))],
  ];
  // The player site's deployment (the live catalog has its own).
  const siteDeployment = () => {
    const siteBucket = JSON.stringify({ Ref: logicalId(t, 'AWS::S3::Bucket', 'Player') });
    return Object.values(resources(t)).find((r) => r.Type === 'Custom::CDKBucketDeployment' && JSON.stringify(r.Properties!.DestinationBucketName) === siteBucket)!;
  };
  const alarmIs = (metric: string, fn: string) =>
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: metric,
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
      AlarmActions: [{ Ref: logicalId(t, 'AWS::SNS::Topic', 'Alarms') }],
    });

  test('IVS: two channels on one recording configuration with INTERVAL thumbnails in SEQUENTIAL storage', () => {
    t.resourceCountIs('AWS::IVS::Channel', 2);
    t.resourceCountIs('AWS::IVS::StreamKey', 2);
    t.resourceCountIs('AWS::IVS::RecordingConfiguration', 1);
    const rc = logicalId(t, 'AWS::IVS::RecordingConfiguration', 'RecordingConfiguration');
    t.hasResourceProperties('AWS::IVS::RecordingConfiguration', {
      DestinationConfiguration: { S3: { BucketName: { Ref: recordings } } },
      ThumbnailConfiguration: { RecordingMode: 'INTERVAL', TargetIntervalSeconds: 10, Storage: ['SEQUENTIAL'], Resolution: Match.absent() },
    });
    for (const [i, c] of channels.entries()) {
      assert.equal(resources(t)[c].Type, 'AWS::IVS::Channel');
      assert.deepEqual(resources(t)[c].Properties!.RecordingConfigurationArn, getAtt(rc));
      assert.equal(resources(t)[c].Properties!.Name, `Ads-${i + 1}`);
      t.hasResourceProperties('AWS::IVS::StreamKey', { ChannelArn: getAtt(c) });
    }
  });

  test('recordings bucket: private, encrypted, TLS only, expiring after retentionDays', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({ Prefix: 'ivs/v1/', ExpirationInDays: 30, Status: 'Enabled' }),
          // The replay's cue log expires with the recordings it times.
          Match.objectLike({ Id: 'expire-cue-log', Prefix: 'cue-log/', ExpirationInDays: 30, Status: 'Enabled' }),
          Match.objectLike({ Id: 'expire-sightings', Prefix: 'sightings/', ExpirationInDays: 1, Status: 'Enabled' }),
        ],
      },
    });
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: recordings },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Principal: { AWS: '*' } }),
        ]),
      },
    });
  });

  test('the S3 notification sends thumbnails and recording ends, and nothing else IVS writes, to on-thumbnail', () => {
    const base = 'ivs/v1/123456789012/AbCdEf123456/2026/11/25/10/05/Rec0rd1ng';
    for (const key of [
      `${base}/media/thumbnails/thumb0.jpg`,
      `${base}/media/thumbnails/thumb117.jpg`,
      `${base}/media/thumbnails/720p30/thumb3.jpg`,
      // The replay's cue timeline is written at the recording's end.
      `${base}/events/recording-ended.json`,
    ]) {
      assert.ok(notificationMatches(t, key), key);
    }
    for (const key of [
      `${base}/media/hls/master.m3u8`,
      `${base}/media/hls/720p30/playlist.m3u8`,
      `${base}/media/hls/720p30/0.ts`,
      `${base}/media/hls/720p30/0.mp4`,
      `${base}/events/recording-started.json`,
      `${base}/events/recording-failed.json`,
      `${base}/media/hls/cues.json`,
      'cue-log/AbCdEf123456/1790000000000-1.json',
      'recordings/index.json',
      'sightings/AbCdEf123456/1790000000-thumb0.json',
      'catalog/kestrel.jpg',
    ]) {
      assert.ok(!notificationMatches(t, key), key);
    }
    t.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          Match.objectLike({ Events: ['s3:ObjectCreated:*'], LambdaFunctionArn: getAtt(onThumbnail) }),
          Match.objectLike({ Events: ['s3:ObjectCreated:*'], LambdaFunctionArn: getAtt(onThumbnail) }),
        ],
      },
    });
  });

  test('state table: on demand, point-in-time recovery, TTL on expires_at, keyed by channel', () => {
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'channel', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'channel', AttributeType: 'S' }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
    });
  });

  test('the workflow is the backend\'s definition file with on-tick\'s ARN substituted', () => {
    const sm = resources(t)[workflow].Properties!;
    assert.equal(sm.StateMachineName, 'Ads-republish');
    assert.equal(sm.StateMachineType, 'STANDARD');
    assert.deepEqual(sm.DefinitionSubstitutions, { TickFunctionArn: getAtt(onTick) });
    const shipped = JSON.parse(fs.readFileSync(WORKFLOW_DEFINITION, 'utf8'));
    assert.deepEqual(JSON.parse(sm.DefinitionString), shipped);
    assert.match(sm.DefinitionString, /\$\{TickFunctionArn\}/);
  });

  test('Rust functions: arm64, provided.al2023, the catalog in the package', () => {
    for (const id of [onThumbnail, onTick]) {
      const p = resources(t)[id].Properties!;
      assert.equal(p.Runtime, 'provided.al2023');
      assert.deepEqual(p.Architectures, ['arm64']);
      assert.equal(p.Handler, 'bootstrap');
      assert.equal(p.Environment.Variables.CATALOG_PATH, '/var/task/catalog.json');
    }
    assert.equal(resources(t)[onThumbnail].Properties!.MemorySize, 512);
  });

  test('environment names are exactly backend/lambda-env.json (AWS_REGION is set by Lambda)', () => {
    const names = new Set(lambdaEnvNames());
    // The stack gives these through Secrets Manager (their *_SECRET_ARN);
    // they are for local use.
    const seen = new Set<string>(['AWS_REGION', 'MEASUREMENT_KEY', 'ORIGIN_VERIFY']);
    for (const id of [onThumbnail, onTick, collector, logicalId(t, 'AWS::Lambda::Function', 'Aggregator'), logicalId(t, 'AWS::Lambda::Function', 'Report')]) {
      for (const name of Object.keys(resources(t)[id].Properties!.Environment.Variables)) {
        assert.ok(names.has(name), `${id} sets ${name}, which the backend does not read`);
        seen.add(name);
      }
    }
    assert.deepEqual([...seen].sort(), [...names].sort());
    const env = resources(t)[onThumbnail].Properties!.Environment.Variables;
    assert.equal(env.TABLE_NAME.Ref, table);
    assert.equal(env.DETECTOR, 'rekognition');
    assert.equal(env.REKOGNITION_PROJECT_VERSION_ARN, ARN);
    assert.equal(env.MAX_ACTIVE_PRODUCTS, '2');
    assert.equal(env.REPUBLISH_SECONDS, '5');
    assert.equal(env.MAX_EVENT_AGE_SECONDS, String(2 * 10 + 30));
    assert.equal(env.DETECTOR_TEXT_MODELS, '/var/task/text-models', 'read only when the catalog has wordmarks');
    // The ARN built from the workflow's name is the workflow's real ARN.
    assert.match(JSON.stringify(env.STATE_MACHINE_ARN), /:states:eu-west-1:123456789012:stateMachine:Ads-republish/);
  });

  test('on-thumbnail: exactly PutMetadata on the channels, table items, StartExecution, thumbnails, its model, its logs, its queue', () => {
    const role = resources(t)[onThumbnail].Properties!.Role['Fn::GetAtt'][0];
    const got = statementsOf(t, role).map((st) => [actionsOf(st).join(','), JSON.stringify(st.Resource)]).sort();
    const want = [
      ['ivs:PutMetadata', JSON.stringify(channels.map((c) => getAtt(c)))],
      ['dynamodb:GetItem,dynamodb:UpdateItem', JSON.stringify(getAtt(table))],
      ['states:StartExecution', JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:eu-west-1:123456789012:stateMachine:Ads-republish']] })],
      ['s3:GetObject', JSON.stringify({ 'Fn::Join': ['', [getAtt(recordings), `/${THUMBNAIL_OBJECTS}`]] })],
      ['s3:GetObject', catalogObject],
      ...replayGrants,
      ['s3:PutObject', cueLog],
      ['rekognition:DetectCustomLabels', JSON.stringify(ARN)],
      ['logs:CreateLogStream,logs:PutLogEvents', JSON.stringify(getAtt(logicalId(t, 'AWS::Logs::LogGroup', 'OnThumbnailLogs')))],
      ['sqs:SendMessage', JSON.stringify(getAtt(queue))],
      ['secretsmanager:GetSecretValue', JSON.stringify({ Ref: secret })],
    ].sort();
    assert.deepEqual(got, want);
    assert.equal(THUMBNAIL_OBJECTS, 'ivs/v1/*/media/thumbnails/*');
    assert.equal(resources(t)[role].Properties!.ManagedPolicyArns, undefined, 'no managed policy (AWSLambdaBasicExecutionRole allows any log group)');
  });

  test('on-tick: exactly PutMetadata on the channels, table items, StartExecution (hand-over) and its logs', () => {
    const role = resources(t)[onTick].Properties!.Role['Fn::GetAtt'][0];
    const got = statementsOf(t, role).map((st) => [actionsOf(st).join(','), JSON.stringify(st.Resource)]).sort();
    assert.deepEqual(got, [
      ['dynamodb:GetItem,dynamodb:UpdateItem', JSON.stringify(getAtt(table))],
      ['ivs:PutMetadata', JSON.stringify(channels.map((c) => getAtt(c)))],
      ['logs:CreateLogStream,logs:PutLogEvents', JSON.stringify(getAtt(logicalId(t, 'AWS::Logs::LogGroup', 'OnTickLogs')))],
      ['s3:GetObject', catalogObject],
      ['s3:PutObject', cueLog],
      ['secretsmanager:GetSecretValue', JSON.stringify({ Ref: secret })],
      ['states:StartExecution', JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:eu-west-1:123456789012:stateMachine:Ads-republish']] })],
    ].sort());
  });

  test('the live catalog: a versioned bucket the functions follow (CATALOG_OBJECT), seeded at deploy without pruning, served at catalog/* with at most 20 s at the edge', () => {
    const bucket = resources(t)[catalogBucket].Properties!;
    assert.deepEqual(bucket.VersioningConfiguration, { Status: 'Enabled' });
    assert.deepEqual(bucket.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    for (const fn of [onThumbnail, onTick, logicalId(t, 'AWS::Lambda::Function', 'FunctionsOperator'), collector]) {
      assert.deepEqual(resources(t)[fn].Properties!.Environment.Variables.CATALOG_OBJECT, { 'Fn::Join': ['', ['s3://', { Ref: catalogBucket }, '/catalog/catalog.json']] }, fn);
    }
    t.hasResourceProperties('Custom::CDKBucketDeployment', { DestinationBucketName: { Ref: catalogBucket }, Prune: false });
    const distribution = Object.values(resources(t)).find((r) => r.Type === 'AWS::CloudFront::Distribution')!;
    const behavior = distribution.Properties!.DistributionConfig.CacheBehaviors.find((b: any) => b.PathPattern === 'catalog/*');
    assert.ok(behavior, 'catalog/* has its own behavior');
    const policy = resources(t)[behavior.CachePolicyId.Ref].Properties!.CachePolicyConfig;
    assert.ok(policy.MaxTTL <= 20 && policy.DefaultTTL <= policy.MaxTTL, JSON.stringify(policy));
    // The site's own deployment no longer carries the catalog.
    const siteBucket = logicalId(t, 'AWS::S3::Bucket', 'Player');
    const deployments = Object.values(resources(t)).filter((r) => r.Type === 'Custom::CDKBucketDeployment');
    assert.equal(deployments.length, 2);
    assert.ok(deployments.some((d) => JSON.stringify(d.Properties!.DestinationBucketName) === JSON.stringify({ Ref: siteBucket })));
  });

  test('operator function: the on-tick grants and the catalog (no more), an IAM-only URL, an Operators policy for exactly it, an alarm', () => {
    const operator = logicalId(t, 'AWS::Lambda::Function', 'FunctionsOperator');
    const p = resources(t)[operator].Properties!;
    assert.deepEqual(p.Architectures, ['arm64']);
    assert.deepEqual(p.Environment.Variables.MEASUREMENT_KEY_SECRET_ARN, { Ref: secret });
    const got = statementsOf(t, p.Role['Fn::GetAtt'][0]).map((st) => [actionsOf(st).join(','), JSON.stringify(st.Resource)]).sort();
    assert.deepEqual(got, [
      ['dynamodb:GetItem,dynamodb:UpdateItem', JSON.stringify(getAtt(table))],
      ['ivs:PutMetadata', JSON.stringify(channels.map((c) => getAtt(c)))],
      ['logs:CreateLogStream,logs:PutLogEvents', JSON.stringify(getAtt(logicalId(t, 'AWS::Logs::LogGroup', 'OperatorLogs')))],
      ['s3:GetObject', catalogObject],
      ['s3:GetObjectVersion', catalogObject],
      ['s3:ListBucketVersions', JSON.stringify(getAtt(catalogBucket))],
      ['s3:PutObject', JSON.stringify([JSON.parse(catalogObject), JSON.parse(catalogReferences)])],
      ['s3:PutObject', cueLog],
      // The sightings on-thumbnail keeps, for the console.
      ['s3:GetObject', JSON.stringify([JSON.parse(recordingObjects('sightings/*')), JSON.parse(recordingObjects(THUMBNAIL_OBJECTS))])],
      ['s3:ListBucket', JSON.stringify(getAtt(recordings))],
      ['secretsmanager:GetSecretValue', JSON.stringify({ Ref: secret })],
      ['states:StartExecution', JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:eu-west-1:123456789012:stateMachine:Ads-republish']] })],
    ].sort());
    const url = Object.values(resources(t)).find((r) => r.Type === 'AWS::Lambda::Url' && JSON.stringify(r.Properties!.TargetFunctionArn) === JSON.stringify(getAtt(operator)))!;
    assert.equal(url.Properties!.AuthType, 'AWS_IAM', 'nobody steers a channel anonymously');
    const operators = resources(t)[logicalId(t, 'AWS::IAM::ManagedPolicy', 'Operators')];
    assert.deepEqual(operators.Properties!.PolicyDocument.Statement, [{
      Action: 'lambda:InvokeFunctionUrl',
      Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      Effect: 'Allow',
      Resource: getAtt(operator),
    }]);
    alarmIs('Errors', operator);
    const outputs = t.toJSON().Outputs as Record<string, { Value: unknown }>;
    for (const name of ['OperatorUrl', 'OperatorsPolicy']) assert.ok(outputs[name], name);
  });

  test('the workflow may invoke on-tick and nothing else', () => {
    const role = resources(t)[workflow].Properties!.RoleArn['Fn::GetAtt'][0];
    const got = statementsOf(t, role);
    assert.equal(got.length, 1);
    assert.deepEqual(actionsOf(got[0]), ['lambda:InvokeFunction']);
    assert.deepEqual(got[0].Resource, [getAtt(onTick), { 'Fn::Join': ['', [getAtt(onTick), ':*']] }]);
  });

  test('no statement anywhere allows `*`, all of a service (`svc:*`), or a `*` resource, and no role has a managed policy', () => {
    // Every policy document: attached policies, managed policies and a
    // role's inline ones; a resource `*` alone or in an array.
    const documents: [string, any][] = [];
    for (const [id, r] of Object.entries(resources(t))) {
      const p = r.Properties ?? {};
      if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') documents.push([id, p.PolicyDocument]);
      if (r.Type === 'AWS::IAM::Role') {
        for (const inline of p.Policies ?? []) documents.push([`${id}/${inline.PolicyName}`, inline.PolicyDocument]);
      }
    }
    assert.ok(documents.length > 5);
    // CDK's own deploy-time helpers (the S3 notifications and bucket
    // deployment handlers, the log-retention handler): not ours to narrow.
    const cdkHelper = (id: string) => /^(BucketNotificationsHandler|CustomCDKBucketDeployment|LogRetention|AWS679f53fac002430cb0da5b7982bd2287)/.test(id);
    for (const [id, doc] of documents) {
      for (const st of [doc.Statement].flat()) {
        if (st.Effect !== 'Allow' || cdkHelper(id)) continue;
        for (const action of actionsOf(st)) assert.ok(action !== '*' && !action.endsWith(':*'), `${id}: ${action}`);
        const resourcesOf = [st.Resource ?? []].flat();
        assert.ok(!resourcesOf.includes('*'), `${id}: ${actionsOf(st)} on *`);
      }
    }
    for (const [id, r] of Object.entries(resources(t))) {
      if (r.Type !== 'AWS::IAM::Role' || cdkHelper(id)) continue;
      assert.equal(r.Properties!.ManagedPolicyArns, undefined, `${id}: a managed policy (AWS's are broad: AWSLambdaBasicExecutionRole writes any log group)`);
    }
  });

  test('failures: bounded retries into a queue, alarms on errors and throttles', () => {
    assert.deepEqual(resources(t)[onThumbnail].Properties!.DeadLetterConfig, { TargetArn: getAtt(queue) });
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: onThumbnail },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 300,
    });
    t.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    const alarmOn = (metric: string, fn: string) =>
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [{ Ref: logicalId(t, 'AWS::SNS::Topic', 'Alarms') }],
      });
    alarmOn('Errors', onThumbnail);
    alarmOn('Throttles', onThumbnail);
    alarmOn('Errors', onTick);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS' });
    // The collector's answered failures, from its own metrics.
    for (const [metric, threshold] of [['FailedBatches', 1], ['LostLinks', 1], ['RefusedBatches', 50]] as const) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Namespace: COLLECTOR_METRICS_NAMESPACE,
        Dimensions: [{ Name: 'Function', Value: { Ref: collector } }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: threshold,
        AlarmActions: [{ Ref: logicalId(t, 'AWS::SNS::Topic', 'Alarms') }],
      });
    }
  });

  test('the player: private bucket behind CloudFront with origin access control, playback URLs filled in', () => {
    // One for the player's bucket, one for the live catalog's, one for the
    // recordings (replays).
    t.resourceCountIs('AWS::CloudFront::OriginAccessControl', 3);
    t.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: 'redirect-to-https', Compress: true }),
        Origins: Match.arrayWith([Match.objectLike({ OriginAccessControlId: Match.anyValue(), S3OriginConfig: { OriginAccessIdentity: '' } })]),
      }),
    });
    t.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        CorsConfig: Match.objectLike({ AccessControlAllowOrigins: { Items: ['*'] }, AccessControlAllowMethods: { Items: ['GET', 'HEAD'] } }),
        // The same policy the studio serves and the browser tests prove.
        SecurityHeadersConfig: Match.objectLike({
          ContentSecurityPolicy: { ContentSecurityPolicy: playerCsp(), Override: true },
          FrameOptions: { FrameOption: 'DENY', Override: true },
        }),
      }),
    });
    assert.match(playerCsp(), /^default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; /);
    assert.match(playerCsp(), /frame-ancestors 'none'/, 'never framed: clickjacked Open clicks would count');
    assert.doesNotMatch(playerCsp(), /unsafe-inline|#/);
    const deployment = siteDeployment();
    const markers = JSON.stringify(deployment.Properties!.SourceMarkers);
    for (const c of channels) assert.ok(markers.includes(JSON.stringify(getAtt(c, 'PlaybackUrl'))), `${c}'s playback URL in index.html`);
    assert.deepEqual(deployment.Properties!.DistributionPaths, ['/*']);
  });

  test('replays: the recordings\' playlists, segments and cues.json and the index on the player\'s name, nothing else of the recordings bucket; the replays page reads the index', () => {
    const dist = Object.values(resources(t)).find((r) => r.Type === 'AWS::CloudFront::Distribution')!;
    const config = dist.Properties!.DistributionConfig;
    const originOf = (id: string) => config.Origins.find((o: any) => o.Id === id);
    const recordingsDomain = JSON.stringify(getAtt(recordings, 'RegionalDomainName'));
    const toRecordings = config.CacheBehaviors.filter((b: any) => JSON.stringify(originOf(b.TargetOriginId).DomainName) === recordingsDomain);
    assert.deepEqual(toRecordings.map((b: any) => b.PathPattern).sort(), ['ivs/v1/*/media/hls/*', 'recordings/index.json']);
    for (const b of toRecordings) {
      assert.equal(b.ViewerProtocolPolicy, 'redirect-to-https');
      assert.deepEqual(b.AllowedMethods ?? ['GET', 'HEAD'], ['GET', 'HEAD'], 'read only');
    }
    assert.notEqual(JSON.stringify(config.DefaultCacheBehavior.TargetOriginId), JSON.stringify(toRecordings[0].TargetOriginId));
    // The hosted replays page is the studio's, reading the stack's index.
    const page = recordingsPage(fakePlayerDist(), 'https://d.example');
    assert.match(page, /<div id="replay" data-catalog="catalog\/catalog.json" data-collector="https:\/\/d.example" data-index="recordings\/index.json"><\/div>/);
    assert.doesNotMatch(page, /\/recordings.json|data-report/, 'the studio\'s listing and report are not the stack\'s');
    assert.match(page, /<script type="module" src="recordings.js"><\/script>/);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ RECORDINGS_BUCKET: { Ref: recordings }, RECORDINGS_RETENTION_DAYS: '30' }) },
    });
  });

  test('outputs: ingest, ARN, playback and player URLs, and the command that reads the stream key (never the key)', () => {
    const outputs = t.toJSON().Outputs as Record<string, { Value: unknown }>;
    for (const n of [1, 2]) {
      for (const name of ['Arn', 'IngestServer', 'PlaybackUrl', 'StreamKeyCommand']) assert.ok(outputs[`Channel${n}${name}`], `Channel${n}${name}`);
      assert.match(JSON.stringify(outputs[`Channel${n}IngestServer`].Value), /rtmps:\/\/.*IngestEndpoint.*:443\/app\//);
      const command = JSON.stringify(outputs[`Channel${n}StreamKeyCommand`].Value);
      assert.match(command, /aws ivs get-stream-key --region eu-west-1 --arn .*Channel\d+StreamKey.*--query streamKey.value --output text/);
    }
    assert.ok(outputs.PlayerUrl && outputs.CatalogUrl);
    assert.doesNotMatch(JSON.stringify(t.toJSON().Outputs), /"Value"\]/, 'no output reads a stream key\'s Value');
  });

  test('measurement: one key, generated as hex, read by the three functions at start-up, in no environment or template', () => {
    const gen = resources(t)[secret].Properties!.GenerateSecretString;
    assert.equal(gen.PasswordLength, 64);
    assert.equal(gen.ExcludeUppercase, true);
    assert.equal(gen.ExcludePunctuation, true);
    const allowed = [...'abcdefghijklmnopqrstuvwxyz0123456789'].filter((c) => !gen.ExcludeCharacters.includes(c)).join('');
    assert.equal(allowed, 'abcdef0123456789', 'hex digits only, as ShowSigner::from_hex reads');
    for (const id of [onThumbnail, onTick, collector]) {
      const env = resources(t)[id].Properties!.Environment.Variables;
      assert.deepEqual(env.MEASUREMENT_KEY_SECRET_ARN, { Ref: secret }, id);
      assert.equal(env.MEASUREMENT_KEY, undefined, id);
    }
    assert.doesNotMatch(JSON.stringify(Object.values(resources(t)).filter((r) => r.Type === 'AWS::Lambda::Function')), /resolve:secretsmanager/);
  });

  test('collector: appends to the measurement stream and nothing else; its own stream and catalog, following the live one', () => {
    const p = resources(t)[collector].Properties!;
    assert.deepEqual(p.Architectures, ['arm64']);
    assert.equal(p.ReservedConcurrentExecutions, undefined, 'no reservation unless collectorConcurrency is set');
    const env = p.Environment.Variables;
    const queue = logicalId(t, 'AWS::Kinesis::Stream', 'MeasurementQueue');
    assert.equal(env.MEASURE_STREAM_NAME.Ref, queue);
    assert.equal(env.MEASURE_TABLE_NAME, undefined, 'the request path writes no table');
    assert.equal(env.CATALOG_PATH, '/var/task/catalog.json');
    const role = p.Role['Fn::GetAtt'][0];
    const got = statementsOf(t, role).map((st) => [actionsOf(st).join(','), JSON.stringify(st.Resource)]).sort();
    const originVerify = logicalId(t, 'AWS::SecretsManager::Secret', 'CollectorOriginVerify');
    assert.deepEqual(env.ORIGIN_VERIFY_SECRET_ARN, { Ref: originVerify });
    assert.deepEqual(got, [
      ['kinesis:PutRecords', JSON.stringify(getAtt(queue))],
      ['logs:CreateLogStream,logs:PutLogEvents', JSON.stringify(getAtt(logicalId(t, 'AWS::Logs::LogGroup', 'CollectorLogs')))],
      ['s3:GetObject', catalogObject],
      ['secretsmanager:GetSecretValue', JSON.stringify([{ Ref: secret }, { Ref: originVerify }])],
    ]);
    t.hasResourceProperties('AWS::Kinesis::Stream', { StreamModeDetails: { StreamMode: 'ON_DEMAND' }, RetentionPeriodHours: 24 });
    // The aggregator: one batch per shard at a time, failed batches again
    // and then to its queue; the counters' writes and Firehose.
    const aggregator = logicalId(t, 'AWS::Lambda::Function', 'Aggregator');
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: aggregator },
      EventSourceArn: getAtt(queue),
      StartingPosition: 'TRIM_HORIZON',
      ParallelizationFactor: 1,
      MaximumBatchingWindowInSeconds: 1,
      MaximumRetryAttempts: 10,
      BisectBatchOnFunctionError: false,
      DestinationConfig: { OnFailure: { Destination: getAtt(logicalId(t, 'AWS::SQS::Queue', 'AggregatorFailed')) } },
    });
    const ap = resources(t)[aggregator].Properties!;
    assert.equal(ap.Environment.Variables.MEASURE_TABLE_NAME.Ref, measureTable);
    assert.equal(ap.Environment.Variables.MEASURE_DELIVERY_STREAM_NAME.Ref, stream);
    const aggregatorGrants = statementsOf(t, ap.Role['Fn::GetAtt'][0]).map((st) => [actionsOf(st).join(','), JSON.stringify(st.Resource)]);
    for (const grant of [
      ['dynamodb:BatchGetItem,dynamodb:BatchWriteItem,dynamodb:PutItem,dynamodb:UpdateItem', JSON.stringify(getAtt(measureTable))],
      ['firehose:PutRecordBatch', JSON.stringify(getAtt(stream))],
    ]) assert.ok(aggregatorGrants.some((g) => g[0] === grant[0] && g[1] === grant[1]), grant.join(' on '));
    for (const name of ['AggregatorErrors', 'AggregatorIteratorAge', 'AggregatorDeadLetters', 'AggregatorBadRecords', 'RawEventsDeliveryFailed', 'MeasurementQueueThrottled', 'MeasurementTableThrottled']) {
      assert.ok(logicalId(t, 'AWS::CloudWatch::Alarm', name), name);
    }
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      GlobalSecondaryIndexes: [{
        IndexName: 'report',
        KeySchema: [{ AttributeName: 'gpk', KeyType: 'HASH' }, { AttributeName: 'gsk', KeyType: 'RANGE' }],
        Projection: { ProjectionType: 'ALL' },
      }],
    });
    assert.equal((t.toJSON().Resources[measureTable] as { DeletionPolicy?: string }).DeletionPolicy, 'Retain', 'the counts are what advertisers pay on');
    t.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE', TargetFunctionArn: getAtt(collector) });
    alarmIs('Errors', collector);
    alarmIs('Throttles', collector);
  });

  test('collector on the player\'s CloudFront name: /measure/* and /r/*, never cached, the viewer\'s address and User-Agent passed on, the origin secret added', () => {
    const dist = Object.values(resources(t)).find((r) => r.Type === 'AWS::CloudFront::Distribution')!;
    const behaviors: any[] = dist.Properties!.DistributionConfig.CacheBehaviors
      .filter((b: any) => !['/dashboard/*', 'catalog/*', 'ivs/v1/*/media/hls/*', 'recordings/index.json'].includes(b.PathPattern));
    assert.deepEqual(behaviors.map((b) => b.PathPattern).sort(), [...COLLECTOR_PATHS].sort());
    const origins: any[] = dist.Properties!.DistributionConfig.Origins;
    for (const b of behaviors) {
      const origin = origins.find((o) => o.Id === b.TargetOriginId);
      assert.ok(origin.CustomOriginConfig, `${b.PathPattern}: a custom (function URL) origin`);
      assert.equal(origin.CustomOriginConfig.OriginProtocolPolicy, 'https-only');
      assert.equal(b.CachePolicyId, '4135ea2d-6df8-44a3-9df3-4b5a84be39ad', 'Managed-CachingDisabled');
      assert.deepEqual(b.OriginRequestPolicyId, { Ref: logicalId(t, 'AWS::CloudFront::OriginRequestPolicy', 'CollectorRequests') });
      // The secret, resolved by CloudFormation: never in the template.
      assert.deepEqual(origin.OriginCustomHeaders, [{
        HeaderName: 'x-origin-verify',
        HeaderValue: { 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: logicalId(t, 'AWS::SecretsManager::Secret', 'CollectorOriginVerify') }, ':SecretString:::}}']] },
      }]);
    }
    t.hasResourceProperties('AWS::CloudFront::OriginRequestPolicy', {
      OriginRequestPolicyConfig: Match.objectLike({
        HeadersConfig: {
          HeaderBehavior: 'whitelist',
          Headers: ['user-agent', 'sec-purpose', 'purpose', 'x-purpose', 'x-moz', 'cloudfront-viewer-address'],
        },
        CookiesConfig: { CookieBehavior: 'none' },
      }),
    });
    // Outside us-east-1 no web ACL can be made: none, and CKV_AWS_68 stays suppressed.
    assert.equal(Object.values(resources(t)).filter((r) => r.Type === 'AWS::WAFv2::WebACL').length, 0);
    const measure = behaviors.find((b) => b.PathPattern === '/measure/*');
    assert.ok(measure.AllowedMethods.includes('POST'));
    assert.equal(measure.ViewerProtocolPolicy, 'https-only', 'a POST is never redirected');
    const links = behaviors.find((b) => b.PathPattern === '/r/*');
    assert.deepEqual(links.AllowedMethods, ['GET', 'HEAD']);
    // The hosted page measures, against the same name.
    assert.match(JSON.stringify(siteDeployment().Properties!.SourceMarkers), /DomainName/);
    const outputs = t.toJSON().Outputs as Record<string, { Value: unknown }>;
    for (const name of ['CollectorUrl', 'TrackingLinks', 'MeasurementTable', 'ReportCommand', 'EventsBucket', 'AthenaTable']) assert.ok(outputs[name], name);
    assert.match(JSON.stringify(outputs.ReportCommand.Value), /adctl report --region eu-west-1 --measure-table /);
  });

  test('hosted dashboard: an IAM-only report function that may only Query the report index, CORS and CSP for the player\'s name, a readers policy', () => {
    const report = logicalId(t, 'AWS::Lambda::Function', 'Report');
    const p = resources(t)[report].Properties!;
    assert.deepEqual(p.Architectures, ['arm64']);
    assert.deepEqual(Object.keys(p.Environment.Variables), ['MEASURE_TABLE_NAME']);
    const got = statementsOf(t, p.Role['Fn::GetAtt'][0]).map((st) => [actionsOf(st).join(','), JSON.stringify(st.Resource)]).sort();
    assert.deepEqual(got, [
      ['dynamodb:Query', JSON.stringify({ 'Fn::Join': ['', [getAtt(measureTable), '/index/report']] })],
      ['logs:CreateLogStream,logs:PutLogEvents', JSON.stringify(getAtt(logicalId(t, 'AWS::Logs::LogGroup', 'ReportLogs')))],
    ]);
    const url = Object.values(resources(t)).find((r) => r.Type === 'AWS::Lambda::Url' && JSON.stringify(r.Properties!.TargetFunctionArn) === JSON.stringify(getAtt(report)))!;
    assert.equal(url.Properties!.AuthType, 'AWS_IAM', 'the counters are never public');
    const cors = url.Properties!.Cors;
    assert.deepEqual(cors.AllowMethods, ['GET']);
    assert.match(JSON.stringify(cors.AllowOrigins), /https:\/\/.*DomainName/);
    for (const h of ['authorization', 'x-amz-date', 'x-amz-security-token']) assert.ok(cors.AllowHeaders.includes(h), h);
    // The page is served under /dashboard/* with a CSP that reaches the report's host and nothing else.
    const dist = Object.values(resources(t)).find((r) => r.Type === 'AWS::CloudFront::Distribution')!;
    const behavior = dist.Properties!.DistributionConfig.CacheBehaviors.find((b: any) => b.PathPattern === '/dashboard/*');
    assert.ok(behavior, 'a /dashboard/* behavior');
    const policy = resources(t)[behavior.ResponseHeadersPolicyId.Ref].Properties!.ResponseHeadersPolicyConfig;
    const csp = JSON.stringify(policy.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy);
    assert.match(csp, /connect-src 'self' https:\/\/\*\.lambda-url\.eu-west-1\.on\.aws;/);
    assert.match(csp, /script-src 'self';/);
    // Readers get exactly the signed call, and only on this function's IAM URL.
    const readers = resources(t)[PINNED_LOGICAL_IDS.dashboardReaders];
    assert.deepEqual(readers.Properties!.PolicyDocument.Statement, [{
      Action: 'lambda:InvokeFunctionUrl',
      Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      Effect: 'Allow',
      Resource: getAtt(report),
    }]);
    // config.json with the report URL goes out with the page.
    const deployment = siteDeployment();
    assert.match(JSON.stringify(deployment.Properties!.SourceMarkers), /FunctionUrl/);
    const outputs = t.toJSON().Outputs as Record<string, { Value: unknown }>;
    for (const name of ['DashboardUrl', 'ReportUrl', 'DashboardReadersPolicy']) assert.ok(outputs[name], name);
  });

  test('raw events: Firehose to a private bucket, one gzip folder per day, and an Athena table projecting the same folders', () => {
    const p = resources(t)[stream].Properties!;
    assert.equal(p.DeliveryStreamEncryptionConfigurationInput.KeyType, 'AWS_OWNED_CMK');
    const dest = p.ExtendedS3DestinationConfiguration;
    assert.equal(dest.BucketARN['Fn::GetAtt'][0], events);
    assert.equal(dest.Prefix, `${EVENTS_PREFIX}dt=!{timestamp:yyyy-MM-dd}/`);
    assert.equal(dest.CompressionFormat, 'GZIP');
    assert.match(dest.ErrorOutputPrefix, /^errors\//);
    t.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire-raw-events', ExpirationInDays: 400 })] },
      PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true, RestrictPublicBuckets: true }),
    });
    // Firehose may write under its two prefixes and list the bucket, nothing more.
    const streamRole = dest.RoleARN['Fn::GetAtt'][0];
    const got = statementsOf(t, streamRole).map((st) => actionsOf(st).join(',')).sort();
    assert.deepEqual(got, ['logs:PutLogEvents', 's3:AbortMultipartUpload,s3:GetObject,s3:PutObject', 's3:GetBucketLocation,s3:ListBucket,s3:ListBucketMultipartUploads']);
    const table = Object.values(resources(t)).find((r) => r.Type === 'AWS::Glue::Table')!.Properties!.TableInput;
    assert.equal(table.Parameters['projection.enabled'], 'true');
    assert.equal(table.Parameters['projection.dt.format'], 'yyyy-MM-dd');
    assert.match(JSON.stringify(table.Parameters['storage.location.template']), /events\/dt=\$\{dt\}\//);
    // The columns are the fields the collector sends (backend::measure::Recorded, in measure/events.rs).
    const recorded = fs.readFileSync(path.join(REPO_ROOT, 'backend/src/measure/events.rs'), 'utf8').match(/pub struct Recorded \{([\s\S]*?)\n\}/)![1];
    const fields = [...recorded.matchAll(/pub (\w+):/g)].map((m) => m[1]);
    assert.deepEqual(table.StorageDescriptor.Columns.map((c: { Name: string }) => c.Name), fields);
  });

  test('every checkov suppression carries a written reason', () => {
    let count = 0;
    for (const [id, r] of Object.entries(resources(t))) {
      for (const skip of r.Metadata?.checkov?.skip ?? []) {
        assert.match(skip.id, /^CKV2?_AWS_\d+$/, id);
        assert.ok(typeof skip.comment === 'string' && skip.comment.length > 30, `${id} ${skip.id}: reason`);
        count++;
      }
    }
    assert.ok(count > 0);
  });
});

describe('built-in detector', () => {
  const catalogDir = fs.mkdtempSync(path.join(os.tmpdir(), 'catalog-builtin-'));
  fs.copyFileSync(path.join(REPO_ROOT, 'studio/demo/kestrel.png'), path.join(catalogDir, 'kestrel.png'));
  fs.writeFileSync(
    path.join(catalogDir, 'catalog.json'),
    JSON.stringify({
      products: [{ id: 'kestrel', image_url: 'kestrel.png', reference_images: ['kestrel.png', 's3://brand-refs/kestrel/side.png'] }],
    }),
  );
  const t = synth({ detector: 'builtin', catalog: path.join(catalogDir, 'catalog.json') });
  const onThumbnail = logicalId(t, 'AWS::Lambda::Function', 'OnThumbnail');

  test('no Rekognition permission or variable; DETECTOR=builtin; one vCPU; HD thumbnails', () => {
    assert.doesNotMatch(JSON.stringify(t.toJSON()), /rekognition:/);
    const p = resources(t)[onThumbnail].Properties!;
    assert.equal(p.Environment.Variables.DETECTOR, 'builtin');
    assert.equal(p.Environment.Variables.REKOGNITION_PROJECT_VERSION_ARN, undefined);
    assert.equal(p.MemorySize, 1769);
    t.hasResourceProperties('AWS::IVS::RecordingConfiguration', { ThumbnailConfiguration: Match.objectLike({ Resolution: 'HD', TargetIntervalSeconds: 5 }) });
  });

  test('s3:// reference images are readable, exactly those objects', () => {
    const role = resources(t)[onThumbnail].Properties!.Role['Fn::GetAtt'][0];
    const reads = statementsOf(t, role).filter((st) => actionsOf(st).join() === 's3:GetObject').map((st) => JSON.stringify(st.Resource));
    // Thumbnails, the catalog's s3:// reference, the live catalog, the
    // reference images the operator uploads beside it, and the replay's
    // cue log, recording-ended files and index.
    assert.equal(reads.length, 5, reads.join('\n'));
    assert.ok(reads.includes(JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::brand-refs/kestrel/side.png']] })), reads.join('\n'));
    const catalogBucket = logicalId(t, 'AWS::S3::Bucket', 'Catalog');
    assert.ok(reads.includes(JSON.stringify({ 'Fn::Join': ['', [getAtt(catalogBucket), '/references/*']] })), reads.join('\n'));
  });
});

test('wordmarks in the catalog are read, and a stack that needs the text models finds them', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catalog-wordmarks-'));
  fs.copyFileSync(path.join(REPO_ROOT, 'studio/demo/kestrel.png'), path.join(dir, 'kestrel.png'));
  fs.writeFileSync(
    path.join(dir, 'catalog.json'),
    JSON.stringify({ products: [{ id: 'kestrel', image_url: 'kestrel.png', wordmark: 'Kestrel' }, { id: 'plain', image_url: 'kestrel.png', wordmark: ' ' }] }),
  );
  assert.deepEqual(catalogFiles(path.join(dir, 'catalog.json')).wordmarks, ['Kestrel']);
  // scripts/setup.sh fetched the models; the synth checks they are there.
  const t = synth({ detector: 'builtin', catalog: path.join(dir, 'catalog.json') });
  assert.equal(Object.values(resources(t)).filter((r) => r.Type === 'AWS::Lambda::Function').length >= 2, true);
});

test('collectorConcurrency reserves the collector\'s concurrency (its hard throttle), and then needs no CKV_AWS_115 suppression', () => {
  const t = synth({ detector: 'builtin', collectorConcurrency: '25' });
  const collector = logicalId(t, 'AWS::Lambda::Function', 'Collector');
  const r = resources(t)[collector];
  assert.equal(r.Properties!.ReservedConcurrentExecutions, 25);
  const skipped = (r.Metadata?.checkov?.skip ?? []).map((s: { id: string }) => s.id);
  assert.ok(!skipped.includes('CKV_AWS_115'), skipped.join());
  assert.equal(resources(t)[logicalId(t, 'AWS::Lambda::Function', 'OnTick')].Properties!.ReservedConcurrentExecutions, undefined);
});

test('in us-east-1 the stack attaches its own web ACL: one rate rule per address on the collector\'s paths', () => {
  const app = new App({ postCliContext: { 'aws:cdk:bundling-stacks': [] } });
  const settings = readSettings((key: ContextKey) => ({ detector: 'builtin', edgeRateLimit: '1200' } as Record<string, unknown>)[key]);
  const stack = new AdStack(app, 'Ads', { settings, playerDist: fakePlayerDist(), env: { account: '123456789012', region: 'us-east-1' } });
  const t = Template.fromStack(stack);
  const acl = logicalId(t, 'AWS::WAFv2::WebACL', 'EdgeRateRule');
  const p = resources(t)[acl].Properties!;
  assert.equal(p.Scope, 'CLOUDFRONT');
  assert.deepEqual(p.DefaultAction, { Allow: {} });
  assert.equal(p.Rules.length, 1);
  const rule = p.Rules[0];
  assert.deepEqual(rule.Action, { Block: {} });
  const rate = rule.Statement.RateBasedStatement;
  assert.equal(rate.Limit, 1200);
  assert.equal(rate.AggregateKeyType, 'IP');
  assert.equal(rate.EvaluationWindowSec, 300);
  const prefixes = rate.ScopeDownStatement.OrStatement.Statements.map((st: any) => st.ByteMatchStatement.SearchString);
  assert.deepEqual(prefixes, ['/measure/', '/r/']);
  const dist = Object.values(resources(t)).find((r) => r.Type === 'AWS::CloudFront::Distribution')!;
  assert.deepEqual(dist.Properties!.DistributionConfig.WebACLId, getAtt(acl));
  assert.equal(JSON.stringify(dist.Metadata).includes('CKV_AWS_68'), false, 'attached: no suppression');
  // A given web ACL is attached instead, and the stack makes none.
  const given = 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/ivs-ads-edge/0123abcd-0000-4000-8000-000000000000';
  const t2 = synth({ detector: 'builtin', webAclArn: given });
  const dist2 = Object.values(resources(t2)).find((r) => r.Type === 'AWS::CloudFront::Distribution')!;
  assert.equal(dist2.Properties!.DistributionConfig.WebACLId, given);
  assert.throws(() => synth({ detector: 'builtin', webAclArn: 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/1' }), /webAclArn .* CLOUDFRONT-scope/);
});

test('a missing player build is a clear error', () => {
  const app = new App({ postCliContext: { 'aws:cdk:bundling-stacks': [] } });
  const settings = readSettings((key: ContextKey) => ({ detector: 'builtin' })[key as 'detector']);
  assert.throws(
    () => new AdStack(app, 'Ads', { settings, playerDist: path.join(os.tmpdir(), 'no-such-player') }),
    /holds no built player; run \.\/player\/build\.sh first/,
  );
});

test('retained and identity-bearing resources keep their logical IDs', () => {
  // The IDs written out, not read from PINNED_LOGICAL_IDS: a change there
  // (or a construct moved without its pin) must fail here, since
  // CloudFormation would replace the resource on the next deploy.
  const t = synth({ detector: 'builtin', channels: '2' });
  const all = t.toJSON() as { Resources: Record<string, { Type: string; DeletionPolicy?: string }> };
  const expected: [string, string, boolean][] = [
    ['RecordingsA3BDCC51', 'AWS::S3::Bucket', true],
    ['MeasurementEvents9088DB3E', 'AWS::S3::Bucket', true],
    ['PlayerBCE11709', 'AWS::S3::Bucket', true],
    ['Catalog742F25FD', 'AWS::S3::Bucket', true],
    ['MeasurementCF48D3D0', 'AWS::DynamoDB::Table', true],
    ['RecordingConfiguration', 'AWS::IVS::RecordingConfiguration', false],
    ['Channel1', 'AWS::IVS::Channel', false],
    ['Channel2', 'AWS::IVS::Channel', false],
    ['Channel1StreamKey', 'AWS::IVS::StreamKey', false],
    ['Channel2StreamKey', 'AWS::IVS::StreamKey', false],
    ['MeasurementKey29F971F0', 'AWS::SecretsManager::Secret', false],
    ['CollectorOriginVerify75278128', 'AWS::SecretsManager::Secret', false],
    ['PlayerDistributionD5D25836', 'AWS::CloudFront::Distribution', false],
    ['State1C20CC9A', 'AWS::DynamoDB::Table', false],
    ['Republish024E6D3C', 'AWS::StepFunctions::StateMachine', false],
    ['OnThumbnailFailed9569EB7A', 'AWS::SQS::Queue', false],
    ['AggregatorFailed142A6622', 'AWS::SQS::Queue', false],
    ['MeasurementQueueD5360BB5', 'AWS::Kinesis::Stream', false],
    ['MeasurementStream', 'AWS::KinesisFirehose::DeliveryStream', false],
    ['MeasurementDatabase', 'AWS::Glue::Database', false],
    ['MeasurementEventsTable', 'AWS::Glue::Table', false],
    ['Alarms04B5A0BF', 'AWS::SNS::Topic', false],
    ['DashboardReaders3C713829', 'AWS::IAM::ManagedPolicy', false],
  ];
  for (const [id, type, retained] of expected) {
    const resource = all.Resources[id];
    assert.ok(resource, `${id} (${type}) is missing: a logical ID changed, and CloudFormation would replace the resource`);
    assert.equal(resource.Type, type, id);
    if (retained) assert.equal(resource.DeletionPolicy, 'Retain', `${id} is kept on delete`);
  }
  // Every resource kept on delete is in the list.
  const retainedIds = Object.entries(all.Resources).filter(([, r]) => r.DeletionPolicy === 'Retain').map(([id]) => id).sort();
  assert.deepEqual(retainedIds, expected.filter(([, , r]) => r).map(([id]) => id).sort());
  assert.deepEqual(Object.values(PINNED_LOGICAL_IDS).sort(), expected.map(([id]) => id).filter((id) => !/^Channel\d/.test(id)).sort());
});

test('the alarm e-mail subscription keeps its logical ID (a new one would ask for confirmation again)', () => {
  const t = synth({ detector: 'builtin', alarmEmail: 'ops@example.com' });
  t.hasResource('AWS::SNS::Subscription', { Properties: { Endpoint: 'ops@example.com', Protocol: 'email' } });
  assert.ok(resources(t).Alarmsopsexamplecom5486E8DD, 'the subscription kept the ID it had before the stack was split into constructs');
});

test('the dashboard policy is dashboard/content-security-policy.txt', () => {
  const policy = dashboardCsp('https://report.example');
  assert.match(policy, /^default-src 'none'; /);
  assert.match(policy, /connect-src 'self' https:\/\/report\.example;/);
  assert.ok(!policy.includes('{report-origin}') && !policy.includes('#'), policy);
});
