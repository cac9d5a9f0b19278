/**
 * One render of a fragment by the app (docs/fragments.md, "The render request"): a POST to
 * `fragments.path` on the nearest healthy upstream, signed in the webhook format (hex
 * HMAC-SHA256 of the raw body in `X-Pusher-Signature`, the key in `X-Pusher-Key`) but with a key
 * of its own, `fragmentKey(secret)`, never the app secret itself: a webhook can never pass as a
 * render request, nor a render request as a webhook. With that key as the secret, the Pusher
 * SDK's `webhook()` verifies and parses the webhook-shaped body. The answer is the fragment's
 * HTML: 200, at most `maxHtmlBytes`, within `timeoutMs`.
 */
import { createHmac } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { AppConfig, FragmentsConfig } from '../config/schema.js';
import { signWebhook } from '../webhooks/sign.js';
import type { FragmentUpstreams, UpstreamPost } from './upstream.js';

export type RenderFailure = 'no_upstream' | 'unreachable' | 'timeout' | 'status' | 'too_large' | 'encoding' | 'failed';

export class RenderError extends Error {
  override readonly name = 'RenderError';
  constructor(
    readonly reason: RenderFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What render requests are signed with: hex HMAC-SHA256 of `wiremesh-fragment-v1` with the app secret. */
export function fragmentKey(secret: string): string {
  return createHmac('sha256', secret).update('wiremesh-fragment-v1').digest('hex');
}

export interface Member {
  user_id: string;
  user_info: unknown;
}

export interface RenderInput {
  fragment: string;
  channel: string;
  /** The channel's presence members; always empty on other channels. */
  members: Member[];
  subscriptionCount: number;
}

/** The body the app receives; `events[0]` is the render request. */
export function renderBody(input: RenderInput, timeMs: number): string {
  return JSON.stringify({
    time_ms: timeMs,
    events: [
      {
        name: 'fragment_render',
        fragment: input.fragment,
        channel: input.channel,
        members: input.members,
        subscription_count: input.subscriptionCount,
      },
    ],
  });
}

/** Renders once; resolves to the HTML or throws RenderError. */
export async function renderFragment(
  upstreams: FragmentUpstreams,
  app: Pick<AppConfig, 'id' | 'key' | 'secret'>,
  config: Pick<FragmentsConfig, 'path' | 'timeoutMs' | 'maxHtmlBytes'>,
  input: RenderInput,
  /** This node's replica id, sent as `X-Wiremesh-Node` (logs, render counts per node). */
  node: string,
  /** The app's public origin (`livewire.publicUrl`): sent as X-Forwarded-*, so URLs in the HTML are public ones. */
  publicUrl: string | undefined,
  signal: AbortSignal,
  now: () => number = Date.now,
): Promise<string> {
  const body = renderBody(input, now());
  const headers = {
    'content-type': 'application/json',
    accept: 'text/html',
    'accept-encoding': 'identity',
    'user-agent': 'wiremesh-fragments',
    'x-wiremesh-node': node,
    'x-pusher-key': app.key,
    'x-pusher-signature': signWebhook(fragmentKey(app.secret), body),
    ...(publicUrl === undefined ? {} : forwardedHeaders(new URL(publicUrl))),
  };
  // One controller for the whole render: the deadline and `signal` end it; both are let go when it
  // ends, so nothing aborts (and errors) a finished request later.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, config.timeoutMs);
  const onAbort = (): void => controller.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) controller.abort();
  try {
    return await attempt(
      upstreams,
      app.id,
      { path: config.path, headers, body, signal: controller.signal },
      config.maxHtmlBytes,
    );
  } catch (err) {
    if (timedOut) throw new RenderError('timeout', `no complete answer within ${config.timeoutMs} ms`, { cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/** Tries the healthy upstreams nearest first, moving on only when one could not be reached. */
async function attempt(upstreams: FragmentUpstreams, appId: string, req: UpstreamPost, limit: number): Promise<string> {
  const candidates = await upstreams.healthy(appId);
  if (candidates.length === 0) throw new RenderError('no_upstream', 'no healthy upstream');
  let res: Dispatcher.ResponseData | undefined;
  for (const origin of candidates) {
    try {
      res = await upstreams.post(appId, origin, req);
      break;
    } catch (err) {
      if (req.signal.aborted || !upstreams.unreachable(err))
        throw new RenderError('failed', 'the request to the upstream failed', { cause: err });
      upstreams.markDown(appId, origin, 'fragment render: connection failed');
    }
  }
  if (res === undefined) throw new RenderError('unreachable', 'no upstream accepted a connection');
  try {
    return await readHtml(res, limit);
  } catch (err) {
    if (err instanceof RenderError) throw err;
    throw new RenderError('failed', 'the answer was cut off', { cause: err });
  }
}

/** What Laravel behind TrustProxies reads to build URLs with the app's public scheme, host and port. */
function forwardedHeaders(page: URL): Record<string, string> {
  return {
    'x-forwarded-proto': page.protocol.slice(0, -1),
    'x-forwarded-host': page.host,
    'x-forwarded-port': page.port || (page.protocol === 'https:' ? '443' : '80'),
  };
}

async function readHtml(res: Dispatcher.ResponseData, limit: number): Promise<string> {
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new RenderError('status', `the upstream answered ${res.statusCode}`);
  }
  const encoding = res.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    res.body.destroy();
    throw new RenderError('encoding', `the upstream answered with content-encoding ${String(encoding).slice(0, 40)}`);
  }
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy();
    throw new RenderError('too_large', `the HTML is ${declared} bytes, more than the ${limit} allowed`);
  }
  const buffers: Buffer[] = [];
  let size = 0;
  for await (const buf of res.body as AsyncIterable<Buffer>) {
    size += buf.length;
    if (size > limit) {
      res.body.destroy();
      throw new RenderError('too_large', `the HTML is more than the ${limit} bytes allowed`);
    }
    buffers.push(buf);
  }
  return Buffer.concat(buffers).toString('utf8');
}
