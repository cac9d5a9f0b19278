/**
 * `wiremesh doctor [--config FILE] [--server URL] [--url PUBLIC_URL] [--app-url URL]`: checks a
 * configuration and, end to end, what breaks in production. One line per check; each problem says
 * how to fix it. Exit code 1 when any check failed. Each network check names the URL it probed;
 * the API check tells wiremesh (and its version) from another Pusher server with the same
 * credentials; text a probed server chose is printed with its control characters escaped.
 *   --server   the running wiremesh to test (default http://127.0.0.1:<port>)
 *   --url      its public URL behind the proxy / TLS (https://ws.example.com): wss and the API through it
 *   --app-url  the Laravel app (for /broadcasting/auth; default: each app's livewire.publicUrl)
 */
import { loadConfig } from '../config/load.js';
import type { AppConfig, Config, LivewireConfig } from '../config/schema.js';
import { laravelCookies } from '../livewire/laravel-cookies.js';
import { signedApiPath } from '../protocol/signature.js';
import { loadNative } from '../transport/uws-load.js';
import { wsFlagsNote } from './ws-flags.js';
import { VERSION_HEADER } from '../version.js';
import { httpProbe, printable, pusherProbe, resolveAll, tcpProbe } from './doctor-probes.js';

export interface Finding {
  readonly ok: boolean;
  readonly check: string;
  readonly detail: string;
  readonly fix?: string;
}

const MAX_SKEW_S = 5;
/** How far behind the server's clock its Date header may be: whole seconds, refreshed once a second. */
const DATE_RESOLUTION_MS = 2_000;

export interface DoctorOptions {
  readonly file?: string | undefined;
  readonly server?: string | undefined;
  readonly url?: string | undefined;
  readonly appUrl?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
}

export async function doctor(opts: DoctorOptions): Promise<Finding[]> {
  let config: Config;
  const notes: string[] = [];
  try {
    config = await loadConfig({ file: opts.file, env: opts.env, notes });
  } catch (err) {
    return [
      {
        ok: false,
        check: 'config',
        detail: err instanceof Error ? err.message : String(err),
        fix: 'correct the setting named above (docs/configuration.md)',
      },
    ];
  }
  const found: Finding[] = [
    { ok: true, check: 'config', detail: `valid; ${config.apps.length} app(s), cluster ${config.cluster.driver}` },
    // The environment's app (a Laravel .env) combined with the file's: said, so nobody wonders which credentials apply.
    ...notes.map((detail) => ({ ok: true, check: 'apps', detail })),
  ];
  found.push(await transport(config));
  found.push(...(await cluster(config)));
  const server = (opts.server ?? `http://127.0.0.1:${config.port}`).replace(/\/$/, '');
  for (const app of config.apps) {
    found.push(...(await api(server, app, 'server')));
    found.push(...(await livewire(app)));
    const appUrl = opts.appUrl ?? app.livewire?.publicUrl;
    if (appUrl !== undefined) found.push(await broadcastingAuth(appUrl));
    if (opts.url !== undefined) {
      const pub = opts.url.replace(/\/$/, '');
      found.push(...(await api(pub, app, 'public URL')));
      found.push(await websocket(pub, app));
    }
  }
  return found;
}

async function transport(config: Config): Promise<Finding> {
  if (config.transport === 'ws')
    return { ok: true, check: 'transport', detail: `ws (configured: transport is "ws"); ${wsFlagsNote()}` };
  try {
    const native = await loadNative();
    return { ok: true, check: 'transport', detail: `uws, native (${native.package})` };
  } catch (err) {
    return {
      ok: false,
      check: 'transport',
      detail: `${config.transport === 'uws' ? 'uws required but unavailable' : `falls back to ws (${wsFlagsNote()})`}: ${err instanceof Error ? err.message : String(err)}`,
      fix: 'run Node 24 on glibc ≥ 2.38 (Debian 13, Ubuntu 24.04; the wiremesh image), install optional dependencies; or set transport "ws" to accept the portable transport',
    };
  }
}

