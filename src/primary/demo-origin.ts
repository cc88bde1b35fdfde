// The demo origin `npm start` runs next to the proxy: it answers every request with
// what it received (method, path, headers), so a newcomer sees the X-Forwarded-*
// headers the proxy added. Loopback only.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export function startDemoOrigin(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; });
    req.on('end', () => {
      const body = JSON.stringify({
        message: 'Hello from the Portcullis demo origin',
        method: req.method,
        url: req.url,
        body_bytes: bytes,
        headers: req.headers,
      }, null, 2) + '\n';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
