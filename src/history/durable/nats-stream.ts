/**
 * One app's JetStream stream of channel history (nats-store.ts): its name and subjects, its
 * limits from the app's history settings, and its epoch, kept in the stream's description.
 *
 * - Name `<prefix>_hist_<app id>` (characters a stream name may not hold become `_`, with a short
 *   hash of the app id when that changed it, so two app ids never share a stream).
 * - Subjects `<prefix>.h.<app id, base64url>.<topic, base64url>`: one subject per channel.
 * - Limits: `max_msgs_per_subject` = maxEvents, `max_age` = maxAgeMs, discard old, direct get on.
 * - Epoch: a random id written in the description (`wiremesh history epoch <id>`) when the stream
 *   is created. A stream lost and created again has a new one, so positions of the old one are
 *   told `reset`, never mistaken for positions of the new.
 */
import { createHash } from 'node:crypto';
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import type { HistoryConfig } from '../../config/schema.js';
import { newEpoch } from '../position.js';

const EPOCH_PREFIX = 'wiremesh history epoch ';
const EPOCH = /^wiremesh history epoch ([A-Za-z0-9_-]{1,16})$/;

export interface StreamPlacement {
  storage: 'file' | 'memory';
  replicas: number;
}

export class AppStream {
  readonly name: string;
  /** `<prefix>.h.<app, base64url>.`: a topic's subject is this and the topic, base64url. */
  private readonly subjectPrefix: string;

  constructor(
    prefix: string,
    readonly appId: string,
  ) {
    const safe = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_');
    const app =
      safe(appId) === appId ? appId : `${safe(appId)}_${createHash('sha256').update(appId).digest('hex').slice(0, 8)}`;
    this.name = `${safe(prefix)}_hist_${app}`;
    this.subjectPrefix = `${prefix}.h.${Buffer.from(appId).toString('base64url')}.`;
  }

  subject(topic: string): string {
    return this.subjectPrefix + Buffer.from(topic).toString('base64url');
  }

  topicOf(subject: string): string | null {
    if (!subject.startsWith(this.subjectPrefix)) return null;
    return Buffer.from(subject.slice(this.subjectPrefix.length), 'base64url').toString();
  }

  /**
   * The stream's epoch, creating the stream (with a new epoch) when it does not exist and
   * updating its limits when the settings changed. Concurrent creation by several nodes: the
   * first wins and the others read its epoch.
   */
  async ensure(
    jsm: JetStreamManager,
    history: HistoryConfig,
    placement: StreamPlacement,
  ): Promise<{ epoch: string; lastSeq: number }> {
    const wanted = this.config(history, placement);
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(this.name);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      try {
        info = await jsm.streams.add({ ...wanted, description: EPOCH_PREFIX + newEpoch() });
      } catch (addErr) {
        // Another node created it meanwhile (same name, its own epoch): take that one.
        if (!(addErr instanceof JetStreamApiError)) throw addErr;
        info = await jsm.streams.info(this.name);
      }
    }
    const epoch = epochOf(info);
    if (epoch === null)
      throw new Error(
        `the JetStream stream ${this.name} was not made by wiremesh (its description holds no history epoch): ` +
          'delete it, or change cluster.nats.prefix',
      );
    const c = info.config;
    if (
      c.max_msgs_per_subject !== wanted.max_msgs_per_subject ||
      c.max_age !== wanted.max_age ||
      c.allow_direct !== true ||
      c.discard !== DiscardPolicy.Old
    ) {
      // storage and replicas are left as they are: changing them needs the stream made again.
      await jsm.streams.update(this.name, {
        max_msgs_per_subject: history.maxEvents,
        max_age: history.maxAgeMs * 1_000_000,
        allow_direct: true,
        discard: DiscardPolicy.Old,
        subjects: [`${this.subjectPrefix}>`],
      });
    }
    return { epoch, lastSeq: info.state.last_seq };
  }

  private config(history: HistoryConfig, placement: StreamPlacement): Partial<StreamConfig> & { name: string } {
    return {
      name: this.name,
      subjects: [`${this.subjectPrefix}>`],
      retention: RetentionPolicy.Limits,
      storage: placement.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: placement.replicas,
      max_msgs_per_subject: history.maxEvents,
      max_age: history.maxAgeMs * 1_000_000, // nanoseconds
      discard: DiscardPolicy.Old,
      allow_direct: true,
    };
  }
}

/** The epoch in a stream's description; null for a stream wiremesh did not make. */
export function epochOf(info: StreamInfo): string | null {
  const m = EPOCH.exec(info.config.description ?? '');
  return m ? (m[1] as string) : null;
}