async function cluster(config: Config): Promise<Finding[]> {
  const c = config.cluster;
  if (c.driver === 'redis') {
    const u = new URL(c.redis.url);
    const port = Number(u.port || 6379);
    const auth = u.password
      ? `AUTH ${u.username ? `${decodeURIComponent(u.username)} ` : ''}${decodeURIComponent(u.password)}\r\n`
      : '';
    const r = await tcpProbe(u.hostname.replace(/^\[|\]$/g, ''), port, {
      tls: u.protocol === 'rediss:',
      hello: `${auth}PING\r\n`,
    });
    if (!r.ok)
      return [
        {
          ok: false,
          check: 'redis',
          detail: `${u.host} unreachable: ${r.error}`,
          fix: 'start Redis or correct cluster.redis.url (WIREMESH_REDIS_URL / REDIS_URL)',
        },
      ];
    if (/NOAUTH|WRONGPASS|invalid password/i.test(r.first)) {
      return [
        {
          ok: false,
          check: 'redis',
          detail: `${u.host} refuses: ${printable(r.first.trim(), 120)}`,
          fix: 'put the user and password in the URL: redis://user:pass@host:port',
        },
      ];
    }
    return [
      {
        ok: /PONG|^\+OK/.test(r.first),
        check: 'redis',
        detail: `${u.host} answered "${printable(r.first.trim(), 40)}"`,
        fix: 'that is not a Redis server: correct cluster.redis.url',
      },
    ];
  }
  if (c.driver === 'nats') {
    return Promise.all(
      c.nats.servers.map(async (server): Promise<Finding> => {
        const u = new URL(server.includes('://') ? server : `nats://${server}`);
        // A NATS server speaks first: INFO {…}.
        const first = await tcpProbe(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 4222), { hello: '' });
        if (!first.ok)
          return {
            ok: false,
            check: 'nats',
            detail: `${u.host} unreachable: ${first.error}`,
            fix: 'start nats-server or correct cluster.nats.servers',
          };
        return {
          ok: first.first.startsWith('INFO'),
          check: 'nats',
          detail: `${u.host} ${first.first.startsWith('INFO') ? 'answered INFO' : 'is not a NATS server'}`,
          fix: 'correct cluster.nats.servers',
        };
      }),
    );
  }
  if (c.driver === 'mesh') {
    const targets: { host: string; port: number }[] = c.mesh.peers.map((p) => {
      const m = /^(?:\[(.+)\]|([^:]+)):(\d+)$/.exec(p);
      return { host: m?.[1] ?? m?.[2] ?? p, port: Number(m?.[3]) };
    });
    const out: Finding[] = [];
    if (c.mesh.dns !== undefined) {
      const r = await resolveAll(c.mesh.dns);
      if (!r.ok)
        out.push({
          ok: false,
          check: 'mesh',
          detail: `${c.mesh.dns} does not resolve: ${r.error}`,
          fix: 'on Fly.io the name is <app>.internal (6PN); in Kubernetes the headless Service',
        });
      else targets.push(...r.addresses.map((host) => ({ host, port: c.mesh.port })));
    }
    for (const t of targets) {
      const r = await tcpProbe(t.host, t.port);
      out.push(
        r.ok
          ? { ok: true, check: 'mesh', detail: `peer ${t.host}:${t.port} reachable` }
          : {
              ok: false,
              check: 'mesh',
              detail: `peer ${t.host}:${t.port} unreachable: ${r.error}`,
              fix: `open port ${t.port} between the nodes (cluster.mesh.host "::" for IPv6 peers)`,
            },
      );
    }
    return out;
  }
  return [{ ok: true, check: 'cluster', detail: 'memory (a single node)' }];
}

