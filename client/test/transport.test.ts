import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  installLivewireTransport,
  currentTransport,
  type TransportEvent,
  type TransportHandle,
} from '../src/transport.js';
import { TunnelError } from '../src/errors.js';
import { FakePusher, livewire3, livewire4, ORIGIN, page, stubHttp, type HttpCall } from './fake-pusher.js';

page.install();

let pusher: FakePusher;
let http: HttpCall[];
let handle: TransportHandle | undefined;
let events: TransportEvent[];

beforeEach(() => {
  pusher = new FakePusher();
  http = stubHttp();
  events = [];
  page.reloads = 0;
});
afterEach(() => {
  handle?.uninstall();
  handle = undefined;
});

function install(options: Parameters<typeof installLivewireTransport>[0] = {}): TransportHandle {
  handle = installLivewireTransport({ pusher, onEvent: (e) => events.push(e), ...options });
  return handle;
}

describe('routing', () => {
  test('Livewire 3 (X-Livewire: "", /livewire/update) goes over the socket as one wiremesh:request', async () => {
    install();
    const pending = fetch(...livewire3('{"_token":"tok","components":[{"snapshot":"{}"}]}'));
    const frame = await pusher.request();
    assert.equal(frame.method, 'POST');
    assert.equal(frame.path, '/livewire/update');
    assert.equal(frame.body, '{"_token":"tok","components":[{"snapshot":"{}"}]}');
    assert.deepEqual(frame.headers, {
      'content-type': 'application/json',
      'x-livewire': '',
      'x-csrf-token': 'tok',
      accept: '*/*',
      referer: `${ORIGIN}/counter`,
    });
    assert.ok(typeof frame.id === 'string' && frame.id.length > 0 && frame.id.length <= 64);
    pusher.respond(frame.id, { body: '{"components":[],"assets":[]}' });
    const response = await pending;
    assert.deepEqual(await response.json(), { components: [], assets: [] });
    assert.equal(http.length, 0, 'no HTTP request');
  });

  test('Livewire 4 (X-Livewire: "1", /livewire-1a2b3c4d/update) goes over the socket', async () => {
    install();
    const pending = fetch(...livewire4());
    const frame = await pusher.request();
    assert.equal(frame.path, '/livewire-1a2b3c4d/update');
    assert.equal(frame.headers['x-livewire'], '1');
    pusher.respond(frame.id);
    assert.equal((await pending).status, 200);
    assert.equal(http.length, 0);
  });

  test('Referer: the current page as a browser sends it, an explicit referrer, or none for no-referrer', async () => {
    install();
    const [url, init] = livewire3();
    (globalThis.location as { href: string }).href = `${ORIGIN}/other?tab=2#section`;
    try {
      const pendings = [
        fetch(url, init),
        fetch(url, { ...init, referrer: '/from-here' }),
        fetch(url, { ...init, referrerPolicy: 'no-referrer' }),
      ];
      await pusher.request(3);
      const [a, b, c] = pusher.requests();
      assert.equal(a!.headers['referer'], `${ORIGIN}/other?tab=2`);
      assert.equal(b!.headers['referer'], `${ORIGIN}/from-here`);
      assert.equal(c!.headers['referer'], undefined);
      for (const frame of pusher.requests()) pusher.respond(frame.id);
      await Promise.all(pendings);
    } finally {
      (globalThis.location as { href: string }).href = `${ORIGIN}/counter`;
    }
  });

  test('the query string and an absolute same-origin URL are kept', async () => {
    install();
    const pending = fetch(`${ORIGIN}/livewire/update?x=1`, livewire3()[1]);
    const frame = await pusher.request();
    assert.equal(frame.path, '/livewire/update?x=1');
    pusher.respond(frame.id);
    await pending;
  });

  test('other requests pass through to the original fetch, arguments untouched', async () => {
    install();
    const calls: Array<[RequestInfo | URL, RequestInit | undefined]> = [
      ['/api/users', undefined],
      ['/livewire/update', { method: 'GET', headers: { 'X-Livewire': '' } }],
      ['/contact', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }],
      ['https://elsewhere.test/livewire/update', { method: 'POST', body: '{}', headers: { 'X-Livewire': '1' } }],
      ['/livewire/upload-file', { method: 'POST', body: new FormData() }],
    ];
    for (const [input, init] of calls) await fetch(input, init);
    assert.equal(pusher.sent.length, 0);
    assert.equal(http.length, calls.length);
    http.forEach((call, i) => {
      assert.equal(call.input, calls[i]![0]);
      assert.equal(call.init, calls[i]![1]);
    });
  });

  test('a custom match decides instead; like fetch, a throwing one rejects instead of throwing', async () => {
    install({ match: (request) => request.method === 'POST' && request.url.pathname === '/tunnel-me' });
    const pending = fetch('/tunnel-me', { method: 'POST', body: 'x' });
    const frame = await pusher.request();
    assert.equal(frame.headers['content-type'], 'text/plain;charset=UTF-8', 'the type a browser gives a string body');
    pusher.respond(frame.id);
    await pending;
    await fetch(...livewire3());
    assert.equal(http.length, 1, 'the default rule no longer applies');
    handle!.uninstall();
    install({
      match: () => {
        throw new Error('bad matcher');
      },
    });
    const result = fetch('/x');
    await assert.rejects(result, { message: 'bad matcher' });
  });

  test('a Livewire request whose body is not text stays on HTTP', async () => {
    install();
    await fetch('/livewire/update', { method: 'POST', body: new Blob(['x']), headers: { 'X-Livewire': '1' } });
    assert.equal(pusher.sent.length, 0);
    assert.equal(http.length, 1);
    assert.deepEqual(events, [{ type: 'http', reason: 'not-routable' }]);
  });

  test('a Request object is read from a clone, so a fallback can still send it', async () => {
    install();
    const request = new Request(`${ORIGIN}/livewire/update`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'X-Livewire': '' },
    });
    const pending = fetch(request);
    const frame = await pusher.request();
    assert.equal(frame.body, '{"a":1}');
    pusher.deliver('wiremesh:fallback', { id: frame.id, reason: 'path not tunnelled', code: 404 });
    await pending;
    assert.equal(http.length, 1);
    assert.equal(http[0]!.input, request);
    assert.equal(await (http[0]!.input as Request).text(), '{"a":1}');
  });
});

