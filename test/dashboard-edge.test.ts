/**
 * The dashboard's edge: without a token (loopback only) it answers only requests naming a loopback
 * host (a page whose DNS name was rebound to 127.0.0.1 is refused); with one, the cookie it sets
 * holds an HMAC of the token, never the token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestServer, type TestServer } from './helpers/server.js';

/** GET with a chosen Host header (fetch will not send one). */
async function get(port: number, path: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

describe('dashboard without a token (loopback)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ dashboard: { enabled: true, port: 0 } });
  });
  after(() => srv.close());

  test('a rebound DNS name is refused; loopback names are served', async () => {
    const port = srv.server.dashboardPort!;
    const rebound = await get(port, '/api/cluster', { host: `evil.example:${port}` });
    assert.equal(rebound.status, 421);
    assert.ok(!rebound.body.includes('nodes'), 'no data for a foreign Host');
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST'])
      assert.equal((await get(port, '/api/cluster', { host })).status, 200, host);
    assert.ok(
      srv.logs.some((l) => l.includes('dashboard request refused: foreign Host') && l.includes('evil.example')),
    );
  });
});

describe('dashboard with a token', () => {
  const token = 'edge-test-token-0123456789abcdef';
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ dashboard: { enabled: true, port: 0, token } });
  });
  after(() => srv.close());

  test('the cookie holds an HMAC of the token, which authorizes; the token itself as a cookie does not', async () => {
    const port = srv.server.dashboardPort!;
    const traded = await get(port, `/?token=${token}`, { host: 'dash.example.com' });
    assert.equal(traded.status, 303);
    const cookie = String(traded.headers['set-cookie']).split(';')[0]!;
    assert.ok(!cookie.includes(token), `the cookie does not carry the token: ${cookie}`);
    assert.match(cookie, /^wiremesh_dashboard=[0-9a-f]{64}$/);
    assert.equal((await get(port, '/api/cluster', { host: 'dash.example.com', cookie })).status, 200);
    const raw = await get(port, '/api/cluster', { host: 'dash.example.com', cookie: `wiremesh_dashboard=${token}` });
    assert.equal(raw.status, 401);
  });
});
