#!/usr/bin/env bash
# The CDK app's tests, all offline (no AWS credentials):
#   1. tsc type check; unit and aws-cdk-lib/assertions tests (node --test);
#   2. offline synth (bundling skipped) with each detector, then cfn-lint and
#      checkov on the template: no error, no warning, no failed check
#      (suppressions carry their reason in the resource's metadata, and
#      scripts/check-suppressions.ts fails on one that is not needed);
#   3. asl-validator on the workflow definition the stack deploys;
#   4. a real synth WITH bundling: the six functions built for arm64 in one
#      cargo lambda build (profile bundle-check: the deploy's target and
#      features, linked fast), which each function's bundling then finds
#      built; then scripts/check-bundle.ts on the packages.
# Needs player/dist (player/build.sh) and target/debug/adctl (cargo test).
set -Eeuo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/steps.sh
source ../scripts/steps.sh
say() { step "infra: $*"; }
# The CDK CLI must not reach for the network: no notices, no telemetry.
export CDK_DISABLE_CLI_TELEMETRY=true
# cfn-lint, checkov and cargo-lambda, from the project's installer.
../scripts/setup.sh test
# shellcheck source=scripts/env.sh
source ../scripts/env.sh

say "tsc --noEmit"
npx --no-install tsc --noEmit
say "node --test (settings, catalog, the stack's resources and IAM)"
node --import tsx --test test/*.test.ts

arn='arn:aws:rekognition:us-east-1:123456789012:project/ads/version/ads.1/1730000000000'
for variant in "projectVersionArn=$arn" "detector=builtin"; do
  out="cdk.out.${variant%%=*}"
  say "cdk synth (bundling skipped) -c $variant"
  rm -rf "$out"
  IVS_ADS_SKIP_BUNDLING=1 npx --no-install cdk synth --no-notices -q -o "$out" -c "$variant" -c channels=2 >/dev/null
  say "cfn-lint ($variant)"
  cfn-lint "$out/IvsInteractiveAds.template.json"
  say "checkov ($variant)"
  checkov -f "$out/IvsInteractiveAds.template.json" --framework cloudformation --compact --quiet --skip-download
  say "checkov suppressions are all needed ($variant)"
  npx --no-install tsx scripts/check-suppressions.ts "$out/IvsInteractiveAds.template.json"
done

say "asl-validator backend/workflow/republish.asl.json"
npx --no-install asl-validator --json-path ../backend/workflow/republish.asl.json

# The demo catalog with a wordmark, so the bundle also proves the wordmark
# signal's packaging: on-thumbnail built with the text feature, the models
# beside the catalog.
catalog_dir=$(mktemp -d)
trap 'rm -rf "$catalog_dir"' EXIT
cp -R ../studio/demo/. "$catalog_dir"/
node -e '
  const fs = require("fs"), file = process.argv[1];
  const c = JSON.parse(fs.readFileSync(file, "utf8"));
  c.products[0].wordmark = c.products[0].id;
  fs.writeFileSync(file, JSON.stringify(c, null, 2));
' "$catalog_dir/catalog.json"
# One build of the six functions, exactly as each function's bundling asks
# for it (from backend/, the same features and profile), so that cargo links
# them side by side and the six bundling commands find them built: four
# separate builds each linked the backend again (13 + 4 + 3 + 3 minutes with
# thin LTO, on 2 cores).
say "cargo lambda build --arm64 --profile bundle-check --features text (the six functions at once)"
(cd ../backend && cargo lambda build --profile bundle-check --arm64 --features text \
  --bin on-thumbnail --bin on-tick --bin operator --bin collector --bin aggregator --bin report)
say "cdk synth with bundling (each function packaged from that build; on-thumbnail with the text models)"
rm -rf cdk.out.bundled
npx --no-install cdk synth --no-notices -q -o cdk.out.bundled -c detector=builtin -c buildProfile=bundle-check \
  -c catalog="$catalog_dir/catalog.json" >/dev/null
ADCTL="${ADCTL:-../target/debug/adctl}" npx --no-install tsx scripts/check-bundle.ts cdk.out.bundled "$catalog_dir/catalog.json"
