/**
 * The local registry: which connections this node holds, per app and per signed-in user.
 * Channel membership for delivery lives in the transport's topics; cluster-wide counts live in the
 * presence service.
 */
import type { Connection } from './connection.js';

export class LocalRegistry {
  private readonly bySocketId = new Map<string, Connection>();
  private readonly perApp = new Map<string, number>();
  private readonly users = new Map<string, Set<Connection>>(); // key: appId \0 userId

  add(conn: Connection): void {
    this.bySocketId.set(conn.socketId, conn);
    this.perApp.set(conn.app.id, (this.perApp.get(conn.app.id) ?? 0) + 1);
  }

  remove(conn: Connection): void {
    if (!this.bySocketId.delete(conn.socketId)) return;
    const n = (this.perApp.get(conn.app.id) ?? 1) - 1;
    if (n === 0) this.perApp.delete(conn.app.id);
    else this.perApp.set(conn.app.id, n);
    if (conn.user) this.removeUser(conn);
  }

  get(socketId: string): Connection | undefined {
    return this.bySocketId.get(socketId);
  }

  connections(): IterableIterator<Connection> {
    return this.bySocketId.values();
  }

  size(): number {
    return this.bySocketId.size;
  }

  appConnections(appId: string): number {
    return this.perApp.get(appId) ?? 0;
  }

  /** Connections per app (announced to the other nodes with each heartbeat). */
  connectionsByApp(): Record<string, number> {
    return Object.fromEntries(this.perApp);
  }

  appIds(): IterableIterator<string> {
    return this.perApp.keys();
  }

  addUser(conn: Connection, userId: string): void {
    const k = conn.app.id + '\u0000' + userId;
    let set = this.users.get(k);
    if (!set) this.users.set(k, (set = new Set()));
    set.add(conn);
  }

  private removeUser(conn: Connection): void {
    const k = conn.app.id + '\u0000' + conn.user!.id;
    const set = this.users.get(k);
    if (!set) return;
    set.delete(conn);
    if (set.size === 0) this.users.delete(k);
  }

  userConnections(appId: string, userId: string): Connection[] {
    return [...(this.users.get(appId + '\u0000' + userId) ?? [])];
  }
}
