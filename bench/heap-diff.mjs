#!/usr/bin/env node
/**
 * Compares two V8 heap snapshots of one process (`v8.writeHeapSnapshot`, as bench/soak.mjs takes
 * them): what grew between them, grouped the way DevTools' "Comparison" view groups it (by node
 * type and constructor or function name), with counts and self sizes, plus the objects that are
 * new in the second snapshot (ids the first did not have: V8 keeps an object's id for its life).
 * Under a steady load a leak shows as a group whose count keeps growing; churn shows as many new
 * objects with a count delta near zero.
 *
 *   node bench/heap-diff.mjs before.heapsnapshot after.heapsnapshot [--top=25]
 *
 * Written here rather than taken from npm: the snapshot format is a documented flat array (its
 * `meta` names the fields), the maintained readers are DevTools itself and packages that pull a
 * browser's front end, and grouping by name is the whole job.
 */
import { readFileSync } from 'node:fs';

/** name → { count, size } and the set of node ids, from one snapshot file. */
export function summarize(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const width = fields.length;
  const types = meta.node_types[0];
  const [iType, iName, iId, iSize] = ['type', 'name', 'id', 'self_size'].map((f) => fields.indexOf(f));
  const nodes = snap.nodes;
  const strings = snap.strings;
  const groups = new Map();
  const ids = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType]];
    const size = nodes[i + iSize];
    // Strings, numbers and code are grouped by type; objects, closures and arrays by name too.
    const name =
      type === 'object' || type === 'closure' || type === 'native' || type === 'array'
        ? `${type} ${strings[nodes[i + iName]]}`.slice(0, 120)
        : `(${type})`;
    const g = groups.get(name) ?? { count: 0, size: 0 };
    g.count++;
    g.size += size;
    groups.set(name, g);
    ids.set(nodes[i + iId], name);
    total += size;
  }
  return { groups, ids, total, count: nodes.length / width };
}

export function diff(a, b) {
  const rows = [];
  for (const name of new Set([...a.groups.keys(), ...b.groups.keys()])) {
    const x = a.groups.get(name) ?? { count: 0, size: 0 };
    const y = b.groups.get(name) ?? { count: 0, size: 0 };
    rows.push({ name, count: y.count - x.count, size: y.size - x.size, after: y.count });
  }
  const fresh = new Map();
  for (const [id, name] of b.ids) {
    if (a.ids.has(id)) continue;
    const g = fresh.get(name) ?? { count: 0 };
    g.count++;
    fresh.set(name, g);
  }
  return { rows, fresh, total: b.total - a.total, count: b.count - a.count };
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop());
if (isMain) {
  const [before, after] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const top = Number(/--top=(\d+)/.exec(process.argv.join(' '))?.[1] ?? 25);
  if (!before || !after) {
    console.error('usage: node bench/heap-diff.mjs before.heapsnapshot after.heapsnapshot [--top=25]');
    process.exit(2);
  }
  const d = diff(summarize(before), summarize(after));
  const kb = (n) => (n / 1024).toFixed(1);
  console.log(`heap: ${d.total >= 0 ? '+' : ''}${kb(d.total)} KiB, ${d.count >= 0 ? '+' : ''}${d.count} objects`);
  console.log('\ngrowth by group (size delta KiB | count delta | count after | group):');
  for (const r of d.rows.sort((x, y) => y.size - x.size).slice(0, top))
    console.log(
      `${kb(r.size).padStart(10)} | ${String(r.count).padStart(8)} | ${String(r.after).padStart(8)} | ${r.name}`,
    );
  console.log('\nshrink by group:');
  for (const r of d.rows.sort((x, y) => x.size - y.size).slice(0, Math.min(top, 10)))
    console.log(
      `${kb(r.size).padStart(10)} | ${String(r.count).padStart(8)} | ${String(r.after).padStart(8)} | ${r.name}`,
    );
  console.log('\nobjects new in the second snapshot, by group (count | group):');
  for (const [name, g] of [...d.fresh].sort((x, y) => y[1].count - x[1].count).slice(0, top))
    console.log(`${String(g.count).padStart(8)} | ${name}`);
}
