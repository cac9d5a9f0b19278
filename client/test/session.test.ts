import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { installLivewireTransport, type TransportEvent, type TransportHandle } from '../src/transport.js';
import { socketOrigin } from '../src/session.js';
import { FakePusher, livewire3, page, stubHttp, type HttpCall } from './fake-pusher.js';

page.install();

/** A FakePusher with pusher-js's `config`, so the transport syncs the session with it. */
class ConfiguredPusher extends FakePusher {
  readonly config = { useTLS: true, wsHost: 'app.test', wsPort: 80, wssPort: 443, wsPath: '' };
  answerSession = true;
  /** Announced in the session answer (none: the client assumes wiremesh's default). */
  maxFrameBytes: number | undefined;
  /** Fields of the session answer that differ from a same-host wiremesh's. */
  answer: Record<string, unknown> = {};
  /** How the server meets `wiremesh:session`: wiremesh with the tunnel, wiremesh without it, a server that ignores it (Soketi). */
  server: 'tunnel' | 'refuses' | 'ignores' = 'tunnel';
  override send_event(event: string, data: unknown): boolean {
    const sent = super.send_event(event, data);
    // In order, as a server answers one connection's frames.
    if (event === 'pusher:ping') queueMicrotask(() => this.deliver('pusher:pong', {}));
    if (event === 'wiremesh:session' && this.server === 'refuses') {
      queueMicrotask(() =>
        this.deliver('pusher:error', {
          code: 4302,
          message: 'wiremesh:session: the Livewire tunnel is not enabled for this app',
        }),
      );
      return sent;
    }
    if (event === 'wiremesh:session' && this.server === 'ignores') return sent;
    if (event === 'wiremesh:session' && this.answerSession) {
      queueMicrotask(() =>
        this.deliver('wiremesh:session', {
          token: 'tok123',
          sync: true,
          reason: 'same host',
          path: '/wiremesh/session',
          ...(this.maxFrameBytes === undefined ? {} : { maxFrameBytes: this.maxFrameBytes }),
          ...this.answer,
        }),
      );
    }
    return sent;
  }
}

let pusher: ConfiguredPusher;
let http: HttpCall[];
let handle: TransportHandle | undefined;
let events: TransportEvent[];

const syncs = (): HttpCall[] => http.filter((c) => String(c.input).endsWith('/wiremesh/session'));

beforeEach(() => {
  pusher = new ConfiguredPusher();
  http = stubHttp((call) =>
    String(call.input).endsWith('/wiremesh/session')
      ? new Response('{"set":["laravel_session"]}', { status: 200 })
      : new Response('page', { status: 200 }),
  );
  events = [];
});
afterEach(() => {
  handle?.uninstall();
  handle = undefined;
});

test("the socket's HTTP origin comes from pusher-js's config", () => {
  assert.equal(socketOrigin(new ConfiguredPusher()), 'https://app.test:443');
  assert.equal(socketOrigin(new FakePusher()), undefined);
});

test('a response that set cookies is followed by one sync; an HTTP request of the page waits for it and makes the next update sync first', async () => {
  handle = installLivewireTransport({ pusher, onEvent: (e) => events.push(e) });
  const first = fetch(...livewire3('{}'));
  const frame = await pusher.request();
  assert.deepEqual(syncs(), [], 'no sync before the first update: the jar is the handshake cookies');
  pusher.respond(frame.id, { setCookies: ['laravel_session'] });
  await (await first).text();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(syncs().length, 1);
  const call = syncs()[0]!;
  assert.equal(call.init?.method, 'POST');
  assert.equal(call.init?.credentials, 'include');
  assert.equal(call.init?.body, 'tok123');
  assert.equal(String(call.input), 'https://app.test:443/wiremesh/session');

  // wire:navigate (an HTTP GET of the page's origin), then an update: it syncs before it is sent.
  await (await fetch('https://app.test/other')).text();
  const second = fetch(...livewire3('{}'));
  const next = await pusher.request(2);
  assert.equal(syncs().length, 2, 'the browser may hold new cookies: synced before the update');
  pusher.respond(next.id);
  await (await second).text();
  assert.equal(syncs().length, 2, 'a response without cookies needs no sync');
  assert.ok(events.some((e) => e.type === 'sync' && e.why === 'browser-changed'));
});

