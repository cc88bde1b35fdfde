// The dashboard (issue 14) in a real headless browser: Debian's /usr/bin/chromium driven by
// playwright-core (never a downloaded browser). It must render, then update as traffic flows
// and a reload happens; a screenshot is kept in test-artifacts/ (git-ignored).
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const TOKEN = 'dashboard-test-token-0123456789';

let origin: Origin;
let proxy: RunningProxy;
let adminPort: number;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  origin = await startOrigin((req, res) => {
    const status = req.url === '/api/fail' ? 503 : 200;
    setTimeout(() => { res.writeHead(status, { 'content-length': 2 }); res.end('ok'); }, req.url === '/api/slow' ? 40 : 1);
  });
  adminPort = await freePort();
  proxy = await startProxy({
    admin: { listen: `127.0.0.1:${adminPort}`, token: TOKEN },
    upstreams: { app: { targets: [origin.url] } },
    routes: [{ path: '/', upstream: 'app' }, { path: '/api/', upstream: 'app' }],
  }, { workers: 2 });
  profile = mkdtempSync(join(tmpdir(), 'portcullis-chromium-'));
  // A fresh profile directory (--user-data-dir) each run.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    // The machine's network is closed: no background fetches, updates or sync.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.stop();
  await origin?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('dashboard', () => {
  test('renders live traffic per route, errors, p99, upstreams, cache, certificates and the reload history', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    try {
      // Without the token the page says how to give it.
      const bare = await browser.newPage();
      await bare.goto(`http://127.0.0.1:${adminPort}/dashboard`);
      await bare.waitForFunction(() => document.getElementById('status')!.textContent!.includes('token needed'));
      await bare.close();
      // With it (in the fragment, never sent to the server), data arrives.
      await page.goto(`http://127.0.0.1:${adminPort}/dashboard#token=${TOKEN}`);
      await page.waitForFunction(() => document.getElementById('status')!.textContent === 'serving');
      expect(await page.textContent('#generation')).toBe('1');

      // Traffic while the page polls: requests/s must appear for /api/, with errors and a p99.
      let running = true;
      const load = (async () => {
        while (running) {
          await Promise.all([request(proxy.port, { path: '/api/slow' }), request(proxy.port, { path: '/api/fail' }), request(proxy.port, { path: '/x' })]);
        }
      })();
      try {
        await page.waitForFunction(() => {
          const row = document.querySelector('tr[data-route="/api/"]') as HTMLElement | null;
          return row !== null && Number(row.dataset['rps']) > 0 && row.children[3]!.textContent !== '–';
        }, undefined, { timeout: 15_000 });
        const row = page.locator('tr[data-route="/api/"]');
        expect(Number(await row.getAttribute('data-rps'))).toBeGreaterThan(0);
        // /api/fail answers 503: errors per second show in red.
        await page.waitForFunction(() => Number(document.querySelector('tr[data-route="/api/"]')!.children[2]!.textContent) > 0, undefined, { timeout: 10_000 });
        // p99 reflects the 40 ms answers (between 25 and 100 ms buckets, interpolated).
        const p99 = await row.locator('td').nth(3).textContent();
        expect(p99).toMatch(/^\d+ ms$/);
        expect(Number(p99!.split(' ')[0])).toBeGreaterThanOrEqual(25);
        // The charts draw points as they come.
        await page.waitForFunction(() => Number(document.querySelector('tr[data-route="/api/"] polyline')!.getAttribute('data-points')) >= 2, undefined, { timeout: 10_000 });
      } finally {
        running = false;
        await load;
      }

      // A reload shows up in the history and the generation.
      const r = await fetch(`http://127.0.0.1:${adminPort}/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(r.status).toBe(200);
      await page.waitForFunction(() => document.getElementById('generation')!.textContent === '2', undefined, { timeout: 10_000 });
      const history = page.locator('#reloads tr').first();
      await expect.poll(async () => history.textContent(), { timeout: 5000 }).toContain('admin API');
      expect(await history.textContent()).toContain('ok');

      expect(await page.locator('#upstreams tr').first().textContent()).toContain(origin.url);
      expect(await page.textContent('#hit-ratio')).toBe('off');
      expect(await page.textContent('#certificates')).toContain('no HTTPS listener');
      expect(await page.locator('#workers tr').count()).toBe(2);
      expect(errors).toEqual([]);

      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
    } finally {
      await page.close();
    }
  });
});
