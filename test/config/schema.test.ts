import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { defaultConfigPath, schemaFilePath } from '../../src/package-root.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { schemaFileText } from '../../src/config/write-schema.js';

interface JsonSchema {
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
}

/** Every named property, with its dotted path, walking through unions, lists and maps. */
function properties(schema: JsonSchema, path = ''): [string, JsonSchema][] {
  const own = Object.entries(schema.properties ?? {}).flatMap(([k, s]) => [[`${path}${k}`, s] as [string, JsonSchema], ...properties(s, `${path}${k}.`)]);
  const nested = [...(schema.anyOf ?? []), ...(schema.items ? [schema.items] : [])].flatMap((s) => properties(s, path));
  const values = typeof schema.additionalProperties === 'object' ? properties(schema.additionalProperties, `${path}*.`) : [];
  return [...own, ...nested, ...values];
}

describe('editor JSON Schema', () => {
  test('schema/portcullis.schema.json is up to date (regenerate: node dist/src/config/write-schema.js)', () => {
    expect(readFileSync(schemaFilePath(), 'utf8')).toBe(schemaFileText());
    expect(JSON.parse(readFileSync(schemaFilePath(), 'utf8'))).toEqual(configJsonSchema());
  });

  test('every field carries a description', () => {
    const fields = properties(configJsonSchema() as JsonSchema);
    expect(fields.length).toBeGreaterThan(25);
    expect(fields.filter(([, s]) => !s.description).map(([p]) => p)).toEqual([]);
  });

  test('the file shape is closed: unknown keys are flagged in the editor too', () => {
    const root = configJsonSchema() as JsonSchema;
    expect(root.additionalProperties).toBe(false);
  });

  test('top-level x-* extension keys are allowed in the editor, as by the loader', () => {
    const root = configJsonSchema() as JsonSchema & { patternProperties?: Record<string, JsonSchema> };
    expect(Object.keys(root.patternProperties ?? {})).toEqual(['^x-']);
    expect(root.patternProperties!['^x-']!.description).toMatch(/ignored/);
  });
});

describe('config/default.yaml', () => {
  test('loads, serves 127.0.0.1:8080 and sends / to the demo upstream', () => {
    const config = loadConfigFile(defaultConfigPath(), {});
    expect(config.listen).toEqual([{ host: '127.0.0.1', port: 8080 }]);
    expect(config.upstreams['demo']!.targets).toEqual([{ url: 'http://127.0.0.1:3000', host: '127.0.0.1', port: 3000, weight: 1, max_connections: 256 }]);
    expect(config.routes).toMatchObject([{ path: '/', upstream: 'demo' }]);
  });

  test('PORTCULLIS_DEMO_PORT moves the demo origin', () => {
    const config = loadConfigFile(defaultConfigPath(), { PORTCULLIS_DEMO_PORT: '4567' });
    expect(config.upstreams['demo']!.targets[0]!.port).toBe(4567);
  });

  test('names the editor schema', () => {
    expect(readFileSync(defaultConfigPath(), 'utf8')).toContain('# yaml-language-server: $schema=../schema/portcullis.schema.json');
  });
});
