// The stack's IAM policies against the AWS calls the functions really make.
//
// tests/aws-calls.json is the reviewed list of (role, action, resource) that
// the over-the-wire tests record through a proxy in front of moto and the
// stand-in (tests/src/aws_calls.rs); that test fails when the code makes a
// call the list lacks, or no longer makes one it has. Here the list meets the
// synthesized template, in both directions:
//   * every call is allowed by its role's policy, evaluated as IAM evaluates
//     a statement (actions case-insensitive, `*` and `?` wildcards, an
//     explicit Deny wins), with the template's Ref, Fn::GetAtt and Fn::Join
//     resolved to the names the stack's resources get;
//   * every action a role is granted is used by some call on a resource the
//     statement names, except the few the Lambda service itself performs
//     with the function's role (PLATFORM_ACTIONS).
// Together: a new AWS call without a grant, or a grant without a call, fails
// the README's test command.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { REPO_ROOT } from '../lib/repo.ts';
import { readSettings, type ContextKey } from '../lib/settings.ts';
import { AdStack } from '../lib/stack.ts';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
/** The model ARN and the s3:// reference the Rust scenarios use. */
const PROJECT_VERSION_ARN = `arn:aws:rekognition:${REGION}:${ACCOUNT}:project/shop/version/shop.1/1`;
const S3_REFERENCE = 's3://brand-refs/aws/aws-1.png';

/**
 * Granted to a function's role for what the Lambda service does on its
 * behalf, never called by our code: writing its logs, and sending a failed
 * asynchronous event to the dead-letter queue.
 */
const PLATFORM_ACTIONS = new Set([
  'logs:createlogstream',
  'logs:putlogevents',
  'sqs:sendmessage',
  // The aggregator's Kinesis event source mapping reads the stream with the
  // function's role, and sends a failed batch's place to its queue.
  'kinesis:describestream',
  'kinesis:describestreamsummary',
  'kinesis:getrecords',
  'kinesis:getsharditerator',
  'kinesis:listshards',
  'kinesis:subscribetoshard',
  'kinesis:liststreams',
  'kinesis:describestreamconsumer',
  'sqs:getqueueattributes',
  'sqs:getqueueurl',
]);

type Call = { role: string; action: string; resource: string };
type Statement = { Effect: string; Action?: string | string[]; NotAction?: unknown; Resource?: unknown; NotResource?: unknown; Condition?: unknown };
type Resource = { Type: string; Properties?: Record<string, any> };

const calls: Call[] = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'tests/aws-calls.json'), 'utf8'));

function fakePlayerDist(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'player-dist-'));
  for (const f of ['index.html', 'player.js', 'ivs_ad_player_bg.wasm']) fs.writeFileSync(path.join(dir, f), f);
  // The real replays page: the stack configures it.
  fs.copyFileSync(path.join(REPO_ROOT, 'player/web/recordings.html'), path.join(dir, 'recordings.html'));
  return dir;
}

function synth(context: Record<string, unknown>): Record<string, Resource> {
  const app = new App({ postCliContext: { 'aws:cdk:bundling-stacks': [] } });
  const settings = readSettings((key: ContextKey) => context[key]);
  const stack = new AdStack(app, 'Ads', { settings, playerDist: fakePlayerDist(), env: { account: ACCOUNT, region: REGION } });
  return Template.fromStack(stack).toJSON().Resources;
}

/** A glob as IAM reads one: `*` any run of characters, `?` one character. */
export function globMatches(pattern: string, value: string, caseInsensitive = false): boolean {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, caseInsensitive ? 'is' : 's').test(value);
}

/** Resolves the template's intrinsics to the names and ARNs of its resources. */
class Resolver {
  constructor(private readonly resources: Record<string, Resource>) {}

  /** A resource's physical name: its literal name property, else a made-up one. */
  name(id: string): string {
    const r = this.resources[id];
    assert.ok(r, `no resource ${id}`);
    const p = r.Properties ?? {};
    const literal = [p.TableName, p.BucketName, p.Name, p.FunctionName, p.StateMachineName, p.QueueName, p.LogGroupName].find((v) => typeof v === 'string');
    return literal ?? id.toLowerCase();
  }

