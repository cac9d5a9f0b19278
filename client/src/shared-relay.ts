/**
 * The SharedWorker's logic (kept apart from the worker entry so it is testable): one socket for
 * every connected page, tunnel frames routed back to the page that sent the request, other
 * frames and state changes sent to every page.
 */
import { abortFrame, fallbackFrame, frameData, frameId, isFinalFrame, TunnelEvents } from './protocol.js';
import { isEnvelope, workerMessage, type PageMessage, type PortLike } from './shared-protocol.js';
import type { StateChange, TunnelSocket } from './socket.js';

export type SocketFactory = (key: string, options: Record<string, unknown>) => TunnelSocket;

export interface Relay {
  /** Takes a port of a newly connected page (from the worker's `connect` event). */
  attach(port: PortLike): void;
  /** Pages attached and not gone (for tests and diagnostics). */
  readonly pages: number;
}

export function createRelay(connect: SocketFactory): Relay {
  let socket: TunnelSocket | undefined;
  const pages = new Set<PortLike>();
  /** Request id → the page waiting for its answer. */
  const owners = new Map<string, PortLike>();

  const onSocketMessage = (message: { event: string; data: unknown }): void => {
    const id = frameId(message);
    if (id === undefined) {
      for (const page of pages) page.postMessage(workerMessage.message(message.event, message.data));
      return;
    }
    const owner = owners.get(id);
    if (owner === undefined) return; // its page is gone
    if (isFinalFrame(message)) owners.delete(id);
    owner.postMessage(workerMessage.message(message.event, message.data));
  };

  const onStateChange = (change: StateChange): void => {
    // Pages fail their own requests in flight when they see the socket leave `connected`.
    if (change.current !== 'connected') owners.clear();
    for (const page of pages) page.postMessage(workerMessage.state(change.previous, change.current));
  };

  const send = (page: PortLike, event: string, data: unknown): void => {
    if (socket === undefined) return;
    const id = event === TunnelEvents.request || event === TunnelEvents.abort ? frameData(data)?.id : undefined;
    if (event === TunnelEvents.abort && typeof id === 'string') owners.delete(id);
    if (event !== TunnelEvents.request || typeof id !== 'string') {
      socket.send_event(event, data);
      return;
    }
    owners.set(id, page);
    if (!socket.send_event(event, data)) {
      // Nothing reached the server: tell the page to use HTTP, as the server itself would.
      owners.delete(id);
      page.postMessage(
        workerMessage.message(TunnelEvents.fallback, fallbackFrame(id, 'shared worker socket not connected', 0)),
      );
    }
  };

  const leave = (page: PortLike): void => {
    pages.delete(page);
    for (const [id, owner] of owners) {
      if (owner !== page) continue;
      owners.delete(id);
      if (socket?.connection.state === 'connected') socket.send_event(TunnelEvents.abort, abortFrame(id));
    }
  };

  const onPageMessage = (page: PortLike, message: unknown): void => {
    if (!isEnvelope<PageMessage>(message)) return;
    switch (message.type) {
      case 'hello':
        if (socket === undefined) {
          socket = connect(message.key, message.options); // later pages share it, whatever key they name
          socket.connection.bind('message', onSocketMessage);
          socket.connection.bind('state_change', onStateChange);
        }
        pages.add(page);
        page.postMessage(workerMessage.state('initialized', socket.connection.state));
        return;
      case 'send':
        return send(page, message.event, message.data);
      case 'bye':
        return leave(page);
    }
  };

  return {
    attach(port) {
      port.onmessage = (event) => onPageMessage(port, event.data);
      port.start?.();
    },
    get pages() {
      return pages.size;
    },
  };
}