test('a redirect effect waits for the sync before Livewire gets the response', async () => {
  let release: () => void = () => undefined;
  http = stubHttp(async (call) => {
    if (String(call.input).endsWith('/wiremesh/session')) await new Promise<void>((r) => (release = r));
    return new Response('{"set":[]}', { status: 200 });
  });
  handle = installLivewireTransport({ pusher });
  const pending = fetch(...livewire3('{}'));
  const frame = await pusher.request();
  pusher.respond(frame.id, {
    setCookies: ['laravel_session'],
    body: '{"components":[{"effects":{"redirect":"/home"}}]}',
  });
  let got = false;
  void pending.then(() => (got = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(got, false, 'held until the browser has the cookies');
  release();
  await pending;
  assert.equal(got, true);
});

test('the server says cookies cannot follow: updates go over HTTP before anything is sent, with one console warning', async (t) => {
  const warnings: string[] = [];
  t.mock.method(console, 'warn', (message: string) => warnings.push(message));
  const reason = "wiremesh is reached at 127.0.0.1, not at the page's host app.test: cookies cannot follow";
  pusher.answer = { token: '', sync: false, reason };
  handle = installLivewireTransport({ pusher, onEvent: (e) => events.push(e) });
  assert.equal(await (await fetch(...livewire3('{}'))).text(), 'page');
  assert.equal(await (await fetch(...livewire3('{}'))).text(), 'page');
  assert.deepEqual(pusher.requests(), []);
  assert.ok(events.some((e) => e.type === 'http' && e.reason === 'cookies-cannot-follow'));
  assert.equal(warnings.length, 1, `one warning, not one per update: ${JSON.stringify(warnings)}`);
  assert.match(
    warnings[0]!,
    /go over HTTP, not the socket: wiremesh is reached at 127\.0\.0\.1.*on the page's own host, app\.test .*VITE_PUSHER_HOST/,
  );
});

for (const server of ['refuses', 'ignores'] as const) {
  test(`a server that ${server} wiremesh:session (no tunnel): the first update goes over HTTP at once`, async () => {
    pusher.server = server;
    handle = installLivewireTransport({ pusher, onEvent: (e) => events.push(e) });
    const started = Date.now();
    assert.equal(await (await fetch(...livewire3('{}'))).text(), 'page');
    assert.ok(Date.now() - started < 500, `answered in ${Date.now() - started} ms, not after the session timeout`);
    assert.deepEqual(pusher.requests(), []);
    const http = events.find((e) => e.type === 'http');
    assert.equal(http?.type === 'http' && http.reason, 'cookies-cannot-follow');
    assert.match(String(http?.type === 'http' && http.detail), server === 'refuses' ? /refused/ : /no Livewire tunnel/);
    assert.equal(await (await fetch(...livewire3('{}'))).text(), 'page', 'and so do the next ones');
    assert.equal(pusher.sent.filter((x) => x.event === 'wiremesh:session').length, 1, 'asked once per connection');
  });
}

test('a pong that answered an earlier ping of pusher-js: the late session answer wins for the next update', async () => {
  pusher.server = 'ignores';
  handle = installLivewireTransport({ pusher, onEvent: (e) => events.push(e) });
  assert.equal(await (await fetch(...livewire3('{}'))).text(), 'page');
  pusher.deliver('wiremesh:session', { token: 'tok123', sync: true, reason: 'same host', path: '/wiremesh/session' });
  const second = fetch(...livewire3('{}'));
  const frame = await pusher.request();
  pusher.respond(frame.id);
  assert.equal((await second).status, 200);
  assert.equal(pusher.requests().length, 1, 'the second update went over the socket');
});

test('a request whose frame exceeds the announced limit goes over HTTP; one that fits rides the socket', async () => {
  pusher.maxFrameBytes = 4096;
  handle = installLivewireTransport({ pusher, onEvent: (e) => events.push(e) });
  assert.equal(await (await fetch(...livewire3(JSON.stringify({ text: 'x'.repeat(5000) })))).text(), 'page');
  assert.deepEqual(pusher.requests(), [], 'nothing of it on the socket');
  const http = events.find((e) => e.type === 'http');
  assert.equal(http?.type === 'http' && http.reason, 'too-large');
  assert.match(String(http?.type === 'http' && http.detail), /at most 4096/);
  const small = fetch(...livewire3(JSON.stringify({ text: 'x'.repeat(3000) })));
  pusher.respond((await pusher.request()).id);
  assert.equal((await small).status, 200);
});

test('without an announced limit the client keeps frames under 256 KiB (multi-byte text counted in bytes)', async () => {
  handle = installLivewireTransport({ pusher, onEvent: (e) => events.push(e) });
  assert.equal(await (await fetch(...livewire3(JSON.stringify({ text: 'é'.repeat(140 * 1024) })))).text(), 'page');
  assert.deepEqual(pusher.requests(), []);
  assert.ok(events.some((e) => e.type === 'http' && e.reason === 'too-large'));
});
