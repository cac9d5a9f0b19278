/**
 * One fragment (name × channel) with viewers on this node: its viewers, the latest HTML the node
 * has, and the render schedule. Versions are handed out when a render starts; HTML is taken only
 * when its version is above the one held, so a slow old render never replaces a newer one.
 */
import type { AppConfig, FragmentsConfig } from '../config/schema.js';
import type { Connection } from '../core/connection.js';
import * as frames from '../protocol/frames.js';
import { Coalescer, type CoalescerClock } from './coalescer.js';

export class LiveFragment {
  readonly viewers = new Set<Connection>();
  /** Aborted when the fragment goes (last viewer left, server stops): ends a render in flight. */
  readonly abort = new AbortController();
  readonly coalescer: Coalescer;
  html: string | null = null;
  /** Version of `html` (0: none yet). */
  version = 0;
  /** The last render failed (its failures are logged once per episode). */
  failing = false;
  #started = 0;

  constructor(
    readonly app: AppConfig & { fragments: FragmentsConfig },
    readonly name: string,
    readonly channel: string,
    readonly topic: string,
    render: (f: LiveFragment, version: number) => Promise<void>,
    onError: (err: unknown) => void,
    clock?: CoalescerClock,
  ) {
    this.coalescer = new Coalescer(() => render(this, ++this.#started), app.fragments.windowMs, onError, clock);
  }

  /** The frame of the HTML held, for a viewer that just arrived; null when there is none yet. */
  currentFrame(epoch: string): string | null {
    if (this.html === null) return null;
    return frames.fragmentHtml({
      fragment: this.name,
      channel: this.channel,
      epoch,
      version: this.version,
      html: this.html,
    });
  }

  /**
   * Takes `html` of `version` and sends it to every viewer still subscribed to the channel (the
   * others are dropped). Returns the frames sent; 0 when the version is not newer than the held one.
   */
  accept(version: number, html: string, epoch: string): number {
    if (version <= this.version) return 0;
    this.html = html;
    this.version = version;
    const frame = frames.fragmentHtml({ fragment: this.name, channel: this.channel, epoch, version, html });
    let sent = 0;
    for (const conn of this.viewers) {
      if (!this.watching(conn)) {
        this.viewers.delete(conn);
        continue;
      }
      conn.socket.send(frame);
      sent++;
    }
    return sent;
  }

  /** A viewer counts while its connection is open and still subscribed to the channel. */
  watching(conn: Connection): boolean {
    return !conn.closed && conn.subscription(this.channel) !== undefined;
  }

  /** Drops viewers that left the channel; true when some viewer remains. */
  prune(): boolean {
    for (const conn of this.viewers) if (!this.watching(conn)) this.viewers.delete(conn);
    return this.viewers.size > 0;
  }

  stop(): void {
    this.coalescer.stop();
    this.abort.abort();
  }
}
