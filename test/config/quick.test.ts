import { describe, expect, test } from 'vitest';
import { ConfigErrors } from '../../src/config/error.js';
import { normalizeTarget, QUICK_UPSTREAM, quickConfig } from '../../src/config/quick.js';

describe('quickConfig', () => {
  test('--from :8080 --to :3000 proxies everything to one upstream with defaults', () => {
    const config = quickConfig({ from: ':8080', to: [':3000'] }, {});
    expect(config.source).toBe('<quick>');
    expect(config.listen).toEqual([{ host: '0.0.0.0', port: 8080 }]);
    expect(config.upstreams[QUICK_UPSTREAM]!.targets).toEqual([{ url: 'http://127.0.0.1:3000', host: '127.0.0.1', port: 3000 }]);
    expect(config.routes).toEqual([{ host: undefined, path: '/', upstream: QUICK_UPSTREAM, strip_prefix: false, host_header: undefined, index: 0, cache: false, allow_dotfiles: false, allow_method_override: false }]);
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
    [{ from: ':8080', to: ['https://a'] }, ['<quick>: --to: "https://a": https upstreams are not supported yet']],
    [{ from: ':8080', to: [] }, ['<quick>: --to: at least one upstream target is required']],
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
