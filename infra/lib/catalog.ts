// What the deployment needs to know about the catalog: which local files go
// with it (card images for the player, reference images for the built-in
// detector) and which S3 objects the detector must be allowed to read. The
// catalog's full validation is the backend's (`Catalog::from_json`), run by
// `adctl products` before a deploy and by the Lambdas at cold start; here only
// what decides the deployment's shape is checked.

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CatalogFiles {
  /** Absolute path of the catalog JSON. */
  readonly catalogPath: string;
  /** Files referenced by `image_url` as paths beside the catalog (relative, POSIX). */
  readonly cardImages: string[];
  /** Files referenced by `reference_images` as paths beside the catalog. */
  readonly referenceImages: string[];
  /** `reference_images` given as s3://bucket/key. */
  readonly s3References: { bucket: string; key: string }[];
  /** Products' `wordmark` fields (the built-in detector reads them as text). */
  readonly wordmarks: string[];
  readonly productCount: number;
}

export class CatalogError extends Error {
  constructor(catalogPath: string, problems: string[]) {
    super(`catalog ${catalogPath}:\n` + problems.map((p) => `  - ${p}`).join('\n'));
    this.name = 'CatalogError';
  }
}

const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/;

function isRemote(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(url);
}

/** Reads the catalog at `catalogPath` and lists the files that ship with it. */
export function catalogFiles(catalogPath: string): CatalogFiles {
  const problems: string[] = [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(catalogPath, 'utf8'));
  } catch (e) {
    throw new CatalogError(catalogPath, [
      `cannot read it as JSON (${(e as Error).message}); pass -c catalog=<path of your catalog.json, relative to the repository root>`,
    ]);
  }
  const products = (parsed as { products?: unknown })?.products;
  if (!Array.isArray(products) || products.length === 0) {
    throw new CatalogError(catalogPath, ['field "products" must be a non-empty array of products']);
  }
  const dir = path.dirname(catalogPath);
  const cardImages = new Set<string>();
  const referenceImages = new Set<string>();
  const s3References: { bucket: string; key: string }[] = [];
  const wordmarks: string[] = [];

  const local = (rel: string, where: string, into: Set<string>) => {
    const posix = rel.replace(/^\.\//, '');
    if (posix.startsWith('/') || posix.split('/').includes('..')) {
      problems.push(`${where}: ${JSON.stringify(rel)} must stay beside the catalog (no leading / and no ..)`);
      return;
    }
    if (!fs.existsSync(path.join(dir, posix))) {
      problems.push(`${where}: file ${path.join(dir, posix)} does not exist; add it beside the catalog or fix the path`);
      return;
    }
    into.add(posix);
  };

  products.forEach((p: unknown, i: number) => {
    const product = (p ?? {}) as Record<string, unknown>;
    const name = `product ${JSON.stringify(product.id ?? '?')} (#${i + 1})`;
    const image = product.image_url;
    if (typeof image === 'string' && !isRemote(image)) local(image, `${name}, field "image_url"`, cardImages);
    if (typeof product.wordmark === 'string' && product.wordmark.trim() !== '') wordmarks.push(product.wordmark);
    const refs = product.reference_images;
    if (refs === undefined) return;
    if (!Array.isArray(refs)) {
      problems.push(`${name}, field "reference_images": must be an array of paths or s3:// URLs`);
      return;
    }
    for (const ref of refs) {
      if (typeof ref !== 'string') {
        problems.push(`${name}, field "reference_images": ${JSON.stringify(ref)} must be a string`);
      } else if (ref.startsWith('s3://')) {
        const m = S3_URL.exec(ref);
        if (m) s3References.push({ bucket: m[1], key: m[2] });
        else problems.push(`${name}, field "reference_images": ${JSON.stringify(ref)} is not an s3://bucket/key URL`);
      } else if (isRemote(ref)) {
        problems.push(`${name}, field "reference_images": ${JSON.stringify(ref)} must be a path beside the catalog or an s3://bucket/key URL`);
      } else {
        local(ref, `${name}, field "reference_images"`, referenceImages);
      }
    }
  });
  if (problems.length > 0) throw new CatalogError(catalogPath, problems);
  return {
    catalogPath,
    cardImages: [...cardImages].sort(),
    referenceImages: [...referenceImages].sort(),
    s3References,
    wordmarks,
    productCount: products.length,
  };
}

/**
 * Copies the catalog (as catalog.json) and the given files, at the same
 * relative paths, into the folder `stage`: an asset made from it holds
 * exactly what ships, and its hash changes exactly when they do.
 */
export function stageCatalog(files: CatalogFiles, relFiles: string[], stage: string): void {
  const dir = path.dirname(files.catalogPath);
  fs.mkdirSync(stage, { recursive: true });
  fs.copyFileSync(files.catalogPath, path.join(stage, 'catalog.json'));
  for (const rel of relFiles) {
    const to = path.join(stage, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(dir, rel), to);
  }
}
