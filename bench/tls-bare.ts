// Bare hello-world TLS servers for the TLS bench (bench/cases/tls.ts): what each front end
// costs with nothing behind it, as baselines for Portcullis' TLS listeners.
//   node dist/bench/tls-bare.js uws  PORT CERT KEY   uWS SSLApp, HTTP/1.1 (Portcullis' TLS front end)
//   node dist/bench/tls-bare.js node PORT CERT KEY   Node http2.createSecureServer, allowHTTP1 (its h2 front end)
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { uWS } from '../src/uws/load.js';
import { TLS12_CIPHERS } from '../src/tls/uws-listener.js';

const [kind, portText, cert, key] = process.argv.slice(2);
const port = Number(portText);
const BODY = 'Hello, world!';

if (kind === 'uws') {
  uWS._cfg('silent');
  const app = uWS.SSLApp({ cert_file_name: cert!, key_file_name: key!, ssl_ciphers: TLS12_CIPHERS }).any('/*', (res) => { res.end(BODY); });
  app.listen('127.0.0.1', port, (ls) => {
    if (!ls) { console.error(`uws bare: cannot listen on ${port}`); process.exit(1); }
    console.log(`uws bare: listening on 127.0.0.1:${port}`);
  });
  const stop = (): void => { (app as unknown as { close(): void }).close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else if (kind === 'node') {
  const server = http2.createSecureServer({ cert: readFileSync(cert!), key: readFileSync(key!), allowHTTP1: true, minVersion: 'TLSv1.2', ciphers: TLS12_CIPHERS }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(BODY.length) });
    res.end(BODY);
  });
  server.listen(port, '127.0.0.1', () => console.log(`node bare: listening on 127.0.0.1:${port}`));
  const stop = (): void => { server.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  console.error('usage: tls-bare.js uws|node PORT CERT KEY');
  process.exit(2);
}
