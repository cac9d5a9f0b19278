/**
 * An in-memory stand-in for a pusher-js instance (the surface the tunnel uses), plus the browser
 * globals the transport reads (`location`), for unit tests in Node.
 */
import type { RequestFrame } from '../src/protocol.js';
import type { TunnelSocket } from '../src/socket.js';

type Listener = (payload: any) => void;

export interface Sent {
  readonly event: string;
  readonly data: any;
}

export class FakePusher implements TunnelSocket {
  state = 'connected';
  /** false: send_event writes nothing and answers false, like pusher-js without a transport. */
  writable = true;
  readonly sent: Sent[] = [];
  private readonly listeners = new Map<string, Set<Listener>>();
  private waiters: Array<() => void> = [];

  readonly connection: TunnelSocket['connection'] = {
    state: '',
    bind: (event: string, callback: Listener) => {
      let set = this.listeners.get(event);
      if (set === undefined) this.listeners.set(event, (set = new Set()));
      set.add(callback);
    },
    unbind: (event: string, callback: Listener) => {
      this.listeners.get(event)?.delete(callback);
    },
  };

  constructor() {
    Object.defineProperty(this.connection, 'state', { get: () => this.state });
  }

  send_event(event: string, data: unknown): boolean {
    if (!this.writable) return false;
    this.sent.push({ event, data });
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
    return true;
  }

  listenerCount(event: string): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Delivers a server frame as pusher-js would (data parsed, or as a JSON string). */
  deliver(event: string, data: unknown, asString = false): void {
    const message = { event, data: asString ? JSON.stringify(data) : data };
    for (const listener of [...(this.listeners.get('message') ?? [])]) listener(message);
  }

  setState(current: string): void {
    const previous = this.state;
    this.state = current;
    for (const listener of [...(this.listeners.get('state_change') ?? [])]) listener({ previous, current });
  }

  requests(): RequestFrame[] {
    return this.sent.filter((s) => s.event === 'wiremesh:request').map((s) => s.data as RequestFrame);
  }

  aborts(): string[] {
    return this.sent.filter((s) => s.event === 'wiremesh:abort').map((s) => (s.data as { id: string }).id);
  }

  /** Waits until `count` requests have been sent in total. */
  async request(count = 1): Promise<RequestFrame> {
    while (this.requests().length < count) await new Promise<void>((wake) => this.waiters.push(wake));
    return this.requests()[count - 1]!;
  }

  respond(id: string, fields: Record<string, unknown> = {}, asString = false): void {
    this.deliver(
      'wiremesh:response',
      {
        id,
        status: 200,
        statusText: 'OK',
        headers: [['content-type', 'application/json']],
        url: '',
        redirected: false,
        body: '{}',
        done: true,
        setCookies: [],
        ...fields,
      },
      asString,
    );
  }
}

export const ORIGIN = 'https://app.test';

/** `location` for the transport; counts reloads. */
export const page = {
  reloads: 0,
  install(): void {
    Object.defineProperty(globalThis, 'location', {
      configurable: true,
      value: { origin: ORIGIN, href: `${ORIGIN}/counter`, reload: () => (page.reloads += 1) },
    });
  },
};

export interface HttpCall {
  readonly input: RequestInfo | URL;
  readonly init: RequestInit | undefined;
}

/** Replaces the global fetch with a recorder ("HTTP"); returns the calls it saw. */
export function stubHttp(
  answer: (call: HttpCall) => Response | Promise<Response> = () => new Response('from http', { status: 200 }),
): HttpCall[] {
  const calls: HttpCall[] = [];
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const call = { input, init };
    calls.push(call);
    return answer(call);
  }) as typeof fetch;
  return calls;
}

/** Livewire 3's request: `X-Livewire: ''` to /livewire/update. */
export function livewire3(body = '{"components":[]}', signal?: AbortSignal): [string, RequestInit] {
  return [
    '/livewire/update',
    {
      method: 'POST',
      body,
      headers: { 'Content-type': 'application/json', 'X-Livewire': '', 'X-CSRF-TOKEN': 'tok' },
      signal,
    },
  ];
}

/** Livewire 4's request: `X-Livewire: '1'` to the hashed endpoint. */
export function livewire4(body = '{"components":[]}', signal?: AbortSignal): [string, RequestInit] {
  return [
    '/livewire-1a2b3c4d/update',
    { method: 'POST', body, headers: { 'Content-type': 'application/json', 'X-Livewire': '1' }, signal },
  ];
}

export async function tick(times = 3): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
