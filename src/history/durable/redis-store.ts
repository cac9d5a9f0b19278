/**
 * Channel streams in Redis (`apps[].history.store: broker` on the redis driver): one Redis Stream
 * per channel, appended to and replayed by any node, with its epoch in a key beside it. Loaded
 * only when configured (node-redis is an optional dependency).
 *
 * Keys, under the cluster's prefix, with the topic as a hash tag so both live in one slot of a
 * Redis Cluster: `<prefix>:h:{<topic, base64url>}:s` (the stream: one entry per event, `t` its
 * time in ms and `f` the frame without its position) and `…:e` (`<epoch> <last serial>`).
 *
 * - Append: one Lua script XADDs the event as id `<serial>-0` (the next serial of the channel),
 *   trims the stream (MAXLEN `maxEvents`; MINID past the events older than `maxAgeMs`) and
 *   PUBLISHes the positioned frame on the topic's data subject. One script: the broker's order is
 *   the stream's order, for every node, the publishing one included (it receives its own copy).
 * - Position: `<epoch>:<serial>`, the stream id's first half: the form that resume clients
 *   already parse and compare (client/src/resume.ts), and serials that follow each other, so a
 *   position before the oldest kept event is known to have missed some (`too_old`).
 * - Epoch: new whenever the stream is created (the first event, or after the stream was lost: a
 *   Redis restart without persistence, a flush, the keys expiring after ten idle age periods), so
 *   a client holding an older position is told the gap is unknown, never served a silent hole.
 * - Replay: one Lua script trims by age, reads the oldest kept id and the events after the
 *   client's position (XRANGE, at most `maxEvents`), and PUBLISHes the resume's mark behind them.
 *   A new subscription to a channel with no event yet takes the epoch the stream will have (the
 *   epoch key alone, `<epoch> 0`, expiring; never a stream), so it holds a real position (`E:0`)
 *   and a client cut before the first event still gets every event when it comes back.
 */
import { createClient, type RedisClientType } from 'redis';
import { encodeData, encodeMark, Subjects } from '../../cluster/envelope.js';
import { reconnectDelay, redactUrl } from '../../cluster/backends/redis.js';
import type { HistoryConfig } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import * as frames from '../../protocol/frames.js';
import { formatPosition, newEpoch, type Position } from '../position.js';
import type { Answer } from '../resume.js';
import { STORE_ORIGIN, type ChannelStore } from './types.js';

/** Idle streams (and their epochs) expire after this many age periods without an append. */
const KEEP_PERIODS = 10;
const CLOSE_TIMEOUT_MS = 2_000;

/** Drops events older than `cutoff` (ms) from the head of stream `key`; each entry is `t <ms> f <frame>`. */
const TRIM_AGE = `
local function trim_age(key, cutoff)
  local head = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
  if not head[1] or tonumber(head[1][2][2]) >= cutoff then return end
  local batch = redis.call('XRANGE', key, '-', '+', 'COUNT', 128)
  for i = 1, #batch do
    if tonumber(batch[i][2][2]) >= cutoff then
      redis.call('XTRIM', key, 'MINID', batch[i][1])
      return
    end
  end
  local n = tonumber(string.match(batch[#batch][1], '^(%d+)'))
  redis.call('XTRIM', key, 'MINID', string.format('%d-0', n + 1))
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

const APPEND = `${TRIM_AGE}
local meta = redis.call('GET', KEYS[2])
local epoch, last
if meta then
  epoch, last = string.match(meta, '^(%S+) (%d+)$')
  last = tonumber(last)
end
if meta and (last == 0 or redis.call('EXISTS', KEYS[1]) == 1) then
  -- the stream's epoch, or one a new subscription took before the first event (last 0)
else
  redis.call('DEL', KEYS[1])
  epoch, last = ARGV[7], 0
