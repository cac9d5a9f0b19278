/**
 * Shared fragments in the page (docs/fragments.md): every element
 *
 *   <div data-wiremesh-fragment="online-users" data-channel="presence-lobby" wire:ignore>…</div>
 *
 * is kept up to date with the HTML the wiremesh node renders once for all its viewers. The page
 * subscribes to the channel through pusher-js (its own authorization: a private or presence
 * channel's fragment needs that channel's auth), then asks for the fragment on the same socket
 * (`wiremesh:fragment-subscribe`); `wiremesh:fragment` frames carry the HTML. New HTML is morphed
 * in with Alpine's morph when the page has it (Livewire ships it), else the element's content is
 * replaced. Livewire components inside a fragment (`wire:id`) are left alone by the morph; the
 * element should carry `wire:ignore` so a Livewire component around it does not morph it back.
 * A version older than the one shown (from the same node) is never applied.
 */
import type { TunnelSocket } from './socket.js';

export const FragmentEvents = {
  subscribe: 'wiremesh:fragment-subscribe',
  unsubscribe: 'wiremesh:fragment-unsubscribe',
  html: 'wiremesh:fragment',
} as const;

/** What of pusher-js the fragments use: the tunnel's surface plus channels. */
export interface FragmentSocket extends TunnelSocket {
  subscribe(channel: string): FragmentChannel;
  unsubscribe(channel: string): void;
  channel(channel: string): FragmentChannel | undefined;
}

export interface FragmentChannel {
  readonly subscribed: boolean;
  bind(event: string, callback: (data: any) => void): unknown;
  unbind(event: string, callback: (data: any) => void): unknown;
}

export interface FragmentsOptions {
  /** The app's pusher-js instance (`window.Echo.connector.pusher`). */
  readonly pusher: FragmentSocket;
  /** Where to look for fragment elements. Default: `document`. */
  readonly root?: ParentNode;
  /** Puts new HTML into an element. Default: Alpine's morph when present, else `innerHTML`. */
  readonly morph?: (el: Element, html: string) => void;
  /** Observes each applied or skipped frame (logs and tests). */
  readonly onEvent?: (event: FragmentEvent) => void;
}

export type FragmentEvent =
  | {
      readonly type: 'applied';
      readonly fragment: string;
      readonly channel: string;
      readonly version: number;
      readonly elements: number;
    }
  | { readonly type: 'stale'; readonly fragment: string; readonly channel: string; readonly version: number };

export interface FragmentsHandle {
  /** Looks for fragment elements again (after `wire:navigate` or new content): subscribes new ones, drops gone ones. */
  scan(): void;
  /** Stops listening and unsubscribes every fragment. */
  stop(): void;
}

interface FragmentFrame {
  fragment: string;
  channel: string;
  epoch: string;
  version: number;
  html: string;
}

interface Watched {
  fragment: string;
  channel: string;
  ch: FragmentChannel;
  onSubscribed: () => void;
}

const shown = new WeakMap<Element, { epoch: string; version: number }>();
const keyOf = (fragment: string, channel: string): string => `${fragment}\u0000${channel}`;

