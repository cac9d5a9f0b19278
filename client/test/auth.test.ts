import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { socketChannelAuthorizer, socketUserAuthenticator, AuthRequestError } from '../src/auth.js';
import { currentTransport, installLivewireTransport, type TransportHandle } from '../src/transport.js';
import { FakePusher, page, stubHttp, type HttpCall } from './fake-pusher.js';

page.install();

let pusher: FakePusher;
let http: HttpCall[];
let handle: TransportHandle;

beforeEach(() => {
  pusher = new FakePusher();
  http = stubHttp(() => new Response('{"auth":"key:from-http"}', { status: 200 }));
  handle = installLivewireTransport({ pusher });
  (globalThis as { document?: unknown }).document = {
    querySelector: (s: string) => (s === 'meta[name="csrf-token"]' ? { getAttribute: () => 'csrf-123' } : null),
  };
});
afterEach(() => {
  handle.uninstall();
  delete (globalThis as { document?: unknown }).document;
});

function authorize(handler: ReturnType<typeof socketChannelAuthorizer>, channelName: string) {
  return new Promise<{ error: Error | null; data: unknown }>((resolve) =>
    handler({ socketId: '123.456', channelName }, (error, data) => resolve({ error, data })),
  );
}

test('private channel authorization rides the socket, form-encoded like pusher-js', async () => {
  const result = authorize(socketChannelAuthorizer(handle), 'private-orders.1');
  const frame = await pusher.request();
  assert.equal(frame.method, 'POST');
  assert.equal(frame.path, '/broadcasting/auth');
  assert.equal(frame.body, 'socket_id=123.456&channel_name=private-orders.1');
  assert.equal(frame.headers['content-type'], 'application/x-www-form-urlencoded;charset=UTF-8');
  assert.equal(frame.headers['x-csrf-token'], 'csrf-123');
  assert.equal(frame.headers['accept'], 'application/json');
  pusher.respond(frame.id, { body: '{"auth":"key:sig","channel_data":"{\\"user_id\\":1}"}' });
  assert.deepEqual(await result, { error: null, data: { auth: 'key:sig', channel_data: '{"user_id":1}' } });
  assert.equal(http.length, 0);
});

test('a getter (currentTransport) and custom endpoint/headers work; wiremesh:fallback goes to HTTP', async () => {
  const handler = socketChannelAuthorizer(currentTransport, {
    endpoint: '/api/broadcasting/auth',
    headers: { Authorization: 'Bearer t' },
  });
  const result = authorize(handler, 'presence-room');
  const frame = await pusher.request();
  assert.equal(frame.path, '/api/broadcasting/auth');
  assert.equal(frame.headers['authorization'], 'Bearer t');
  pusher.deliver('wiremesh:fallback', { id: frame.id, reason: 'path not tunnelled', code: 404 });
  assert.deepEqual(await result, { error: null, data: { auth: 'key:from-http' } });
  assert.equal(http.length, 1);
  assert.equal(http[0]!.input, '/api/broadcasting/auth');
});

test('a refusal becomes an HTTPAuthError with its status', async () => {
  const result = authorize(socketChannelAuthorizer(handle), 'private-secret');
  const frame = await pusher.request();
  pusher.respond(frame.id, { status: 403, statusText: 'Forbidden', body: '' });
  const { error, data } = await result;
  assert.equal(data, null);
  assert.ok(error instanceof AuthRequestError);
  assert.equal(error.name, 'HTTPAuthError');
  assert.equal(error.status, 403);
});

test('invalid JSON with a 200 is an error, as in pusher-js', async () => {
  const result = authorize(socketChannelAuthorizer(handle), 'private-x');
  pusher.respond((await pusher.request()).id, { body: '<html>' });
  const { error } = await result;
  assert.ok(error instanceof AuthRequestError);
  assert.match(error.message, /JSON returned from channel-authorization endpoint was invalid/);
});

test('with no transport installed the getter falls back to plain fetch', async () => {
  handle.uninstall();
  const result = authorize(socketChannelAuthorizer(currentTransport), 'private-y');
  assert.deepEqual(await result, { error: null, data: { auth: 'key:from-http' } });
  assert.equal(pusher.sent.length, 0);
  assert.equal(http.length, 1);
});

test('user authentication rides the socket too', async () => {
  const result = new Promise<unknown>((resolve) =>
    socketUserAuthenticator(handle)({ socketId: '1.2' }, (error, data) => resolve({ error, data })),
  );
  const frame = await pusher.request();
  assert.equal(frame.path, '/broadcasting/user-auth');
  assert.equal(frame.body, 'socket_id=1.2');
  pusher.respond(frame.id, { body: '{"auth":"k:s","user_data":"{\\"id\\":\\"1\\"}"}' });
  assert.deepEqual(await result, { error: null, data: { auth: 'k:s', user_data: '{"id":"1"}' } });
});
