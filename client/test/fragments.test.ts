import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installFragments, type FragmentChannel, type FragmentEvent, type FragmentSocket } from '../src/fragments.js';
import { FakePusher } from './fake-pusher.js';

type Listener = (data: any) => void;

class FakeChannel implements FragmentChannel {
  subscribed = false;
  readonly listeners = new Map<string, Set<Listener>>();
  bind(event: string, fn: Listener): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
  }
  unbind(event: string, fn: Listener): void {
    this.listeners.get(event)?.delete(fn);
  }
  succeed(): void {
    this.subscribed = true;
    for (const fn of this.listeners.get('pusher:subscription_succeeded') ?? []) fn({});
  }
}

/** FakePusher with channels, as pusher-js has them. */
class ChannelPusher extends FakePusher implements FragmentSocket {
  readonly channels = new Map<string, FakeChannel>();
  subscribe(name: string): FakeChannel {
    let ch = this.channels.get(name);
    if (!ch) this.channels.set(name, (ch = new FakeChannel()));
    return ch;
  }
  channel(name: string): FakeChannel | undefined {
    return this.channels.get(name);
  }
  readonly unsubscribed: string[] = [];
  unsubscribe(name: string): void {
    this.unsubscribed.push(name);
  }
}

/** Just enough of an element: attributes, and the HTML the morph put in. */
class FakeElement {
  html = '';
  constructor(private readonly attrs: Record<string, string>) {}
  getAttribute(name: string): string | null {
    return this.attrs[name] ?? null;
  }
  setAttribute(name: string, value: string): void {
    this.attrs[name] = value;
  }
}

function setup(elements: FakeElement[]) {
  const pusher = new ChannelPusher();
  const events: FragmentEvent[] = [];
  const root = { querySelectorAll: () => elements } as unknown as ParentNode;
  const handle = installFragments({
    pusher,
    root,
    morph: (el, html) => void ((el as unknown as FakeElement).html = html),
    onEvent: (e) => events.push(e),
  });
  const frame = (
    version: number,
    html: string,
    epoch = 'node-a',
    fragment = 'online-users',
    channel = 'presence-lobby',
  ) => pusher.deliver('wiremesh:fragment', { fragment, channel, epoch, version, html });
  return { pusher, events, handle, frame };
}

const lobby = () => new FakeElement({ 'data-wiremesh-fragment': 'online-users', 'data-channel': 'presence-lobby' });

test('subscribes to the channel, asks for the fragment after every subscription_succeeded (reconnects too)', () => {
  const { pusher } = setup([lobby()]);
  const ch = pusher.channels.get('presence-lobby')!;
  assert.ok(ch, 'the channel was subscribed through pusher-js (its own authorization)');
  assert.equal(pusher.sent.length, 0, 'nothing asked before the channel is subscribed');
  ch.succeed();
  ch.succeed();
  assert.deepEqual(
    pusher.sent.map((s) => [s.event, s.data]),
    [
      ['wiremesh:fragment-subscribe', { fragment: 'online-users', channel: 'presence-lobby' }],
      ['wiremesh:fragment-subscribe', { fragment: 'online-users', channel: 'presence-lobby' }],
    ],
  );
});

test('a channel already subscribed (Echo.join) is reused and asked for at once', () => {
  const pusher = new ChannelPusher();
  pusher.subscribe('presence-lobby').succeed();
  installFragments({ pusher, root: { querySelectorAll: () => [lobby()] } as unknown as ParentNode, morph: () => {} });
  assert.equal(pusher.sent.length, 1);
});

test('applies HTML to every element of the fragment; never an older version of the same node', () => {
  const a = lobby();
  const b = lobby();
  const other = new FakeElement({ 'data-wiremesh-fragment': 'counter', 'data-channel': 'presence-lobby' });
  const { events, frame } = setup([a, b, other]);
  frame(2, '<ul>v2</ul>');
  assert.deepEqual([a.html, b.html, other.html], ['<ul>v2</ul>', '<ul>v2</ul>', '']);
  assert.equal(a.getAttribute('data-wiremesh-version'), '2');
  frame(1, '<ul>v1</ul>');
  frame(2, '<ul>v2 again</ul>');
  assert.equal(a.html, '<ul>v2</ul>', 'a slow old render does not overwrite a newer one');
  frame(3, '<ul>v3</ul>');
  assert.equal(a.html, '<ul>v3</ul>');
  frame(1, '<ul>other node</ul>', 'node-b');
  assert.equal(a.html, '<ul>other node</ul>', 'another node (after a reconnect) numbers afresh');
  assert.deepEqual(
    events.map((e) => `${e.type}:${e.version}`),
    ['applied:2', 'stale:1', 'stale:2', 'applied:3', 'applied:1'],
  );
});

test('ignores frames of fragments it does not watch and malformed ones', () => {
  const a = lobby();
  const { frame, pusher } = setup([a]);
  frame(1, 'x', 'node-a', 'online-users', 'presence-other');
  pusher.deliver('wiremesh:fragment', {
    fragment: 'online-users',
    channel: 'presence-lobby',
    version: '2',
    html: 'y',
    epoch: 'e',
  });
  pusher.deliver('wiremesh:fragment', 'not json');
  assert.equal(a.html, '');
});

test('scan drops fragments no longer in the page; stop unbinds everything', () => {
  const elements = [lobby()];
  const { pusher, handle } = setup(elements);
  pusher.channels.get('presence-lobby')!.succeed();
  elements.length = 0;
  handle.scan();
  assert.deepEqual(pusher.sent.at(-1), {
    event: 'wiremesh:fragment-unsubscribe',
    data: { fragment: 'online-users', channel: 'presence-lobby' },
  });
  assert.equal(pusher.channels.get('presence-lobby')!.listeners.get('pusher:subscription_succeeded')!.size, 0);
  handle.stop();
  assert.equal(pusher.listenerCount('message'), 0);
});

test('the channel a fragment subscribed goes when no fragment uses it; one the page holds stays', () => {
  const one = lobby();
  const two = lobby();
  const elements = [one, two];
  const { pusher, handle } = setup(elements);
  pusher.channels.get('presence-lobby')!.succeed();
  elements.splice(1);
  handle.scan();
  assert.deepEqual(pusher.unsubscribed, [], 'another element still shows it');
  elements.length = 0;
  handle.scan();
  assert.deepEqual(pusher.unsubscribed, ['presence-lobby'], 'the presence channel is left: the user goes offline');

  // Subscribed by the page first (Echo.join): the page's to leave.
  const held = new ChannelPusher();
  held.subscribe('presence-lobby').succeed();
  const kept = installFragments({
    pusher: held,
    root: { querySelectorAll: () => [lobby()] } as unknown as ParentNode,
    morph: () => {},
  });
  kept.stop();
  assert.deepEqual(held.unsubscribed, []);

  // Joined through Echo after the fragment subscribed it: Echo holds it now.
  const late = new ChannelPusher();
  const lateElements = [lobby()];
  const g = globalThis as { Echo?: unknown };
  g.Echo = { connector: { channels: { 'presence-lobby': {} } } };
  try {
    const h = installFragments({
      pusher: late,
      root: { querySelectorAll: () => lateElements } as unknown as ParentNode,
      morph: () => {},
    });
    lateElements.length = 0;
    h.scan();
    assert.deepEqual(late.unsubscribed, []);
  } finally {
    delete g.Echo;
  }
});