  arn(id: string): string {
    const name = this.name(id);
    const arn: Record<string, string> = {
      'AWS::DynamoDB::Table': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`,
      'AWS::S3::Bucket': `arn:aws:s3:::${name}`,
      'AWS::IVS::Channel': `arn:aws:ivs:${REGION}:${ACCOUNT}:channel/${name}`,
      'AWS::Lambda::Function': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`,
      'AWS::Logs::LogGroup': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${name}:*`,
      'AWS::SQS::Queue': `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`,
      'AWS::StepFunctions::StateMachine': `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`,
      'AWS::KinesisFirehose::DeliveryStream': `arn:aws:firehose:${REGION}:${ACCOUNT}:deliverystream/${name}`,
      'AWS::Kinesis::Stream': `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/${name}`,
      // Secrets Manager adds six random characters to a secret's name.
      'AWS::SecretsManager::Secret': `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbC123`,
    };
    const type = this.resources[id].Type;
    assert.ok(arn[type], `the evaluator does not know the ARN of a ${type} (${id}); teach it`);
    return arn[type];
  }

  resolve(value: unknown): string {
    if (typeof value === 'string') return value;
    const v = value as Record<string, any>;
    if ('Ref' in v) {
      const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com' };
      if (pseudo[v.Ref]) return pseudo[v.Ref];
      const type = this.resources[v.Ref]?.Type;
      return type === 'AWS::StepFunctions::StateMachine' || type === 'AWS::SecretsManager::Secret' ? this.arn(v.Ref) : this.name(v.Ref);
    }
    if ('Fn::GetAtt' in v) {
      const [id, attr] = v['Fn::GetAtt'];
      assert.equal(attr, 'Arn', `the evaluator resolves Fn::GetAtt Arn only, not ${attr}`);
      return this.arn(id);
    }
    if ('Fn::Join' in v) {
      const [separator, parts] = v['Fn::Join'];
      return (parts as unknown[]).map((p) => this.resolve(p)).join(separator);
    }
    throw new Error(`the evaluator cannot resolve ${JSON.stringify(value)}; teach it`);
  }
}

/** One role of the stack: its statements with resources resolved. */
type Role = { statements: { effect: string; actions: string[]; resources: string[] }[] };

function roleOf(resources: Record<string, Resource>, resolver: Resolver, roleId: string): Role {
  const statements = Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles ?? []).some((x: any) => x.Ref === roleId))
    .flatMap((r) => r.Properties!.PolicyDocument.Statement as Statement[])
    .map((st) => {
      for (const unsupported of ['NotAction', 'NotResource', 'Condition'] as const) {
        assert.equal(st[unsupported], undefined, `${roleId}: the evaluator does not handle ${unsupported}; teach it`);
      }
      return {
        effect: st.Effect,
        actions: [st.Action ?? []].flat(),
        resources: [st.Resource ?? []].flat().map((r) => resolver.resolve(r)),
      };
    });
  assert.ok(statements.length > 0, `${roleId} has no policy`);
  return { statements };
}

function statementMatches(st: Role['statements'][number], action: string, resource: string): boolean {
  return st.actions.some((a) => globMatches(a, action, true)) && st.resources.some((r) => globMatches(r, resource));
}

/** IAM's verdict for one identity-policy request: an explicit Deny wins, then any Allow. */
export function allows(role: Role, action: string, resource: string): boolean {
  if (role.statements.some((st) => st.effect === 'Deny' && statementMatches(st, action, resource))) return false;
  return role.statements.some((st) => st.effect === 'Allow' && statementMatches(st, action, resource));
}

/** Checks one synthesized stack against the calls of the roles it plays. */
function checkStack(title: string, context: Record<string, unknown>, roles: Record<string, string>) {
  describe(title, () => {
    const resources = synth(context);
    const resolver = new Resolver(resources);
    const idOf = (type: string, prefix: string) => {
      const ids = Object.entries(resources).filter(([id, r]) => r.Type === type && id.includes(prefix)).map(([id]) => id);
      assert.equal(ids.length, 1, `one ${type} ${prefix}*`);
      return ids[0];
    };
    const onTick = idOf('AWS::Lambda::Function', 'OnTick');
    // The tests' names for the stack's resources (see aws_calls::normalize_resource).
    const placeholders: Record<string, string> = {
      '{table}': resolver.name(idOf('AWS::DynamoDB::Table', 'State')),
      '{recordings}': resolver.name(idOf('AWS::S3::Bucket', 'Recordings')),
      '{channel}': resolver.name(idOf('AWS::IVS::Channel', 'Channel1')),
      '{state_machine}': resolver.name(idOf('AWS::StepFunctions::StateMachine', 'Republish')),
      '{tick_function}': resolver.name(onTick),
      '{measure_table}': resolver.name(idOf('AWS::DynamoDB::Table', 'Measurement')),
      '{measure_stream}': resolver.name(idOf('AWS::KinesisFirehose::DeliveryStream', 'MeasurementStream')),
      '{measure_events}': resolver.name(idOf('AWS::Kinesis::Stream', 'MeasurementQueue')),
      '{measurement_key}': resolver.arn(idOf('AWS::SecretsManager::Secret', 'MeasurementKey')),
      '{origin_verify}': resolver.arn(idOf('AWS::SecretsManager::Secret', 'CollectorOriginVerify')),
      '{catalog}': resolver.name(idOf('AWS::S3::Bucket', 'Catalog')),
      '{reference}': '0123456789abcdef.png',
      '{recording}': 'AbCdEf123456',
      '{thumbnail}': 'thumb0',
      '{cue}': '1790000000000-1790000000000',
      '{catalog_version}': '62756e646c6564',
      '{sighting}': '1790000000-thumb0',
    };
    const bind = (resource: string) => Object.entries(placeholders).reduce((r, [k, v]) => r.split(k).join(v), resource);
    const roleIds: Record<string, string> = {
      OnThumbnail: resources[idOf('AWS::Lambda::Function', 'OnThumbnail')].Properties!.Role['Fn::GetAtt'][0],
      OnTick: resources[onTick].Properties!.Role['Fn::GetAtt'][0],
      Republish: resources[idOf('AWS::StepFunctions::StateMachine', 'Republish')].Properties!.RoleArn['Fn::GetAtt'][0],
      Collector: resources[idOf('AWS::Lambda::Function', 'Collector')].Properties!.Role['Fn::GetAtt'][0],
      Aggregator: resources[idOf('AWS::Lambda::Function', 'Aggregator')].Properties!.Role['Fn::GetAtt'][0],
      Report: resources[idOf('AWS::Lambda::Function', 'Report')].Properties!.Role['Fn::GetAtt'][0],
      Operator: resources[idOf('AWS::Lambda::Function', 'Operator')].Properties!.Role['Fn::GetAtt'][0],
    };

    for (const [construct, callsOf] of Object.entries(roles)) {
      const role = roleOf(resources, resolver, roleIds[construct]);
      const made = calls.filter((c) => c.role === callsOf).map((c) => ({ ...c, resource: bind(c.resource) }));

      test(`${construct}: every call ${callsOf} makes is allowed`, () => {
        assert.ok(made.length > 0, `tests/aws-calls.json has no call of ${callsOf}`);
        const denied = made.filter((c) => !allows(role, c.action, c.resource));
        assert.deepEqual(denied, [], `denied in AWS; grant them in lib/constructs/, on exactly these resources`);
      });

      test(`${construct}: every grant is used by a call ${callsOf} makes`, () => {
        const unused: string[] = [];
        for (const st of role.statements.filter((s) => s.effect === 'Allow')) {
          for (const action of st.actions) {
            if (PLATFORM_ACTIONS.has(action.toLowerCase())) continue;
            const used = made.some((c) => globMatches(action, c.action, true) && st.resources.some((r) => globMatches(r, c.resource)));
            if (!used) unused.push(`${action} on ${st.resources.join(', ')}`);
          }
        }
        assert.deepEqual(unused, [], 'granted but never called: drop the grant, or add the scenario that makes the call');
      });
    }
  });
}

checkStack('Rekognition detector', { projectVersionArn: PROJECT_VERSION_ARN, channels: '2' }, {
  OnThumbnail: 'on-thumbnail',
  OnTick: 'on-tick',
  Republish: 'workflow',
  Collector: 'collector',
  Aggregator: 'aggregator',
  Report: 'report',
  Operator: 'operator-function',
});

const catalogDir = fs.mkdtempSync(path.join(os.tmpdir(), 'catalog-permissions-'));
fs.copyFileSync(path.join(REPO_ROOT, 'studio/demo/kestrel.png'), path.join(catalogDir, 'kestrel.png'));
fs.writeFileSync(
  path.join(catalogDir, 'catalog.json'),
  JSON.stringify({ products: [{ id: 'aws', image_url: 'kestrel.png', reference_images: ['kestrel.png', S3_REFERENCE] }] }),
);
checkStack('built-in detector', { detector: 'builtin', catalog: path.join(catalogDir, 'catalog.json'), channels: '2' }, {
  OnThumbnail: 'on-thumbnail-builtin',
  OnTick: 'on-tick',
  Republish: 'workflow',
  Collector: 'collector',
  Aggregator: 'aggregator',
  Report: 'report',
  Operator: 'operator-function',
});

describe('the evaluator itself', () => {
  const role: Role = {
    statements: [
      { effect: 'Allow', actions: ['s3:GetObject'], resources: ['arn:aws:s3:::b/ivs/v1/*/media/thumbnails/*'] },
      { effect: 'Allow', actions: ['dynamodb:Get?tem'], resources: ['arn:aws:dynamodb:r:a:table/t'] },
      { effect: 'Deny', actions: ['s3:*'], resources: ['arn:aws:s3:::b/ivs/v1/secret/*'] },
    ],
  };
  test('wildcards span slashes, actions ignore case, resources do not', () => {
    assert.ok(allows(role, 's3:getobject', 'arn:aws:s3:::b/ivs/v1/1/c/2026/media/thumbnails/t.jpg'));
    assert.ok(!allows(role, 's3:GetObject', 'arn:aws:s3:::B/ivs/v1/1/media/thumbnails/t.jpg'));
    assert.ok(!allows(role, 's3:GetObject', 'arn:aws:s3:::b/ivs/v1/1/media/hls/t.ts'));
    assert.ok(allows(role, 'dynamodb:GetItem', 'arn:aws:dynamodb:r:a:table/t'));
    assert.ok(!allows(role, 'dynamodb:GetItems', 'arn:aws:dynamodb:r:a:table/t'));
    assert.ok(!allows(role, 'dynamodb:GetItem', 'arn:aws:dynamodb:r:a:table/t2'));
  });
  test('an explicit Deny wins over an Allow', () => {
    assert.ok(!allows(role, 's3:GetObject', 'arn:aws:s3:::b/ivs/v1/secret/media/thumbnails/t.jpg'));
  });
  test('a call nobody granted is denied (implicit deny)', () => {
    assert.ok(!allows(role, 'states:StartExecution', 'arn:aws:states:r:a:stateMachine:m'));
  });
});
