/**
 * One JSON log line (pino's shape) → one readable line for a terminal:
 * `14:03:07.120 INFO  [node-1 core] wiremesh listening port=6001 transport="uws"`.
 */
const NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 20: '\x1b[90m', 30: '\x1b[32m', 40: '\x1b[33m', 50: '\x1b[31m' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'nodeId', 'part']);

export function prettyLine(json: string): string {
  const r = JSON.parse(json) as Record<string, unknown>;
  const level = typeof r.level === 'number' ? r.level : 30;
  const time = new Date(typeof r.time === 'number' ? r.time : Date.now()).toISOString().slice(11, 23);
  const where = [r.nodeId, r.part].filter((x) => typeof x === 'string').join(' ');
  const rest = Object.entries(r)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
  const color = COLORS[level] ?? '';
  return `${time} ${color}${NAMES[level] ?? String(level)}\x1b[0m ${where ? `[${where}] ` : ''}${String(r.msg)}${rest ? ' ' + rest : ''}`;
}
