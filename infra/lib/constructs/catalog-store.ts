// The live catalog: one object in a versioned bucket, which the operator
// function writes (every change a version, any version restorable), the
// functions follow within a minute (CATALOG_OBJECT, read with its ETag),
// and players read through CloudFront at catalog/catalog.json. A deploy
// seeds it with the repository's catalog and card images; a deploy that
// does not change them leaves the operator's edits in place, and one that
// does makes the repository's catalog the newest version (the operator's
// stay restorable).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { type CatalogFiles, stageCatalog } from '../catalog.ts';
import { pin, PINNED_LOGICAL_IDS, suppressCheckov } from './common.ts';

/** The catalog's key: the same path players read it at on CloudFront. */
export const CATALOG_KEY = 'catalog/catalog.json';
/** Where the operator function keeps uploaded reference images. */
export const REFERENCES_PREFIX = 'references/';

export class CatalogStore extends Construct {
  readonly bucket: s3.Bucket;
  /** `s3://<bucket>/catalog/catalog.json`, the functions' CATALOG_OBJECT. */
  readonly objectUrl: string;

  constructor(scope: Construct, id: string, props: { catalog: CatalogFiles }) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Default', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      // A year of history, and at least the last 100 versions.
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(365), noncurrentVersionsToRetain: 100 }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    pin(this.bucket, PINNED_LOGICAL_IDS.catalogBucket);
    suppressCheckov(this.bucket, {
      CKV_AWS_18: 'Every change is a version, and the operator function\'s audit log says who made it; players read it through CloudFront, where viewer requests arrive.',
    });
    this.objectUrl = `s3://${this.bucket.bucketName}/${CATALOG_KEY}`;

    const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'ivs-ads-catalog-'));
    stageCatalog(props.catalog, props.catalog.cardImages, path.join(stage, 'catalog'));
    new s3deploy.BucketDeployment(this, 'Seed', {
      destinationBucket: this.bucket,
      sources: [s3deploy.Source.asset(stage)],
      // Uploaded reference images are not in the repository: never pruned.
      prune: false,
      // Browsers revalidate (an unchanged catalog is a 304); CloudFront's
      // own TTL for catalog/* is at most 20 s (PlayerSite).
      cacheControl: [s3deploy.CacheControl.noCache()],
      memoryLimit: 256,
    });
  }
}
