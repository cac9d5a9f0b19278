/**
 * Raw HTTP API requests for the cases the `pusher` SDK will not produce: a stale timestamp, a
 * wrong body_md5, a body that is not JSON, no signature at all. Signing is written out here
 * (independently of the server's own code) exactly as the Pusher SDKs do it.
 */
import { createHash, createHmac } from 'node:crypto';
import { APP, startTestServer } from './server.js';

export interface SignedRequest {
  method: 'GET' | 'POST';
  /** Path under /apps/{appId}, e.g. `/events`. */
  path: string;
  params?: Record<string, string>;
  /** Raw body text; sent as is. */
  body?: string;
  appId?: string;
  key?: string;
  secret?: string;
  /** Seconds since the epoch; defaults to now. */
  timestamp?: number;
  /** Replaces the md5 of the body. */
  bodyMd5?: string;
  /** Skip signing entirely. */
  unsigned?: boolean;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  json: unknown;
  text: string;
}

export function signedQuery(req: SignedRequest): string {
  const fullPath = `/apps/${req.appId ?? APP.id}${req.path}`;
  const params: Record<string, string> = {
    auth_key: req.key ?? APP.key,
    auth_timestamp: String(req.timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    ...req.params,
  };
  if (req.body !== undefined && req.body !== '') {
    params.body_md5 = req.bodyMd5 ?? createHash('md5').update(req.body, 'utf8').digest('hex');
  }
  const query = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  const signature = createHmac('sha256', req.secret ?? APP.secret)
    .update([req.method, fullPath, query].join('\n'))
    .digest('hex');
  return `${query}&auth_signature=${signature}`;
}

export async function apiRequest(port: number, req: SignedRequest): Promise<RawResponse> {
  const fullPath = `/apps/${req.appId ?? APP.id}${req.path}`;
  const qs = req.unsigned ? new URLSearchParams(req.params ?? {}).toString() : signedQuery(req);
  const res = await fetch(`http://127.0.0.1:${port}${fullPath}?${qs}`, {
    method: req.method,
    headers: req.body === undefined ? {} : { 'content-type': 'application/json' },
    body: req.body ?? null,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined; // non-JSON answers are checked through `text`
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** The shape the `pusher` SDK rejects with: a RequestError carrying the HTTP status and body. */
export interface SdkRequestError {
  name: string;
  status?: number;
  body?: string;
}

/** Awaits a promise that must reject with a `PusherRequestError` of `status`; returns the error. */
export async function sdkRefusal(promise: Promise<unknown>, status: number): Promise<SdkRequestError> {
  let err: SdkRequestError | undefined;
  try {
    await promise;
  } catch (e) {
    err = e as SdkRequestError;
  }
  if (!err) throw new Error(`expected the SDK call to fail with ${status}, but it succeeded`);
  if (err.name !== 'PusherRequestError' || err.status !== status) {
    throw new Error(
      `expected PusherRequestError ${status}, got ${err.name} ${String(err.status)}: ${String(err.body ?? (err as Error).message)}`,
    );
  }
  return err;
}

/** The JSON body of an SDK response (node-fetch Response). */
export async function sdkJson(res: { json(): Promise<unknown> }): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

/** Calls `probe` until it returns a value `ok` accepts (polling); returns that value or fails with the last one. */
export async function eventually<T>(
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  what: string,
  timeoutMs = 3_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The transports HTTP-level tests run against: always `ws`, and `uws` when its native binary
 * loads here. Only "could not be loaded" skips it; any other failure to start is a real failure.
 */
export async function availableTransports(): Promise<Array<'ws' | 'uws'>> {
  try {
    const probe = await startTestServer({ transport: 'uws' });
    await probe.close();
    return ['ws', 'uws'];
  } catch (err) {
    if (err instanceof Error && /could not be loaded/.test(err.message)) return ['ws'];
    throw err;
  }
}
