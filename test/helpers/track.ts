/**
 * `track(t, resource)`: close what a test opened when that test ends, passed or failed, on
 * node:test's `t.after`. Resources close in the reverse order they were tracked (clients before
 * the server they talk to, as a stack of defers); every one is closed even if another's close
 * throws, and the first error fails the test. `t` is a test's context, the context a top-level
 * `before` hook receives (the resource lives until the file's tests are done), or a `suiteScope()`
 * for what a describe's `before` opens (node:test gives those hooks no `after` of their own).
 */
import { after } from 'node:test';

/** Anything a test opens: a server or backend (`close`, maybe async), a pusher-js client (`disconnect`). */
export type Closable = { close(): unknown } | { disconnect(): unknown };

/** What a resource is tracked in: node:test's TestContext, or a suiteScope(). */
export interface Scope {
  after(fn: () => Promise<void>): void;
}

const stacks = new WeakMap<Scope, Closable[]>();

export function track<T extends Closable>(t: Scope, resource: T): T {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const opened: Closable[] = [];
    stack = opened;
    stacks.set(t, opened);
    t.after(() => closeAll(opened));
  }
  stack.push(resource);
  return resource;
}

async function closeAll(opened: Closable[]): Promise<void> {
  const errors: unknown[] = [];
  for (const resource of opened.splice(0).reverse()) {
    try {
      await ('close' in resource ? resource.close() : resource.disconnect());
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
}

/** A scope for the describe whose body calls it: what is tracked in it closes when that describe ends. */
export function suiteScope(): Scope {
  const hooks: Array<() => Promise<void>> = [];
  after(async () => {
    for (const hook of hooks) await hook();
  });
  return { after: (fn) => void hooks.push(fn) };
}
