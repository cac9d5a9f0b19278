/**
 * Real clients from npm, set up the way a Laravel app uses them: pusher-js (Node build),
 * laravel-echo on top of it, and the `pusher` server SDK for signing and the HTTP API.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import Pusher from 'pusher';
import type PusherTypes from 'pusher-js';
import Echo from 'laravel-echo';
import { APP } from './server.js';

// pusher-js's Node build is CommonJS whose module.exports is the Pusher class (with encryption).
const PusherJS = createRequire(import.meta.url)('pusher-js') as typeof PusherTypes.default;
export type PusherClient = InstanceType<typeof PusherJS>;
export { PusherJS };

/** The server SDK pointed at a test server (same signing as Laravel's pusher-php-server). */
export function serverSdk(port: number, extra: Record<string, unknown> = {}): Pusher {
  return new Pusher({
    appId: APP.id,
    key: APP.key,
    secret: APP.secret,
    host: '127.0.0.1',
    port: String(port),
    useTLS: false,
    ...extra,
  });
}

/**
 * A pusher-js client whose channel authorization and user authentication are signed locally by the
 * server SDK, as a Laravel backend would do at /broadcasting/auth and /broadcasting/user-auth.
 */
export function pusherClient(
  port: number,
  opts: {
    /** The app key it connects with (default the test app's). */
    key?: string;
    sdk?: Pusher;
    presence?: (socketId: string, channel: string) => { user_id: string; user_info?: unknown };
    user?: { id: string; watchlist?: string[]; [k: string]: unknown };
  } = {},
): PusherClient {
  const sdk = opts.sdk ?? serverSdk(port);
  return new PusherJS(opts.key ?? APP.key, {
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    cluster: 'mt1',
    channelAuthorization: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: (
        { socketId, channelName }: { socketId: string; channelName: string },
        callback: (err: Error | null, data: unknown) => void,
      ) => {
        try {
          if (channelName.startsWith('presence-')) {
            const member = opts.presence?.(socketId, channelName) ?? { user_id: `u-${socketId}` };
            callback(null, sdk.authorizeChannel(socketId, channelName, member as Pusher.PresenceChannelData));
          } else {
            callback(null, sdk.authorizeChannel(socketId, channelName));
          }
        } catch (err) {
          callback(err as Error, null);
        }
      },
    },
    userAuthentication: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: ({ socketId }: { socketId: string }, callback: (err: Error | null, data: unknown) => void) => {
        if (!opts.user) return callback(new Error('no user for this client'), null);
        callback(null, sdk.authenticateUser(socketId, opts.user as Pusher.UserChannelData));
      },
    },
  } as unknown as ConstructorParameters<typeof PusherJS>[1]);
}

/** Resolves once the client is connected (rejects on failure or timeout). */
export async function connected(client: PusherClient, timeoutMs = 5_000): Promise<string> {
  if (client.connection.state === 'connected') return client.connection.socket_id;
  return await new Promise<string>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`not connected after ${timeoutMs} ms (state ${client.connection.state})`)),
      timeoutMs,
    );
    client.connection.bind('connected', () => {
      clearTimeout(t);
      resolve(client.connection.socket_id);
    });
  });
}

/** Laravel Echo over a pusher-js client (Echo's `client` option), as in resources/js/echo.js. */
export function echoOn(client: PusherClient): Echo<'pusher'> {
  return new Echo<'pusher'>({ broadcaster: 'pusher', key: APP.key, client } as never);
}

/** Waits until `predicate` holds, polling; fails with `what` after the timeout. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A pusher-js client on `port` subscribes to `channel` and receives one event triggered through
 * the SDK; disconnected afterwards.
 */
export async function delivers(port: number, channel: string): Promise<void> {
  const client = pusherClient(port);
  try {
    await connected(client);
    const got: unknown[] = [];
    const ch = client.subscribe(channel);
    await new Promise<void>((resolve) => ch.bind('pusher:subscription_succeeded', () => resolve()));
    ch.bind('tick', (d: unknown) => got.push(d));
    await serverSdk(port).trigger(channel, 'tick', { n: 1 });
    await until(() => got.length === 1, 'the event');
    assert.deepEqual(got, [{ n: 1 }]);
  } finally {
    client.disconnect();
  }
}
