#!/usr/bin/env node
/**
 * `node bench/profile-summary.mjs FILE.cpuprofile [TOP]`: the hot paths of a V8 CPU profile
 * (`WIREMESH_PROFILE=1 npm run bench …` writes them to bench/profiles/). Prints the functions with
 * the most self time, and the same grouped by source file, as % of the sampled time (idle
 * excluded), so a profile can be read without Chrome DevTools and quoted in a note.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [TOP=25]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

// Self time per node: the interval before each sample is charged to that sample's node.
const self = new Map();
const { samples, timeDeltas } = profile;
for (let i = 0; i < samples.length; i++) {
  const dt = timeDeltas[i + 1] ?? 0;
  self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
}

const where = (cf) => {
  const url = cf.url.replace(/^file:\/\//, '');
  const short = url.includes('/node_modules/')
    ? url.slice(url.lastIndexOf('/node_modules/') + 14)
    : url.startsWith('/')
      ? relative(process.cwd(), url)
      : url;
  return short || '(native)';
};
const fn = new Map();
const files = new Map();
let busy = 0;
let idle = 0;
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  if (cf.functionName === '(idle)') {
    idle += us;
    continue;
  }
  busy += us;
  const key = `${cf.functionName || '(anonymous)'}  ${where(cf)}:${cf.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  files.set(where(cf), (files.get(where(cf)) ?? 0) + us);
}
const pct = (us) => ((100 * us) / busy).toFixed(1).padStart(5) + ' %';
const print = (title, map) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
};
console.log(`${file}: ${(busy / 1000).toFixed(0)} ms sampled busy, ${(idle / 1000).toFixed(0)} ms idle`);
print('self time by function', fn);
print('self time by file', files);