end
local serial = string.format('%d', last + 1)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], serial .. '-0', 't', string.format('%d', now), 'f', ARGV[1])
trim_age(KEYS[1], now - tonumber(ARGV[5]))
redis.call('SET', KEYS[2], epoch .. ' ' .. serial, 'PX', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
local pos = epoch .. ':' .. serial
redis.call(ARGV[8], ARGV[3], ARGV[2] .. string.sub(ARGV[1], 1, -2) .. ',"wm_pos":"' .. pos .. '"}')
return pos
`;

const REPLAY = `${TRIM_AGE}
local meta = redis.call('GET', KEYS[2])
local out = {0}
if not meta and ARGV[1] == '' then
  -- a new subscription before the first event: it takes the epoch the stream will have (no stream made)
  redis.call('SET', KEYS[2], ARGV[7] .. ' 0', 'PX', ARGV[8])
  out = {2, ARGV[7] .. ' 0'}
elseif meta and string.match(meta, ' 0$') then
  out = {2, meta}
elseif meta and redis.call('EXISTS', KEYS[1]) == 1 then
  trim_age(KEYS[1], now - tonumber(ARGV[6]))
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  local entries = {}
  if ARGV[1] ~= '' then entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]) end
  out = {1, meta, first[1] and first[1][1] or '', entries}