async function api(base: string, app: AppConfig, where: string): Promise<Finding[]> {
  const check = `api (${where})`;
  const path = `/apps/${app.id}/channels`;
  const shown = `${base}${path}`; // the URL without its signature
  const r = await httpProbe(base + signedApiPath(app, 'GET', path));
  if (!r.ok)
    return [
      {
        ok: false,
        check,
        detail: `${shown} unreachable: ${r.error}`,
        fix:
          where === 'server'
            ? 'start wiremesh, or pass --server URL'
            : 'route /apps/ through the proxy to wiremesh (docs/deploy.md)',
      },
    ];
  const out: Finding[] = [];
  const version = r.res.headers.get(VERSION_HEADER);
  if (r.res.status === 200 && version !== null)
    out.push({ ok: true, check, detail: `signed GET ${shown} → 200, wiremesh ${printable(version, 40)}` });
  else if (r.res.status === 200) {
    const server = r.res.headers.get('server');
    out.push({
      ok: false,
      check,
      detail: `signed GET ${shown} → 200, but not from wiremesh (no ${VERSION_HEADER} header${server === null ? '' : `; Server: ${printable(server, 80)}`})`,
      fix: `another Pusher-protocol server (Soketi, Reverb, …) with the same credentials answers there: stop it, or point ${where === 'server' ? '--server (or port)' : '--url'} at wiremesh`,
    });
  } else {
    const fix =
      r.res.status === 401
        ? `the server has another key/secret for app ${app.id}: use the same PUSHER_APP_* / REVERB_APP_* on both sides`
        : r.res.status === 404
          ? `app ${app.id} is not configured on that server, or the proxy does not route /apps/ to wiremesh`
          : 'see the body above';
    out.push({
      ok: false,
      check,
      detail: `signed GET ${shown} → ${r.res.status} ${printable(r.res.body, 120)}`.trim(),
      fix,
    });
  }
  const date = r.res.headers.get('date');
  const skew = date === null ? null : clockSkew(date, r.res.sentAt, r.res.receivedAt);
  if (skew !== null) {
    const rtt = r.res.receivedAt - r.res.sentAt;
    const off = skew.low > 0 ? skew.low : skew.high < 0 ? -skew.high : 0;
    const s = (x: number): string => `${x > 0 ? '+' : ''}${x.toFixed(1)}`;
    const detail =
      off === 0
        ? `skew 0 s (within the Date header's resolution, 2 s, and the ${rtt} ms round trip)`
        : `skew ${s(skew.low)} to ${s(skew.high)} s (the server's clock ${skew.low > 0 ? 'ahead of' : 'behind'} this one; the Date header's resolution is 2 s, the round trip ${rtt} ms)`;
    out.push(
      off <= MAX_SKEW_S
        ? { ok: true, check: `clock (${where})`, detail }
        : {
            ok: false,
            check: `clock (${where})`,
            detail: `${detail} against ${base}`,
            fix: 'run NTP (chrony / systemd-timesyncd) on both hosts: signed API calls fail beyond 600 s',
          },
    );
  }
  return out;
}

/**
 * The server's clock minus this one, in seconds, as the interval the measurement allows: the
 * server stamped `Date` at some moment between sending the request (`sentAt`) and receiving the
 * answer (`receivedAt`), both on this machine's clock; the header has whole seconds (rounded
 * down), and servers keep it in a string refreshed once a second (uWebSockets.js, Node's http,
 * nginx), so the server's time then was `Date` to `Date` + 2 s. Null when the header is not a date.
 */
function clockSkew(date: string, sentAt: number, receivedAt: number): { low: number; high: number } | null {
  const at = Date.parse(date);
  if (Number.isNaN(at)) return null;
  return { low: (at - receivedAt) / 1000, high: (at + DATE_RESOLUTION_MS - sentAt) / 1000 };
}

async function livewire(app: AppConfig): Promise<Finding[]> {
  const lw = app.livewire;
  if (!lw) return [];
  const backends = Promise.all(
    lw.backends.map(async (backend): Promise<Finding> => {
      const r = await httpProbe(backend.replace(/\/$/, '') + lw.healthPath);
      if (!r.ok)
        return {
          ok: false,
          check: 'livewire',
          detail: `backend ${backend} unreachable: ${r.error}`,
          fix: 'start the Laravel app or correct livewire.backends',
        };
      return r.res.status < 500
        ? { ok: true, check: 'livewire', detail: `backend ${backend}${lw.healthPath} → ${r.res.status}` }
        : {
            ok: false,
            check: 'livewire',
            detail: `backend ${backend}${lw.healthPath} → ${r.res.status}`,
            fix: 'the backend is unhealthy; Laravel 11 serves /up (livewire.healthPath)',
          };
    }),
  );
  return [...(await backends), await laravelKey(lw)];
}

/**
 * Whether the tunnel can tell a re-encrypted Laravel cookie from a changed one: `laravelKey` is
 * set, and reads the cookies the first backend sets on `GET /` (when it sets any).
 */
