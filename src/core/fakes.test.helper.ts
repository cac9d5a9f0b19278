/** In-process fakes of the core's ports for unit tests: sockets over a fake fan-out, a config, a logger that records. */
import type { Config } from '../config/schema.js';
import { validateConfig } from '../config/validate.js';
import { createLogger, type Logger } from '../log/logger.js';
import type { SendResult, TextFrame, WsSocket } from '../transport/types.js';
import type { TopicFanout } from './delivery.js';

/** The transport's fan-out: sockets subscribe to topics on it. */
export class FakeFanout implements TopicFanout {
  private readonly topics = new Map<string, Set<FakeSocket>>();
  private next = 0;

  socket(): FakeSocket {
    return new FakeSocket(this, `10.0.0.${++this.next}`);
  }
  publish(topic: string, frame: TextFrame, except?: WsSocket): number {
    let n = 0;
    for (const s of this.topics.get(topic) ?? []) {
      if (s === except) continue;
      s.send(frame);
      n++;
    }
    return n;
  }
  topicSize(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }
  attach(topic: string, s: FakeSocket): void {
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    set.add(s);
  }
  detach(topic: string, s: FakeSocket): void {
    this.topics.get(topic)?.delete(s);
  }
}

export class FakeSocket implements WsSocket {
  readonly sent: string[] = [];
  closedWith: number | null = null;

  constructor(
    private readonly fanout: FakeFanout,
    readonly remoteAddress: string,
  ) {}

  send(frame: TextFrame): SendResult {
    this.sent.push(typeof frame === 'string' ? frame : Buffer.concat([frame].flat()).toString());
    return 'sent';
  }
  close(code: number): void {
    this.closedWith = code;
  }
  bufferedAmount(): number {
    return 0;
  }
  subscribe(topic: string): void {
    this.fanout.attach(topic, this);
  }
  unsubscribe(topic: string): void {
    this.fanout.detach(topic, this);
  }
  /** The events sent (parsed), without their data. */
  events(): string[] {
    return this.sent.map((f) => (JSON.parse(f) as { event: string }).event);
  }
}

/** A validated config with one app (`app-id`, key `app-key`), and `app` fields as given. */
export function testConfig(app: Record<string, unknown> = {}): Config {
  return validateConfig({ apps: [{ id: 'app-id', key: 'app-key', secret: 'app-secret', ...app }] });
}

/** A logger whose lines are kept, parsed. */
export function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return {
    logger: createLogger({ level: 'debug', sink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
    lines,
  };
}
