// The primary's health checker against a real origin: a check sent before a reload (or a stop)
// reports to no one, so a stale answer never overrules a newer one.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import http from 'node:http';
import type net from 'node:net';
import { HealthChecker } from '../../src/upstream/health/checker.js';
import { TargetTable } from '../../src/upstream/health/table.js';
import { STATE_HEALTHY } from '../../src/shm/target-table.js';
import { validateConfig } from '../../src/config/validate.js';
import type { Config } from '../../src/config/types.js';
import { until } from '../helpers/backends.js';

let server: http.Server;
let port: number;
/** Answers of /healthz in arrival order: the first is held until released, then 500; later ones 200 at once. */
const held: http.ServerResponse[] = [];
let checks = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    checks++;
    if (checks === 1) { held.push(res); return; }
    res.writeHead(200).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function config(): Config {
  const v = validateConfig({ upstreams: { g: { targets: [`http://127.0.0.1:${port}`], health: { path: '/healthz', interval: '1h', timeout: '5s', unhealthy_after: 1, healthy_after: 1 } } } }, 'test');
  if (!('config' in v)) throw new Error(JSON.stringify(v.problems));
  return v.config;
}

describe('health checker', () => {
  test('an answer to a check sent before a reload is ignored', async () => {
    const table = TargetTable.private(1);
    const lines: string[] = [];
    const checker = new HealthChecker(table, (_level, msg) => lines.push(msg));
    const cfg = config();
    checker.apply(cfg);
    await until(() => held.length === 1, 5000, 'the first check at the origin');
    checker.apply(cfg); // a reload: a new round of checks
    await until(() => lines.some((l) => l.includes('healthy (1 passed check')), 5000, 'the new round\'s verdict');
    const cell = table.cell('g', `http://127.0.0.1:${port}`);
    expect(cell.state).toBe(STATE_HEALTHY);
    // The old round's check now fails: it must not take the target down.
    const closed = new Promise((r) => held[0]!.on('close', r));
    held[0]!.writeHead(500).end('down');
    await closed;
    await new Promise((r) => setTimeout(r, 300));
    checker.stop();
    expect(cell.state).toBe(STATE_HEALTHY);
    expect(lines.filter((l) => l.includes('unhealthy'))).toEqual([]);
  });
});
