/** Which channels of which app keep history (`apps[].history`), and their settings. */
import type { AppConfig, HistoryConfig } from '../config/schema.js';
import { historyMatcher } from '../config/history.js';
import { parseTopic } from '../core/topics.js';

export class HistoryChannels {
  private readonly configs = new Map<string, HistoryConfig>();
  private readonly matchers = new Map<string, RegExp>();

  constructor(apps: readonly AppConfig[]) {
    for (const app of apps) {
      if (!app.history) continue;
      this.configs.set(app.id, app.history);
      this.matchers.set(app.id, historyMatcher(app.history.channels));
    }
  }

  /** Whether `topic` keeps history (on every publish: one Map lookup for apps without history). */
  handles(appId: string, topic: string): boolean {
    const m = this.matchers.get(appId);
    return m !== undefined && m.test(parseTopic(topic).channel);
  }

  configOf(appId: string): HistoryConfig | undefined {
    return this.configs.get(appId);
  }

  all(): IterableIterator<HistoryConfig> {
    return this.configs.values();
  }
}