describe('a faithful Response', () => {
  test('status, statusText, headers, url, redirected and body', async () => {
    install();
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    pusher.respond(frame.id, {
      status: 201,
      statusText: 'Created',
      headers: [
        ['Content-Type', 'application/json'],
        ['X-Custom', 'a'],
        ['X-Custom', 'b'],
        ['Set-Cookie', 'laravel_session=x'],
      ],
      url: '/dashboard',
      redirected: true,
      body: '{"ok":true}',
    });
    const response = await pending;
    assert.equal(response.status, 201);
    assert.equal(response.statusText, 'Created');
    assert.equal(response.ok, true);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(response.headers.get('x-custom'), 'a, b');
    assert.equal(response.headers.get('set-cookie'), null, 'fetch never exposes Set-Cookie');
    assert.equal(response.url, `${ORIGIN}/dashboard`);
    assert.equal(response.redirected, true);
    assert.equal(response.type, 'basic');
    const copy = response.clone();
    assert.equal(copy.url, `${ORIGIN}/dashboard`);
    assert.equal(copy.redirected, true);
    assert.deepEqual(await response.json(), { ok: true });
    assert.deepEqual(await copy.json(), { ok: true });
  });

  test('frames whose data arrives as a JSON string; url defaults to the request URL', async () => {
    install();
    const pending = fetch(...livewire4());
    const frame = await pusher.request();
    pusher.respond(
      frame.id,
      {
        status: 500,
        statusText: 'Internal Server Error',
        headers: [['content-type', 'text/html']],
        body: '<h1>boom</h1>',
      },
      true,
    );
    const response = await pending;
    assert.equal(response.ok, false);
    assert.equal(response.status, 500);
    assert.equal(response.url, `${ORIGIN}/livewire-1a2b3c4d/update`);
    assert.equal(response.redirected, false);
    assert.equal(await response.text(), '<h1>boom</h1>');
  });

  test('a streamed body (wire:stream) arrives through response.body.getReader()', async () => {
    install();
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    pusher.respond(frame.id, {
      headers: [
        ['content-type', 'text/event-stream'],
        ['X-Livewire-Stream', '1'],
      ],
      body: '{"stream":true,"body":{"name":"a"},"endStream":true}',
      done: false,
    });
    const response = await pending;
    assert.equal(response.headers.get('x-livewire-stream'), '1');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    const first = await reader.read();
    assert.equal(decoder.decode(first.value), '{"stream":true,"body":{"name":"a"},"endStream":true}');
    pusher.deliver('wiremesh:chunk', {
      id: frame.id,
      chunk: '{"stream":true,"body":{"name":"ü"},"endStream":true}',
      done: false,
    });
    const second = await reader.read();
    assert.equal(decoder.decode(second.value), '{"stream":true,"body":{"name":"ü"},"endStream":true}');
    pusher.deliver('wiremesh:chunk', { id: frame.id, chunk: '{"components":[]}', done: true });
    const third = await reader.read();
    assert.equal(decoder.decode(third.value), '{"components":[]}');
    assert.equal((await reader.read()).done, true);
    assert.equal(handle!.breaker.state, 'closed');
  });

  test('a streamed body the server cuts short errors like a broken HTTP body', async () => {
    install();
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    pusher.respond(frame.id, { body: 'start', done: false });
    const reader = (await pending).body!.getReader();
    await reader.read();
    pusher.deliver('wiremesh:chunk', {
      id: frame.id,
      chunk: '',
      done: true,
      error: 'The backend failed while streaming',
    });
    await assert.rejects(
      reader.read(),
      (e: TypeError) => e instanceof TypeError && (e.cause as TunnelError).code === 'incomplete',
    );
    assert.deepEqual(pusher.aborts(), [], 'the server ended it already');
  });

  test('a frame with an impossible status fails the request like a network error', async () => {
    install();
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    pusher.respond(frame.id, { status: 0 });
    await assert.rejects(
      pending,
      (e: TypeError) => e instanceof TypeError && (e.cause as TunnelError).code === 'protocol',
    );
    assert.deepEqual(pusher.aborts(), [frame.id]);
  });
});