async function laravelKey(lw: LivewireConfig): Promise<Finding> {
  const check = 'livewire session';
  const reader = laravelCookies(lw);
  if (reader === undefined) {
    return {
      ok: true,
      check,
      detail:
        'no livewire.laravelKey: Laravel re-encrypts its session and XSRF-TOKEN cookies on every response, so each ' +
        "tunnelled update costs the page one POST /wiremesh/session; set livewire.laravelKey to the app's APP_KEY " +
        '(or WIREMESH_LARAVEL_KEY; APP_KEY is read from the environment) for none while the session is unchanged ' +
        '(docs/security.md: what the key exposes)',
    };
  }
  // The first backend that answers.
  let url: string | undefined;
  let cookies: string[] = [];
  for (const backend of lw.backends) {
    url = `${backend.replace(/\/$/, '')}/`;
    const r = await httpProbe(url, { headers: { accept: 'text/html' } });
    if (!r.ok) continue;
    cookies = r.res.headers.getSetCookie();
    break;
  }
  if (url === undefined) return { ok: true, check, detail: 'livewire.laravelKey set (no backend URL to check it on)' };
  const pairs = cookies
    .map((c) => c.split(';')[0] ?? '')
    .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]);
  if (pairs.length === 0) {
    return { ok: true, check, detail: `livewire.laravelKey set (not checked: GET ${url} set no cookie)` };
  }
  const read = pairs.filter(([name = '', value = '']) => reader.read(name, value) !== undefined).map(([name]) => name);
  if (read.length > 0)
    return { ok: true, check, detail: `livewire.laravelKey reads the cookies of GET ${url} (${read.join(', ')})` };
  return {
    ok: false,
    check,
    detail: `livewire.laravelKey reads none of the cookies of GET ${url} (${pairs.map(([name]) => printable(name ?? '', 40)).join(', ')})`,
    fix: "set it to the app's APP_KEY (and the keys of APP_PREVIOUS_KEYS in laravelPreviousKeys); with another key every tunnelled update costs one session sync",
  };
}

async function broadcastingAuth(appUrl: string): Promise<Finding> {
  const url = `${appUrl.replace(/\/$/, '')}/broadcasting/auth`;
  const r = await httpProbe(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: 'socket_id=1.1&channel_name=private-wiremesh-doctor',
  });
  if (!r.ok)
    return {
      ok: false,
      check: 'broadcasting/auth',
      detail: `${url} unreachable: ${r.error}`,
      fix: 'pass --app-url with the Laravel app URL',
    };
  if (r.res.status === 404) {
    return {
      ok: false,
      check: 'broadcasting/auth',
      detail: `${url} → 404`,
      fix: 'register the route: php artisan install:broadcasting (Laravel 11+) or Broadcast::routes()',
    };
  }
  // Without a session Laravel answers 403 (or 419 without CSRF, 401): the route is there.
  return r.res.status < 500
    ? { ok: true, check: 'broadcasting/auth', detail: `${url} → ${r.res.status} (route present)` }
    : {
        ok: false,
        check: 'broadcasting/auth',
        detail: `${url} → ${r.res.status}`,
        fix: 'check the Laravel log: the broadcasting auth route fails',
      };
}

async function websocket(pub: string, app: AppConfig): Promise<Finding> {
  const ws = `${pub.replace(/^http/, 'ws')}/app/${encodeURIComponent(app.key)}?protocol=7&client=wiremesh-doctor&version=1`;
  const r = await pusherProbe(ws);
  return r.ok
    ? { ok: true, check: 'websocket (public URL)', detail: `${ws.split('?')[0]} → connection established` }
    : {
        ok: false,
        check: 'websocket (public URL)',
        detail: `${ws.split('?')[0]}: ${r.error}`,
        fix: 'the proxy must forward /app/ with Upgrade and Connection headers and a long read timeout (docs/deploy.md)',
      };
}

/** Prints one line per finding; returns the exit code. */
export function report(found: readonly Finding[], write: (line: string) => void): number {
  for (const f of found)
    write(`${f.ok ? 'ok     ' : 'PROBLEM'} ${f.check}: ${f.detail}${f.ok || !f.fix ? '' : ` — fix: ${f.fix}`}`);
  const problems = found.filter((f) => !f.ok).length;
  write(problems === 0 ? 'no problems found' : `${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}
