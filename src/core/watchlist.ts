/**
 * Watchlists of signed-in users: which local connections want online/offline events for a user.
 */
import type { Connection } from './connection.js';

export class Watchlists {
  private readonly watchers = new Map<string, Set<Connection>>(); // appId \0 watched user id

  add(conn: Connection, watched: string[]): void {
    for (const id of watched) {
      const k = conn.app.id + '\u0000' + id;
      let set = this.watchers.get(k);
      if (!set) this.watchers.set(k, (set = new Set()));
      set.add(conn);
    }
  }

  remove(conn: Connection): void {
    if (!conn.user) return;
    for (const id of conn.user.watchlist) {
      const k = conn.app.id + '\u0000' + id;
      const set = this.watchers.get(k);
      if (!set) continue;
      set.delete(conn);
      if (set.size === 0) this.watchers.delete(k);
    }
  }

  watchersOf(appId: string, userId: string): Iterable<Connection> {
    return this.watchers.get(appId + '\u0000' + userId) ?? [];
  }
}