export function installFragments(options: FragmentsOptions): FragmentsHandle {
  const pusher = options.pusher;
  const root = options.root ?? document;
  const morph = options.morph ?? defaultMorph;
  const watched = new Map<string, Watched>();
  /** Channels subscribed here for fragments (not by the page before): unsubscribed when no fragment uses them. */
  const ours = new Set<string>();

  const elementsOf = (fragment: string, channel: string): Element[] =>
    [...root.querySelectorAll('[data-wiremesh-fragment]')].filter(
      (el) => el.getAttribute('data-wiremesh-fragment') === fragment && el.getAttribute('data-channel') === channel,
    );

  const onMessage = (message: { event?: unknown; data?: unknown }): void => {
    if (message.event !== FragmentEvents.html) return;
    const f = readFrame(message.data);
    if (!f || !watched.has(keyOf(f.fragment, f.channel))) return;
    let applied = 0;
    let stale = false;
    for (const el of elementsOf(f.fragment, f.channel)) {
      const last = shown.get(el);
      if (last && last.epoch === f.epoch && last.version >= f.version) {
        stale = true;
        continue;
      }
      morph(el, f.html);
      shown.set(el, { epoch: f.epoch, version: f.version });
      el.setAttribute('data-wiremesh-version', String(f.version));
      applied++;
    }
    if (applied > 0)
      options.onEvent?.({
        type: 'applied',
        fragment: f.fragment,
        channel: f.channel,
        version: f.version,
        elements: applied,
      });
    else if (stale) options.onEvent?.({ type: 'stale', fragment: f.fragment, channel: f.channel, version: f.version });
  };
  pusher.connection.bind('message', onMessage);

  const watch = (fragment: string, channel: string): void => {
    const existing = pusher.channel(channel);
    if (existing === undefined) ours.add(channel);
    const ch = existing ?? pusher.subscribe(channel);
    // After every (re)subscription of the channel, e.g. when pusher-js reconnects.
    const onSubscribed = (): void => void pusher.send_event(FragmentEvents.subscribe, { fragment, channel });
    ch.bind('pusher:subscription_succeeded', onSubscribed);
    watched.set(keyOf(fragment, channel), { fragment, channel, ch, onSubscribed });
    if (ch.subscribed) onSubscribed();
  };

  const unwatch = (w: Watched): void => {
    w.ch.unbind('pusher:subscription_succeeded', w.onSubscribed);
    watched.delete(keyOf(w.fragment, w.channel));
    if (pusher.connection.state === 'connected')
      pusher.send_event(FragmentEvents.unsubscribe, { fragment: w.fragment, channel: w.channel });
    // The channel goes too (a presence channel: the user leaves it) once no fragment of the page
    // uses it, unless the page holds it itself (subscribed before, or through Echo since).
    if (!ours.has(w.channel) || [...watched.values()].some((o) => o.channel === w.channel)) return;
    ours.delete(w.channel);
    if (!echoHolds(w.channel)) pusher.unsubscribe(w.channel);
  };

  const scan = (): void => {
    const found = new Map<string, { fragment: string; channel: string }>();
    for (const el of root.querySelectorAll('[data-wiremesh-fragment]')) {
      const fragment = el.getAttribute('data-wiremesh-fragment');
      const channel = el.getAttribute('data-channel');
      if (fragment && channel) found.set(keyOf(fragment, channel), { fragment, channel });
    }
    for (const [k, w] of watched) if (!found.has(k)) unwatch(w);
    for (const [k, f] of found) if (!watched.has(k)) watch(f.fragment, f.channel);
  };

  const onNavigated = (): void => scan();
  globalThis.addEventListener?.('livewire:navigated', onNavigated);
  scan();
  return {
    scan,
    stop: () => {
      globalThis.removeEventListener?.('livewire:navigated', onNavigated);
      pusher.connection.unbind('message', onMessage);
      for (const w of [...watched.values()]) unwatch(w);
    },
  };
}

/** Whether the page's Echo has the channel (Echo.join/private/channel, also after the fragment subscribed it). */
function echoHolds(channel: string): boolean {
  const channels = (globalThis as { Echo?: { connector?: { channels?: unknown } } }).Echo?.connector?.channels;
  return typeof channels === 'object' && channels !== null && Object.hasOwn(channels, channel);
}

function readFrame(data: unknown): FragmentFrame | null {
  const d = (typeof data === 'string' ? safeParse(data) : data) as Partial<FragmentFrame> | null;
  if (typeof d !== 'object' || d === null) return null;
  const ok =
    typeof d.fragment === 'string' &&
    typeof d.channel === 'string' &&
    typeof d.epoch === 'string' &&
    typeof d.version === 'number' &&
    typeof d.html === 'string';
  return ok ? (d as FragmentFrame) : null;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

type Morph = (
  from: Element,
  to: Element,
  options: { updating(from: Node, to: Node, childrenOnly: () => void, skip: () => void): void },
) => void;

/** Alpine's morph (Livewire ships it) into a copy of the element holding the new HTML; else a plain replace. */
function defaultMorph(el: Element, html: string): void {
  const alpineMorph = (globalThis as { Alpine?: { morph?: Morph } }).Alpine?.morph;
  if (typeof alpineMorph !== 'function') {
    el.innerHTML = html;
    return;
  }
  const to = el.cloneNode(false) as Element;
  to.innerHTML = html;
  alpineMorph(el, to, {
    // Livewire components inside the fragment keep their own DOM and state.
    updating: (from, _to, _childrenOnly, skip) => {
      if (from !== el && from instanceof Element && from.hasAttribute('wire:id')) skip();
    },
  });
}
