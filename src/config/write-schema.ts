// Writes schema/portcullis.schema.json from the zod schema (the single source). Run after
// changing schema.ts: `node dist/src/config/write-schema.js`; a test fails while it is stale.

import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { schemaFilePath } from '../package-root.js';
import { configJsonSchema } from './schema.js';

/** The file's exact text: 2-space JSON with a trailing newline. */
export function schemaFileText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

export function writeSchema(path: string = schemaFilePath()): string {
  writeFileSync(path, schemaFileText());
  return path;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`wrote ${writeSchema()}\n`);
}
