// nginx for the bench: a generated config in a temp dir, as the baseline proxy or (ORIGIN=nginx) as the origin.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BODIES, CACHE_CONTROL, CACHED, SMALL_BODY } from './lib/bodies.js';
import { HOST } from './lib/net.js';
import { start, type Started } from './lib/proc.js';

export interface NginxInfo {
  readonly version: string;
  readonly configure: string;
}

function parse(text: string): NginxInfo | undefined {
  const version = /nginx version: nginx\/(\S+)/.exec(text)?.[1];
  return version ? { version, configure: text } : undefined;
}

/** undefined when nginx is not installed. */
export function nginxInfo(): NginxInfo | undefined {
  try {
    // nginx -V prints to stderr
    const out = execFileSync('sh', ['-c', 'nginx -V 2>&1'], { encoding: 'utf8' });
    return parse(out);
  } catch {
    return undefined;
  }
}

function hardFdLimit(): number {
  try {
    const n = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 65536; // "unlimited"
  } catch {
    return 4096;
  }
}

/**
 * `same`: nginx also does the per-request work Portcullis does by default (X-Forwarded-For/-Proto/-Host,
 * Forwarded and a request id toward the origin; Via both ways; the request id back to the client), so the
 * CPU ratio compares equal work. `users`: nginx as its users run it, plain `proxy_pass` plus
 * `proxy_set_header X-Forwarded-For` (issue #10's baseline). `bare`: only what proxying needs (the nginx defaults).
 */
export type NginxHeaders = 'same' | 'users' | 'bare';

export type NginxRole =
  | {
      readonly kind: 'proxy';
      readonly originPort: number;
      readonly headers: NginxHeaders;
      /** proxy_cache in the temp dir, keyed like Portcullis' cache (scheme, Host, URI). */
      readonly cache?: boolean;
      /** gzip on the fly, level 5 (Portcullis' default gzip_level), for the JSON body. */
      readonly gzip?: boolean;
    }
  | { readonly kind: 'origin' };

/**
 * proxy_cache as the cache cases use it: the key is Portcullis' own (scheme, Host, path and query; nginx's
 * default would use the upstream's name instead of Host), freshness from the origin's Cache-Control (nginx's
 * default), no lock or background update (every measured request is a hit). Cache-Status is for the bench's
 * hit check and is the header Portcullis adds to a hit.
 */
const CACHE_LOCATION = `
      proxy_cache bench;
      proxy_cache_key $scheme://$host$request_uri;
      add_header Cache-Status "nginx; $upstream_cache_status" always;`;

/** gzip as Portcullis' compression defaults: level 5, ≥ 1 KiB, Vary: Accept-Encoding, proxied responses too. */
const GZIP_LOCATION = `
      gzip on;
      gzip_comp_level 5;
      gzip_min_length 1024;
      gzip_types application/json;
      gzip_proxied any;
      gzip_vary on;`;

/** The one header line of NginxHeaders 'users'. */
const USERS_WORK = `
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`;

/** The proxy_set_header / add_header lines of NginxHeaders 'same'. */
const SAME_WORK = `
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header Forwarded "for=$remote_addr;proto=$scheme;host=$host";
      proxy_set_header X-Request-Id $request_id;
      proxy_set_header Via "1.1 nginx";
      add_header Via "1.1 nginx" always;
      add_header X-Request-Id $request_id always;`;

export interface NginxOptions {
  readonly port: number;
  readonly role: NginxRole;
  readonly cpus: string;
}

/** The whole nginx.conf; every path lives in `dir` so nothing outside it is touched. */
export function nginxConf(dir: string, opts: NginxOptions, info: NginxInfo): string {
  const fds = hardFdLimit();
  const tempPaths = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .filter((m) => !info.configure.includes(`--without-http_${m}_module`))
    .map((m) => `  ${m}_temp_path ${join(dir, `${m}_temp`)};`);
  const location =
    opts.role.kind === 'proxy'
      ? `    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";${opts.role.headers === 'same' ? SAME_WORK : opts.role.headers === 'users' ? USERS_WORK : ''}${opts.role.cache ? CACHE_LOCATION : ''}${opts.role.gzip ? GZIP_LOCATION : ''}
    }`
      : // 13 B from a return directive (no file), the rest as static files; one custom header on every answer,
        // so a proxy sees nginx's usual head: Server, Date, Content-Type, Content-Length, Connection, X-Origin
        // (and for files Last-Modified, ETag, Accept-Ranges)
        `    location / {
      root ${join(dir, 'www')};
      add_header X-Origin bench;
    }
    location = /small {
      default_type text/plain;
      add_header X-Origin bench;
      return 200 "${SMALL_BODY}";
    }
    location /cache/ {
      root ${join(dir, 'www')};
      add_header Cache-Control "${CACHE_CONTROL}";
      add_header X-Origin bench;
    }
    location = /cache/small {
      default_type text/plain;
      add_header Cache-Control "${CACHE_CONTROL}";
      add_header X-Origin bench;
      return 200 "${SMALL_BODY}";
    }`;
  const cachePath =
    opts.role.kind === 'proxy' && opts.role.cache
      ? `  proxy_cache_path ${join(dir, 'cache')} levels=1:2 keys_zone=bench:16m max_size=256m inactive=1h use_temp_path=off;\n`
      : '';
  const upstream =
    opts.role.kind === 'proxy'
      ? `  upstream origin {
    server ${HOST}:${opts.role.originPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
`
      : '';
  return `# generated by bench/nginx.ts (${opts.role.kind})
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
worker_rlimit_nofile ${fds};

events {
  worker_connections ${Math.max(1024, fds - 64)};
}

http {
  access_log off;
  default_type application/octet-stream;
  types { application/json json; }
  sendfile on;
  tcp_nopush on;
  # 1.22 closes a client connection after 1000 requests by default; the proxy under test does not.
  keepalive_requests 1000000;
${tempPaths.join('\n')}
${cachePath}${upstream}
  server {
    # the default backlog (511) overflows when 1000 clients connect at once: each drop is a 1 s SYN retransmit
    listen ${HOST}:${opts.port} backlog=4096;
${location}
  }
}
`;
}

export interface RunningNginx {
  readonly proc: Started;
  readonly dir: string;
  stop(): Promise<void>;
}

export function startNginx(opts: NginxOptions, info: NginxInfo, name: string): RunningNginx {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-nginx-'));
  if (opts.role.kind === 'origin') {
    const www = join(dir, 'www');
    mkdirSync(www);
    for (const [path, body] of Object.entries(BODIES)) writeFileSync(join(www, path.slice(1)), body);
    mkdirSync(join(www, 'cache'));
    for (const [path, { body }] of Object.entries(CACHED)) writeFileSync(join(www, path.slice(1)), body);
  }
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, opts, info));
  // -e: the error log before the config is read (1.19.5+) also goes to the temp dir
  const proc = start({
    name,
    argv: ['nginx', '-e', join(dir, 'error.log'), '-p', dir, '-c', conf],
    cpus: opts.cpus,
    raiseFdLimit: true,
  });
  // however it ends (stop, stopAll on Ctrl-C, crash), the temp dir goes with it
  void proc.exited.then(() => rmSync(dir, { recursive: true, force: true }));
  return { proc, dir, stop: () => proc.stop() };
}
