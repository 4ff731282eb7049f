// The player's site on CloudFront: the player, its page and catalog, the
// collector's routes on the same name (with the edge's rate rule), and the
// measurement dashboard, whose reads go IAM-signed to the report function.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Annotations, Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as ivs from 'aws-cdk-lib/aws-ivs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { DASHBOARD_CSP_FILE, DASHBOARD_DIR, dashboardCsp, playerCsp } from '../repo.ts';
import type { Settings } from '../settings.ts';
import { pin, PINNED_LOGICAL_IDS, privateBucket, suppressCheckov } from './common.ts';
import type { CatalogStore } from './catalog-store.ts';
import type { Measurement } from './measurement.ts';
import { RECORDING_PREFIX, REPLAY_INDEX_KEY } from './recordings.ts';

/** The collector's routes, served on the player's CloudFront name. */
export const COLLECTOR_PATHS = ['/measure/*', '/r/*'] as const;

export interface PlayerSiteProps {
  readonly settings: Settings;
  /** The live catalog, served at catalog/ from its own bucket. */
  readonly catalogStore: CatalogStore;
  /** Folder of the built player. */
  readonly playerDist: string;
  readonly channels: ivs.CfnChannel[];
  /** IVS's recordings: their playlists and the replay index are served. */
  readonly recordings: s3.IBucket;
  readonly measurement: Measurement;
}

