// The CDK app: `npx cdk deploy -c detector=builtin` (or
// `-c projectVersionArn=arn:...`); every setting is in lib/settings.ts and the
// docs/deploy.md.
//
// IVS_ADS_SKIP_BUNDLING=1 synthesizes without building the Rust functions
// (the tests' offline synth; the CLI refuses `-c aws:cdk:bundling-stacks=`).

import { App } from 'aws-cdk-lib';
import { readSettings, SettingsError, type ContextKey } from '../lib/settings.ts';
import { AdStack } from '../lib/stack.ts';

const app = new App(
  process.env.IVS_ADS_SKIP_BUNDLING === '1' ? { postCliContext: { 'aws:cdk:bundling-stacks': [] } } : {},
);
try {
  const givenKeys = Object.keys(app.node.getAllContext());
  const settings = readSettings((key: ContextKey) => app.node.tryGetContext(key), givenKeys);
  new AdStack(app, 'IvsInteractiveAds', {
    settings,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    description: 'Interactive advertising for Amazon IVS: channels with thumbnails, detection Lambdas, workflow, player',
  });
} catch (e) {
  // A clear message, not a stack trace, for a settings or catalog mistake.
  if (e instanceof SettingsError || (e instanceof Error && /^(catalog |.*player\/build\.sh)/.test(e.message))) {
    console.error(`error: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