describe('aborts', () => {
  test('aborting rejects with the AbortError DOMException fetch gives and sends wiremesh:abort', async () => {
    install();
    const controller = new AbortController();
    const pending = fetch(...livewire4('{}', controller.signal));
    const frame = await pusher.request();
    controller.abort();
    await assert.rejects(
      pending,
      (e: DOMException) => e instanceof DOMException && e.name === 'AbortError' && e === controller.signal.reason,
    );
    assert.deepEqual(pusher.aborts(), [frame.id]);
    pusher.respond(frame.id); // late answer: ignored
    assert.equal(http.length, 0);
  });

  test('an already aborted signal rejects at once and sends nothing', async () => {
    install();
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(fetch(...livewire3('{}', controller.signal)), { name: 'AbortError' });
    assert.equal(pusher.sent.length, 0);
    assert.equal(http.length, 0);
  });

  test('aborting while the body streams errors the stream and tells the server', async () => {
    install();
    const controller = new AbortController();
    const pending = fetch(...livewire3('{}', controller.signal));
    const frame = await pusher.request();
    pusher.respond(frame.id, { body: 'part', done: false });
    const reader = (await pending).body!.getReader();
    await reader.read();
    controller.abort();
    await assert.rejects(reader.read(), { name: 'AbortError' });
    assert.deepEqual(pusher.aborts(), [frame.id]);
  });

  test('cancelling the body tells the server', async () => {
    install();
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    pusher.respond(frame.id, { body: '', done: false });
    await (await pending).body!.cancel();
    assert.deepEqual(pusher.aborts(), [frame.id]);
  });
});

