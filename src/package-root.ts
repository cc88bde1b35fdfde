// Where the packaged files live (default config, editor schema, build/ with the native
// binaries), found from this module's own location so it works from src/ under vitest and
// from dist/src/ after a build.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The directory holding Portcullis's package.json. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'portcullis') {
      return (root = dir);
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('portcullis: cannot find the package root from ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** config/default.yaml: the demo config `npm start` serves and `check` reads without -c. */
export function defaultConfigPath(): string {
  return join(packageRoot(), 'config', 'default.yaml');
}

/** schema/portcullis.schema.json: generated from schema.ts by write-schema.ts. */
export function schemaFilePath(): string {
  return join(packageRoot(), 'schema', 'portcullis.schema.json');
}