end
redis.call(ARGV[5], ARGV[3], ARGV[4])
return out
`;

type Client = RedisClientType;
type StreamEntry = [string, string[]];
type ReplayReply = [0] | [1, string, string, StreamEntry[]] | [2, string];

/** The serial of a stream id `<serial>-0` (APPEND picks them); null for anything else. */
function serialOfId(id: string): number | null {
  const m = /^(\d{1,15})-0$/.exec(id);
  return m ? Number(m[1]) : null;
}

export class RedisChannelStore implements ChannelStore {
  readonly reconnectLoses = true;
  private readonly subjects: Subjects;
  private readonly sha: Record<'append' | 'replay', string | null> = { append: null, replay: null };
  private readonly publishCommand: 'PUBLISH' | 'SPUBLISH';

  private constructor(
    private readonly client: Client,
    private readonly options: RedisStoreOptions,
  ) {
    this.subjects = new Subjects(options.prefix);
    this.publishCommand = options.sharded ? 'SPUBLISH' : 'PUBLISH';
  }

  /** Connects (retrying until Redis answers) and checks that it keeps streams the way this needs (Redis 6.2+). */
  static async connect(options: RedisStoreOptions, logger: Logger): Promise<RedisChannelStore> {
    const log = logger.child({ store: 'redis', redis: redactUrl(options.url) });
    const client: Client = createClient({
      url: options.url,
      // A command while Redis is away fails at once: the publish is refused, never held.
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries: number) => reconnectDelay(retries) },
    });
    let down = false;
    client.on('error', (err: unknown) => {
      if (!down)
        log.warn('redis history store connection lost; publishes on history channels are refused until it is back', {
          err,
        });
      down = true;
    });
    client.on('ready', () => {
      if (down) log.info('redis history store connection restored');
      down = false;
    });
    await client.connect();
    const version = /redis_version:(\d+)\.(\d+)/.exec(String(await client.info('server')));
    if (version && Number(version[1]) * 100 + Number(version[2]) < 602) {
      client.destroy();
      throw new Error(
        `apps[].history.store broker needs Redis 6.2 or later (XTRIM MINID); ${redactUrl(options.url)} runs ` +
          `${version[1]}.${version[2]}. Set history.store to memory, or upgrade Redis.`,
      );
    }
    return new RedisChannelStore(client, options);
  }

  async append(appId: string, topic: string, frame: string, exceptSocketId?: string): Promise<void> {
    const config = this.configOf(appId);
    const [stream, meta] = this.keys(topic);
    await this.run(
      'append',
      APPEND,
      [stream, meta],
      [
        frame,
        encodeData(STORE_ORIGIN, exceptSocketId, '').toString(),
        this.subjects.data(topic),
        String(config.maxEvents),
        String(config.maxAgeMs),
        String(config.maxAgeMs * KEEP_PERIODS),
        newEpoch(),
        this.publishCommand,
      ],
    );
  }

  async replay(appId: string, topic: string, from: Position | null, id: string): Promise<Answer> {
    const config = this.configOf(appId);
    const [stream, meta] = this.keys(topic);
    const reply = (await this.run(
      'replay',
      REPLAY,
      [stream, meta],
      [
        from === null ? '' : `${from.serial}-0`,
        String(config.maxEvents),
        this.subjects.data(topic),
        encodeMark(STORE_ORIGIN, id).toString(),
        this.publishCommand,
        String(config.maxAgeMs),
        newEpoch(),
        String(config.maxAgeMs * KEEP_PERIODS),
      ],
    )) as ReplayReply;
    const answer = (status: 'ok' | 'gap', head: string, list: string[] = [], reason?: 'too_old' | 'reset'): Answer => ({
      kind: 'replay',
      id,
      status,
      head,
      frames: list,
      ...(reason ? { reason } : {}),
    });
    // No stream: nothing was ever published (or it was lost); a new subscription starts with none.
    if (reply[0] === 0) return answer('gap', '', [], 'reset');
    if (reply[0] === 2) {
      // No event yet, under an epoch taken for the stream to come: nothing missed from its start.
      const head = formatPosition({ epoch: reply[1].split(' ')[0] ?? '', serial: 0 });
      if (from === null || formatPosition(from) === head) return answer('ok', head);
      return answer('gap', head, [], 'reset');
    }
    const [, metaValue, firstId, entries] = reply;
    const [epoch = '', lastSerial = '0'] = metaValue.split(' ');
    const last = Number(lastSerial);
    const head = formatPosition({ epoch, serial: last });
    if (from === null) return answer('ok', head);
    if (from.epoch !== epoch || from.serial > last) return answer('gap', head, [], 'reset');
    // Serials follow each other: a client that saw the one before the oldest kept misses nothing.
    const oldest = serialOfId(firstId) ?? last + 1;
    if (from.serial + 1 < oldest) return answer('gap', head, [], 'too_old');
    const list: string[] = [];
    for (const [entryId, fields] of entries) {
      const serial = serialOfId(entryId);
      const frame = fields[3];
      if (serial === null || frame === undefined) continue;
      list.push(frames.withPosition(frame, formatPosition({ epoch, serial })));
    }
    return answer('ok', head, list);
  }

  async close(): Promise<void> {
    if (!this.client.isOpen) return;
    if (!this.client.isReady) return this.client.destroy();
    const timer = setTimeout(() => this.client.destroy(), CLOSE_TIMEOUT_MS);
    try {
      await this.client.close();
    } finally {
      clearTimeout(timer);
    }
  }

  /** The stream's key and its epoch's, in one hash slot. */
  keys(topic: string): [string, string] {
    const tag = `${this.options.prefix}:h:{${Buffer.from(topic).toString('base64url')}}`;
    return [`${tag}:s`, `${tag}:e`];
  }

  private configOf(appId: string): HistoryConfig {
    const config = this.options.configOf(appId);
    if (!config) throw new Error(`app ${appId} keeps no history`);
    return config;
  }

  /** EVALSHA, loading the script on the first call and again after a Redis restart (NOSCRIPT). */
  private async run(name: 'append' | 'replay', script: string, keys: string[], args: string[]): Promise<unknown> {
    const sha = this.sha[name];
    if (sha !== null) {
      try {
        return await this.client.sendCommand(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
      } catch (err) {
        if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
      }
    }
    this.sha[name] = String(await this.client.sendCommand(['SCRIPT', 'LOAD', script]));
    return this.client.sendCommand(['EVALSHA', this.sha[name], String(keys.length), ...keys, ...args]);
  }
}

export interface RedisStoreOptions {
  url: string;
  /** The cluster's prefix (`cluster.redis.prefix`): keys and data subjects live under it. */
  prefix: string;
  /** SPUBLISH instead of PUBLISH, as the cluster backend does (`cluster.redis.sharded`). */
  sharded: boolean;
  configOf(appId: string): HistoryConfig | undefined;
}
