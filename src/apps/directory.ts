/** The apps this server serves, looked up by id (HTTP API) and by key (WebSocket path). */
import type { AppConfig } from '../config/schema.js';

export interface AppDirectory {
  byId(id: string): AppConfig | undefined;
  byKey(key: string): AppConfig | undefined;
  all(): readonly AppConfig[];
}

export class StaticAppDirectory implements AppDirectory {
  private readonly ids = new Map<string, AppConfig>();
  private readonly keys = new Map<string, AppConfig>();

  constructor(private readonly apps: readonly AppConfig[]) {
    for (const app of apps) {
      this.ids.set(app.id, app);
      this.keys.set(app.key, app);
    }
  }

  byId(id: string): AppConfig | undefined {
    return this.ids.get(id);
  }

  byKey(key: string): AppConfig | undefined {
    return this.keys.get(key);
  }

  all(): readonly AppConfig[] {
    return this.apps;
  }
}
