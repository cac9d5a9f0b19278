/**
 * OPTIONAL SharedWorker entry, built to `client/dist/wiremesh-shared-worker.js` with pusher-js's
 * worker build bundled in. It holds ONE pusher-js connection for all tabs of the origin and relays
 * the Livewire tunnel to them (channel subscriptions for Echo are not relayed: pages that use
 * Echo keep their own connection for that). Serve the file from the app's origin and open it with
 * `connectShared({ workerUrl, key, options })`. The worker lives while at least one page of the
 * origin uses it; pusher options must be structured-cloneable (no functions).
 */
import Pusher, { type Options } from 'pusher-js/worker';
import { createRelay } from './shared-relay.js';
import type { PortLike } from './shared-protocol.js';
import type { TunnelSocket } from './socket.js';

declare const self: SharedWorkerGlobalScope;

const relay = createRelay((key, options) => new Pusher(key, options as unknown as Options) as unknown as TunnelSocket);

self.onconnect = (event: MessageEvent) => {
  for (const port of event.ports) relay.attach(port as unknown as PortLike);
};
