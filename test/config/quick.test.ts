import { describe, expect, test } from 'vitest';
import { ConfigErrors } from '../../src/config/error.js';
import { listenEntry, normalizeTarget, QUICK_UPSTREAM, quickConfig } from '../../src/config/quick.js';

describe('quickConfig', () => {
  test('--from :8080 --to :3000 proxies everything to one upstream with defaults', () => {
    const config = quickConfig({ from: ':8080', to: [':3000'] }, {});
    expect(config.source).toBe('<quick>');
    expect(config.listen).toEqual([{ host: '0.0.0.0', port: 8080 }]);
    expect(config.upstreams[QUICK_UPSTREAM]!.targets).toEqual([{ url: 'http://127.0.0.1:3000', host: '127.0.0.1', port: 3000, weight: 1, max_connections: 256 }]);
    expect(config.routes).toMatchObject([{ host: undefined, path: '/', upstream: QUICK_UPSTREAM, strip_prefix: false, host_header: undefined, index: 0, cache: false, allow_dotfiles: false, allow_method_override: false }]);
    expect(config.timeouts.connect).toBe(3000);
  });

  test.each([
    ['3000', 'http://127.0.0.1:3000'],
    [':3000', 'http://127.0.0.1:3000'],
    ['localhost:3000', 'http://localhost:3000'],
    ['[::1]:3000', 'http://[::1]:3000'],
    ['http://10.0.0.2:80', 'http://10.0.0.2:80'],
    ['https://a', 'https://a'],
  ])('--to %j means %j', (to, url) => {
    expect(normalizeTarget(to)).toBe(url);
  });

  test.each([
    [':8080', ':8080'],
    ['http://127.0.0.1:9000', '127.0.0.1:9000'],
    ['http://localhost', 'localhost:80'],
    ['https://localhost:8443', { address: 'localhost:8443', tls: 'internal', protocols: ['h1', 'h2'] }],
    ['https://localhost/', { address: 'localhost:443', tls: 'internal', protocols: ['h1', 'h2'] }],
    ['https://[::1]:8443', { address: '[::1]:8443', tls: 'internal', protocols: ['h1', 'h2'] }],
  ])('--from %j listens on %j', (from, entry) => {
    expect(listenEntry(from)).toEqual(entry);
  });

  test('--from https://... serves HTTPS from the local CA', () => {
    const config = quickConfig({ from: 'https://localhost:8443', to: ['3000'] }, { PORTCULLIS_STATE_DIR: '/tmp/x' });
    expect(config.listen).toEqual([{ host: 'localhost', port: 8443, tls: { certificates: [], acme: false, internal: true, hsts: false }, protocols: ['h1', 'h2'] }]);
    expect(config.state_dir).toBe('/tmp/x');
  });

  test('several --to targets make one upstream', () => {
    const config = quickConfig({ from: '127.0.0.1:9000', to: ['127.0.0.1:3000', '127.0.0.1:3001'] }, {});
    expect(config.upstreams[QUICK_UPSTREAM]!.targets.map((t) => t.port)).toEqual([3000, 3001]);
  });

  test('env overrides apply in quick mode too', () => {
    expect(quickConfig({ from: ':8080', to: ['3000'] }, { PORTCULLIS_WORKERS: '3' }).workers).toBe(3);
  });

  test.each<[{ from: string; to: string[] }, string[]]>([
    [{ from: ':99999', to: ['3000'] }, ['<quick>: --from: ":99999": port 99999 is out of range (ports are 1–65535)']],
    [{ from: 'example.com:80', to: ['3000'] }, ['<quick>: --from: "example.com:80": listen host "example.com" must be an IP address or localhost']],
    [{ from: ':8080', to: ['ftp://a'] }, ['<quick>: --to: "ftp://a": unsupported scheme "ftp://" (use http:// or https://)']],
    [{ from: ':8080', to: [] }, ['<quick>: --to: at least one upstream target is required']],
    [{ from: 'https://example.com', to: ['3000'] }, ['<quick>: --from: "https://example.com": listen host "example.com" must be an IP address or localhost']],
    [{ from: 'x', to: ['3000', 'http://a:0'] }, ['<quick>: --from: "x": missing port in "x" (e.g. "127.0.0.1:8080" or ":8080")', '<quick>: --to: "http://a:0": port 0 is out of range (ports are 1–65535)']],
  ])('%j → errors naming the flag', (opts, messages) => {
    expect.assertions(1);
    try {
      quickConfig(opts, {});
    } catch (e) {
      expect((e as ConfigErrors).errors.map((err) => err.format())).toEqual(messages);
    }
  });
});
