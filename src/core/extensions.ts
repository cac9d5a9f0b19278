/**
 * Several handlers of wiremesh's own events (`wiremesh:*`) behind the one ExtensionHandler the core
 * takes: each event goes to the handler that declared it; `closed` goes to all of them.
 */
import type { AppConfig } from '../config/schema.js';
import { ErrorCodes, PusherError } from '../errors.js';
import type { Connection } from './connection.js';
import type { ExtensionHandler } from './session.js';

export interface ExtensionPart {
  /** The `wiremesh:*` events this part handles. */
  events: readonly string[];
  handler: ExtensionHandler & { wantsHandshake?(app: AppConfig): boolean };
}

export class ExtensionRouter implements ExtensionHandler {
  private readonly byEvent = new Map<string, ExtensionHandler>();

  /** @throws Error when two parts declare the same event. */
  constructor(private readonly parts: readonly ExtensionPart[]) {
    for (const part of parts) {
      for (const event of part.events) {
        if (this.byEvent.has(event)) throw new Error(`extension event ${event} is handled twice`);
        this.byEvent.set(event, part.handler);
      }
    }
  }

  handle(conn: Connection, event: string, data: unknown): void {
    const handler = this.byEvent.get(event);
    if (!handler) throw new PusherError(ErrorCodes.INVALID_MESSAGE, `Unknown event: ${event.slice(0, 64)}`);
    handler.handle(conn, event, data);
  }

  ownsRate(conn: Connection, event: string, now: number): boolean {
    return this.byEvent.get(event)?.ownsRate?.(conn, event, now) === true;
  }

  closed(conn: Connection): void {
    for (const part of this.parts) part.handler.closed(conn);
  }

  wantsHandshake(app: AppConfig): boolean {
    return this.parts.some((part) => part.handler.wantsHandshake?.(app) === true);
  }
}
