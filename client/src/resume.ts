/**
 * No event lost over a reconnect, for plain pusher-js and Laravel Echo on a wiremesh server with
 * channel history (`apps[].history`):
 *
 *   import { enableResume } from 'wiremesh-livewire';
 *   const resume = enableResume(window.Echo.connector.pusher);
 *   window.Echo.channel('news').listen('.wiremesh:gap', () => location.reload());
 *
 * It remembers the stream position of the last event on each channel (the `wm_pos` field of the
 * frame, which pusher-js itself ignores), and on every (re)subscription asks the server to resume
 * from it (`wm_resume` in `pusher:subscribe`, which Pusher servers ignore; `new` without one: the
 * server's `subscription_succeeded` then names where the subscription starts, so a client cut off
 * right after it still resumes). The server replays what was missed, in order and once, then
 * `wiremesh:resumed`; when it cannot, it sends `wiremesh:gap`
 * `{reason}` (`too_old`, `reset`, `unavailable`, `overflow`): the app should reload the channel's
 * state. A change of stream on a live channel (its history node died) is reported the same way,
 * with reason `reset`, emitted locally.
 */

/** The narrow surface of a pusher-js instance used here (a `Pusher` object satisfies it). */
export interface ResumablePusher {
  send_event(event: string, data: unknown, channel?: string): boolean;
  channel(name: string): { emit(event: string, data?: unknown): unknown } | undefined | null;
  readonly connection: {
    bind(event: string, callback: (payload: any) => void): unknown;
    unbind(event: string, callback: (payload: any) => void): unknown;
    /** pusher-js internals: the current connection and its transport, which emits raw frames. */
    readonly connection?: { readonly transport?: RawTransport } | null;
  };
}

interface RawTransport {
  bind(event: 'message', callback: (message: { data?: unknown }) => void): unknown;
}

export interface ResumeOptions {
  /** Which channels to resume (default: every channel; the server ignores the request elsewhere). */
  channels?: (name: string) => boolean;
}

export interface ResumeHandle {
  /** The last position seen on `channel` (`<epoch>:<serial>`), if any. */
  position(channel: string): string | undefined;
  /** Stops asking for resumes (positions are forgotten). */
  disable(): void;
}

interface Pos {
  epoch: string;
  serial: number;
}

const POS = /^([A-Za-z0-9_-]{1,16}):(\d{1,15})$/;

function parse(value: unknown): Pos | null {
  if (typeof value !== 'string') return null;
  const m = POS.exec(value);
  return m ? { epoch: m[1] as string, serial: Number(m[2]) } : null;
}

export function enableResume(pusher: ResumablePusher, options: ResumeOptions = {}): ResumeHandle {
  const wanted = options.channels ?? (() => true);
  const positions = new Map<string, Pos>();
  const hooked = new WeakSet<object>();
  let enabled = true;

  const originalSend = pusher.send_event;
  pusher.send_event = function (this: unknown, event: string, data: unknown, channel?: string): boolean {
    if (enabled && event === 'pusher:subscribe' && data !== null && typeof data === 'object') {
      const name = (data as { channel?: unknown }).channel;
      if (typeof name === 'string' && wanted(name)) {
        const p = positions.get(name);
        data = { ...(data as object), wm_resume: p ? `${p.epoch}:${p.serial}` : 'new' };
      }
    }
    return originalSend.call(pusher, event, data, channel);
  };

  const onFrame = (message: { data?: unknown }): void => {
    const raw = message.data;
    if (!enabled || typeof raw !== 'string' || !(raw.includes('"wm_pos":') || raw.includes('"wiremesh:gap"'))) return;
    let frame: { event?: unknown; channel?: unknown; wm_pos?: unknown };
    try {
      frame = JSON.parse(raw) as typeof frame;
    } catch {
      return; // pusher-js reports unparsable frames itself
    }
    if (typeof frame.channel !== 'string' || typeof frame.event !== 'string') return;
    track(frame.channel, frame.event, parse(frame.wm_pos));
  };

  function track(channel: string, event: string, pos: Pos | null): void {
    const known = positions.get(channel);
    if (event === 'wiremesh:gap' || event === 'wiremesh:resumed') {
      // Authoritative: the server's answer to our resume.
      if (pos) positions.set(channel, pos);
      else positions.delete(channel);
      return;
    }
    if (event === 'pusher_internal:subscription_succeeded') {
      // A new subscription's confirmation names where it starts; a resume's names nothing (keep ours).
      if (pos) positions.set(channel, pos);
      return;
    }
    if (!pos) return;
    if (known && known.epoch === pos.epoch) {
      if (pos.serial > known.serial) positions.set(channel, pos);
      return;
    }
    positions.set(channel, pos);
    // Another stream while live: its history node changed; events may have been lost in between.
    if (known) pusher.channel(channel)?.emit('wiremesh:gap', { reason: 'reset' });
  }

  const onConnected = (): void => {
    const transport = pusher.connection.connection?.transport;
    if (!transport || hooked.has(transport)) return;
    hooked.add(transport);
    transport.bind('message', onFrame);
  };
  const onStateChange = (change: { current?: string }): void => {
    if (change.current === 'connected') onConnected();
  };
  pusher.connection.bind('state_change', onStateChange);
  onConnected();

  return {
    position: (channel) => {
      const p = positions.get(channel);
      return p ? `${p.epoch}:${p.serial}` : undefined;
    },
    disable: () => {
      enabled = false;
      positions.clear();
      pusher.send_event = originalSend;
      pusher.connection.unbind('state_change', onStateChange);
    },
  };
}
