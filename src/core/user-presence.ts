/**
 * A user's presence across every presence channel of an app, cluster-wide: online when they
 * become a member of their first presence channel anywhere, offline when they leave their last.
 * Fed with the member_added / member_removed transitions the replicated presence view derives
 * (the same on every node), so every node counts alike; the webhook is sent by the node owning
 * the user's topic (`<app>:#user:<id>`), i.e. once per cluster, as channel_occupied is.
 * Holds one number per present user (presence members are bounded per channel).
 */
export class UserPresence {
  private readonly channels = new Map<string, Map<string, number>>();

  /** Returns true if this is the user's first presence channel in the app. */
  added(appId: string, userId: string): boolean {
    let users = this.channels.get(appId);
    if (!users) this.channels.set(appId, (users = new Map()));
    const n = (users.get(userId) ?? 0) + 1;
    users.set(userId, n);
    return n === 1;
  }

  /** Returns true if the user has just left their last presence channel in the app. */
  removed(appId: string, userId: string): boolean {
    const users = this.channels.get(appId);
    const n = users?.get(userId);
    if (users === undefined || n === undefined) return false;
    if (n > 1) {
      users.set(userId, n - 1);
      return false;
    }
    users.delete(userId);
    if (users.size === 0) this.channels.delete(appId);
    return true;
  }
}