test('several requests in flight are matched by id', async () => {
  install();
  const pendings = [fetch(...livewire3('"a"')), fetch(...livewire4('"b"')), fetch(...livewire3('"c"'))];
  await pusher.request(3);
  const frames = pusher.requests();
  assert.equal(new Set(frames.map((f) => f.id)).size, 3, 'distinct ids');
  for (const frame of [frames[2]!, frames[0]!, frames[1]!])
    pusher.respond(frame.id, { body: `answer to ${frame.body}` });
  const bodies = await Promise.all(pendings.map(async (p) => (await p).text()));
  assert.deepEqual(bodies, ['answer to "a"', 'answer to "b"', 'answer to "c"']);
});

describe('fallback to HTTP', () => {
  test('wiremesh:fallback → the original fetch, once, with the same arguments', async () => {
    install();
    const args = livewire3('{"x":1}');
    const pending = fetch(...args);
    const frame = await pusher.request();
    pusher.deliver('wiremesh:fallback', { id: frame.id, reason: 'path not allowed', code: 'not_allowed' });
    const response = await pending;
    assert.equal(await response.text(), 'from http');
    assert.equal(http.length, 1);
    assert.equal(http[0]!.input, args[0]);
    assert.equal(http[0]!.init, args[1]);
    assert.deepEqual(events.at(-1), {
      type: 'http',
      reason: 'server-fallback',
      code: 'not_allowed',
      detail: 'path not allowed',
    });
  });

  test('socket not connected → HTTP, nothing sent', async () => {
    install();
    pusher.state = 'connecting';
    await fetch(...livewire3());
    assert.equal(pusher.sent.length, 0);
    assert.equal(http.length, 1);
    assert.deepEqual(events, [{ type: 'http', reason: 'not-connected' }]);
  });

  test('the socket wrote nothing → HTTP', async () => {
    install();
    pusher.writable = false;
    await fetch(...livewire3());
    assert.equal(http.length, 1);
    assert.deepEqual(events, [{ type: 'http', reason: 'not-sent' }]);
  });

  test('a drop with the request in flight rejects like a network failure and is NOT replayed', async () => {
    install();
    const pending = fetch(...livewire3());
    await pusher.request();
    pusher.setState('connecting');
    await assert.rejects(pending, (e: TypeError) => {
      assert.ok(e instanceof TypeError);
      assert.equal(e.message, 'Failed to fetch');
      assert.ok(e.cause instanceof TunnelError);
      assert.equal(e.cause.code, 'disconnected');
      return true;
    });
    assert.equal(http.length, 0);
  });

  test('a drop while the body streams errors the body', async () => {
    install();
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    pusher.respond(frame.id, { body: 'x', done: false });
    const reader = (await pending).body!.getReader();
    await reader.read();
    pusher.setState('unavailable');
    await assert.rejects(reader.read(), TypeError);
  });

  test('timeout → TypeError("Failed to fetch"), never a hang; the server is told to abort', async () => {
    install({ timeoutMs: 30 });
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    await assert.rejects(
      pending,
      (e: TypeError) =>
        e instanceof TypeError && e.message === 'Failed to fetch' && (e.cause as TunnelError).code === 'timeout',
    );
    assert.deepEqual(pusher.aborts(), [frame.id]);
    assert.equal(http.length, 0);
  });

  test('circuit breaker: 3 socket failures in a row → HTTP for the cool-down, then the socket again', async () => {
    install({ timeoutMs: 20, fallbackFor: { failures: 3, cooldownMs: 80 } });
    for (let i = 0; i < 3; i++) await assert.rejects(fetch(...livewire3()), TypeError);
    assert.equal(handle!.breaker.state, 'open');
    await fetch(...livewire3());
    assert.equal(http.length, 1);
    assert.deepEqual(events.at(-1), { type: 'http', reason: 'circuit-open' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const pending = fetch(...livewire3());
    const frame = await pusher.request(4);
    pusher.respond(frame.id);
    assert.equal((await pending).status, 200);
    assert.equal(handle!.breaker.state, 'closed');
    assert.equal(http.length, 1);
  });

  test('a tunnelled 419 is replayed once over HTTP, whose answer Livewire gets', async () => {
    http = stubHttp(() => new Response('expired', { status: 419 }));
    install();
    const args = livewire3();
    const pending = fetch(...args);
    const frame = await pusher.request();
    pusher.respond(frame.id, { status: 419, statusText: 'unknown status', body: 'Page Expired' });
    const response = await pending;
    assert.equal(response.status, 419);
    assert.equal(await response.text(), 'expired');
    assert.equal(http.length, 1, 'replayed exactly once');
    assert.equal(http[0]!.init, args[1]);
    assert.equal(pusher.requests().length, 1, 'not sent twice over the socket');
  });
});

describe('cookies the browser did not receive', () => {
  test('reloadOnCookies: the page reloads after the response when one of them was set', async () => {
    install({ reloadOnCookies: ['laravel_session'] });
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    pusher.respond(frame.id, { setCookies: ['XSRF-TOKEN', 'laravel_session'] });
    assert.equal(await (await pending).text(), '{}');
    assert.equal(page.reloads, 0, 'not before the response is delivered');
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(page.reloads, 1);
    assert.deepEqual(events.at(-1), { type: 'reload', cookies: ['laravel_session'] });
  });

  test('other cookie names do not reload', async () => {
    install({ reloadOnCookies: ['laravel_session'] });
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    pusher.respond(frame.id, { setCookies: ['XSRF-TOKEN'] });
    await pending;
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(page.reloads, 0);
  });
});

describe('install', () => {
  test('installing twice does not wrap fetch twice; uninstall restores the original', async () => {
    const original = globalThis.fetch;
    const first = install();
    const wrapped = globalThis.fetch;
    const second = installLivewireTransport({ pusher });
    assert.equal(second, first);
    assert.equal(globalThis.fetch, wrapped);
    assert.equal(currentTransport(), first);
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    pusher.respond(frame.id);
    await pending;
    assert.equal(pusher.requests().length, 1);
    assert.equal(pusher.listenerCount('message'), 1);
    first();
    assert.equal(globalThis.fetch, original);
    assert.equal(currentTransport(), undefined);
    assert.equal(pusher.listenerCount('message'), 0);
  });

  test('a new socket replaces the old install; fetch still wrapped once', async () => {
    const original = globalThis.fetch;
    install();
    const other = new FakePusher();
    handle = installLivewireTransport({ pusher: other });
    const pending = fetch(...livewire3());
    const frame = await other.request();
    other.respond(frame.id);
    await pending;
    assert.equal(pusher.sent.length, 0);
    handle.uninstall();
    assert.equal(globalThis.fetch, original);
  });

  test('a request in flight completes after uninstall', async () => {
    install();
    const pending = fetch(...livewire3());
    const frame = await pusher.request();
    handle!.uninstall();
    pusher.respond(frame.id, { body: '"late"' });
    assert.equal(await (await pending).text(), '"late"');
    assert.equal(pusher.listenerCount('message'), 0, 'listeners go once nothing is in flight');
  });

  test('defaults to window.Echo.connector.pusher', async () => {
    (globalThis as { Echo?: unknown }).Echo = { connector: { pusher } };
    try {
      handle = installLivewireTransport();
      assert.equal(handle.socket, pusher);
    } finally {
      delete (globalThis as { Echo?: unknown }).Echo;
    }
  });

  test('bad options fail at install with one precise message', () => {
    assert.throws(() => installLivewireTransport(), {
      name: 'ConfigError',
      message:
        'installLivewireTransport: no pusher-js instance: pass { pusher } or create window.Echo (pusher or reverb broadcaster) first',
    });
    assert.throws(() => installLivewireTransport({ pusher, timeoutMs: 0 }), {
      message: 'installLivewireTransport: timeoutMs must be a positive number of ms, got 0',
    });
    assert.throws(() => installLivewireTransport({ pusher, fallbackFor: { failures: 0 } }), {
      message: 'fallbackFor.failures must be an integer of at least 1, got 0',
    });
    assert.throws(
      () => installLivewireTransport({ pusher, reloadOnCookies: 'laravel_session' as unknown as string[] }),
      {
        message: 'installLivewireTransport: reloadOnCookies must be an array of cookie names',
      },
    );
    assert.equal(currentTransport(), undefined);
  });
});
