// The error registry and docs/errors.md agree: every code is documented with its status.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ERRORS, ProxyError, errorBody, toProxyError, type ErrorCode } from '../src/errors.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

describe('error registry', () => {
  test.each(Object.entries(ERRORS))('%s is documented with its status and side', (code, spec) => {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\``));
    expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
    const cells = row!.split('|').map((c) => c.trim());
    expect(cells[2]).toBe(String(spec.status));
    expect(cells[3]).toBe(spec.side);
    expect(cells[4]).toBe(spec.retryable ? 'yes' : 'no');
  });

  test('the doc lists no code the registry lacks', () => {
    const documented = [...doc.matchAll(/^\| `(PC_ERR_[A-Z_]+)`/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERRORS).sort());
  });

  test('ProxyError carries code, status, side and retryable; the body names reason and code', () => {
    const e = new ProxyError('PC_ERR_UPSTREAM_TIMEOUT', 'no response head');
    expect([e.code, e.status, e.side, e.retryable]).toEqual(['PC_ERR_UPSTREAM_TIMEOUT', 504, 'upstream', false]);
    expect(errorBody(e)).toBe('504 upstream timed out (PC_ERR_UPSTREAM_TIMEOUT)\n');
    expect(e.message).toContain('no response head');
  });

  test('unknown throwables become internal errors', () => {
    const e = toProxyError(new TypeError('boom'));
    expect(e.code satisfies ErrorCode).toBe('PC_ERR_INTERNAL');
    expect(e.status).toBe(500);
    expect(toProxyError(e)).toBe(e);
  });
});