export class PlayerSite extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  readonly reportUrl: lambda.FunctionUrl;
  readonly dashboardReaders: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: PlayerSiteProps) {
    super(scope, id);
    const { settings: s, catalogStore, playerDist, channels, recordings, measurement } = props;
    const stack = Stack.of(this);
    // ---- The player ----------------------------------------------------
    const site = privateBucket(this, 'Default', {
      noAccessLogs: 'Static player files; CloudFront in front of it is where viewer requests arrive.',
      noVersions: 'Every deploy uploads the player again from player/dist; the repository is its history.',
    });
    pin(site, PINNED_LOGICAL_IDS.playerBucket);
    this.bucket = site;

    // Embedders load player.js, its wasm and the catalog from other origins:
    // CORS for GET, plus the usual security headers.
    const headers = new cloudfront.ResponseHeadersPolicy(this, 'Headers', {
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
    if (webAclArn === undefined && !Token.isUnresolved(stack.region) && stack.region === 'us-east-1') {
      const acl = new wafv2.CfnWebACL(this, 'EdgeRateRule', {
        scope: 'CLOUDFRONT',
        defaultAction: { allow: {} },
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${stack.stackName}-edge`, sampledRequestsEnabled: true },
        rules: [{
          name: 'CollectorRatePerAddress',
          priority: 0,
          action: { block: {} },
          visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${stack.stackName}-collector-rate`, sampledRequestsEnabled: true },
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
      Annotations.of(stack).addWarning(
        `no edge rate rule: a CLOUDFRONT web ACL must be made in us-east-1 and this stack is in ${stack.region}; ` +
          'make one (docs/measurement.md, "The edge\'s rate rule") and deploy with -c webAclArn=<its ARN>',
      );
    }
    const distribution = new cloudfront.Distribution(this, 'Distribution', {
      ...(webAclArn !== undefined ? { webAclId: webAclArn } : {}),
      comment: `${stack.stackName} player`,
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
    this.distribution = distribution;
    // The live catalog and its card images, from the catalog's bucket, kept
    // at the edge at most 20 s: with the player's 30 s re-read, an
    // operator's change reaches every viewer within a minute.
    distribution.addBehavior('catalog/*', origins.S3BucketOrigin.withOriginAccessControl(catalogStore.bucket), {
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
      cachePolicy: new cloudfront.CachePolicy(this, 'CatalogCache', {
        comment: 'the live catalog: at most 20 s at the edge',
        defaultTtl: Duration.seconds(10),
        maxTtl: Duration.seconds(20),
        minTtl: Duration.seconds(0),
        enableAcceptEncodingGzip: true,
        enableAcceptEncodingBrotli: true,
      }),
      responseHeadersPolicy: headers,
      compress: true,
    });
    // Replays: the recordings' playlists, segments and cues.json, and the
    // index the replays page lists, from the recordings bucket; no other
    // path reaches it (thumbnails, IVS's event files and the cue log stay
    // private). Finished recordings do not change; the index and cues.json
    // are written with no-cache, so the edge revalidates them.
    const recordingsOrigin = origins.S3BucketOrigin.withOriginAccessControl(recordings);
    for (const pattern of [`${RECORDING_PREFIX}*/media/hls/*`, REPLAY_INDEX_KEY]) {
      distribution.addBehavior(pattern, recordingsOrigin, {
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
      });
    }
    // The collector on the player's own name: beacons from the hosted page
    // are same-origin, and the QR code's link stays short. Never cached;
    // every viewer header but Host goes through (the collector reads the
    // User-Agent to keep robots out of the counts).
    // With the origin secret (above), and the viewer's address, which the
    // collector's rate limits and link counts key on (hashed).
    const collectorOrigin = new origins.FunctionUrlOrigin(measurement.collectorUrl, {
      customHeaders: { 'x-origin-verify': measurement.originVerify.secretValue.unsafeUnwrap() },
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
    const reportUrl = (this.reportUrl = measurement.report.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.AWS_IAM,
      cors: {
        allowedOrigins: [playerOrigin],
        allowedMethods: [lambda.HttpMethod.GET],
        allowedHeaders: ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],
        maxAge: Duration.hours(1),
      },
    }));
    // Any function URL host of this region: the exact host would make the
    // URL (whose CORS names the distribution) and the distribution (whose
    // headers would name the URL) depend on each other. Only this page's
    // own scripts run (script-src 'self'), and only they hold the keys.
    const reportHost = `*.lambda-url.${stack.region}.on.aws`;
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
    const dashboardReaders = (this.dashboardReaders = new iam.ManagedPolicy(this, 'DashboardReaders', {
      description: `${stack.stackName}: read the measurement reports through the hosted dashboard (the report function URL, IAM-signed)`,
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [measurement.report.functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
      ],
    }));
    pin(dashboardReaders, PINNED_LOGICAL_IDS.dashboardReaders);

    suppressCheckov(distribution, {
      ...(webAclArn === undefined
        ? { CKV_AWS_68: 'No CLOUDFRONT web ACL can be made outside us-east-1; synth warns and docs/measurement.md says how to attach one (webAclArn).' }
        : {}),
      CKV_AWS_86: 'Access logs need a log bucket with ACLs; viewer numbers come from IVS\'s own metrics.',
      CKV_AWS_174: 'The default *.cloudfront.net certificate fixes the minimum TLS version; with your own domain and certificate, set minimumProtocolVersion TLSv1.2_2021.',
    });

    // The catalog is served from its own bucket (above).
    const playerCatalog = fs.mkdtempSync(path.join(os.tmpdir(), 'ivs-ads-'));
    // The dashboard's files at dashboard/, the same the studio serves; its
    // config.json (written at deploy, when the URL is known) names the
    // report function, which switches the page to IAM sign-in.
    // Its policy file is sent as a header (above), not hosted.
    fs.cpSync(DASHBOARD_DIR, path.join(playerCatalog, 'dashboard'), {
      recursive: true,
      filter: (source) => source !== DASHBOARD_CSP_FILE,
    });
    const deployment = new s3deploy.BucketDeployment(this, 'Files', {
      destinationBucket: site,
      sources: [
        s3deploy.Source.asset(playerDist, { exclude: ['index.html', 'recordings.html'] }),
        s3deploy.Source.data('index.html', playerPage(channels, `https://${distribution.distributionDomainName}`)),
        s3deploy.Source.data('recordings.html', recordingsPage(playerDist, `https://${distribution.distributionDomainName}`)),
        s3deploy.Source.asset(playerCatalog),
        s3deploy.Source.jsonData('dashboard/config.json', { api: reportUrl.url, region: stack.region }),
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
    narrowInvalidation(deployment, stack.formatArn({
      service: 'cloudfront',
      region: '',
      resource: 'distribution',
      resourceName: distribution.distributionId,
    }));

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
<p><a href="recordings.html">Replays</a></p>
<script type="module" src="player.js"></script>
${players}
</html>
`;
}

/**
 * The hosted replays page: the studio's (player/web/recordings.html, in the
 * built player) with the stack's index, catalog and collector in place of
 * the studio's. Counts are on the dashboard (IAM sign-in), so it names no
 * report.
 */
export function recordingsPage(playerDist: string, collector: string): string {
  const page = fs.readFileSync(path.join(playerDist, 'recordings.html'), 'utf8');
  const studio = /<div id="replay"[^>]*><\/div>/;
  if (!studio.test(page)) throw new Error(`${playerDist}/recordings.html has no <div id="replay" ...></div> to configure`);
  return page.replace(
    studio,
    `<div id="replay" data-catalog="catalog/catalog.json" data-collector="${collector}" data-index="${REPLAY_INDEX_KEY}"></div>`,
  );
}
