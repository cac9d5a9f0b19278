import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tooLargeResponse, withDefaultHooks } from './http-admission.js';
import { NOT_LISTENING, type HttpHead, type HttpResponse, type TransportHooks } from './types.js';

const head: HttpHead = { method: 'POST', path: '/apps/1/events', query: '', headers: {}, remoteAddress: '10.0.0.1' };

test('withDefaultHooks: without admitHttp every body is read; without bodyTooLarge the default 413 names the limit', () => {
  const hooks = withDefaultHooks(NOT_LISTENING, { maxRequestBodyBytes: 1234 });
  assert.equal(hooks.admitHttp(head), null);
  assert.deepEqual(hooks.bodyTooLarge(head), tooLargeResponse(1234));
  assert.match(String(hooks.bodyTooLarge(head).body), /larger than 1234 bytes/);
});

test('withDefaultHooks: the given hooks answer, called on their own object', async () => {
  const refused: HttpResponse = { status: 401, body: 'no' };
  const tooLarge: HttpResponse = { status: 413, body: 'mine' };
  const given = {
    seen: [] as string[],
    openSocket: NOT_LISTENING.openSocket,
    async handleHttp(req) {
      this.seen.push(`handle ${req.path}`);
      return { status: 200, body: 'ok' };
    },
    admitHttp(h) {
      this.seen.push(`admit ${h.path}`);
      return refused;
    },
    bodyTooLarge(h) {
      this.seen.push(`too large ${h.path}`);
      return tooLarge;
    },
  } satisfies TransportHooks & { seen: string[] };
  const hooks = withDefaultHooks(given, { maxRequestBodyBytes: 1 });
  assert.equal(hooks.admitHttp(head), refused);
  assert.equal(hooks.bodyTooLarge(head), tooLarge);
  assert.equal((await hooks.handleHttp({ ...head, body: Buffer.alloc(0) })).status, 200);
  assert.deepEqual(given.seen, ['admit /apps/1/events', 'too large /apps/1/events', 'handle /apps/1/events']);
});
