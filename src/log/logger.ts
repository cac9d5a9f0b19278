/**
 * Structured logger: one JSON object per line in pino's shape (`level` as pino's number, `time` in
 * epoch ms, `pid`, `hostname`, `msg`, then inherited context such as `nodeId`/`appId`), so
 * pino-pretty and log shippers read it as they are. On a terminal the lines are printed readably
 * instead (log/pretty.ts). Passed into every part that logs; never a global.
 */
import os from 'node:os';
import { prettyLine } from './pretty.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** pino's level numbers (trace 10 and fatal 60 are not used). */
export const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: Infinity };

export type LogContext = Record<string, unknown>;

export interface Logger {
  debug(msg: string, ctx?: LogContext): void;
  info(msg: string, ctx?: LogContext): void;
  warn(msg: string, ctx?: LogContext): void;
  error(msg: string, ctx?: LogContext): void;
  child(ctx: LogContext): Logger;
  isEnabled(level: LogLevel): boolean;
}

export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => {
  process.stderr.write(line + '\n');
};

function serializeError(err: unknown): unknown {
  if (err instanceof Error) {
    const out: Record<string, unknown> = { name: err.name, message: err.message };
    const code = (err as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (err.cause !== undefined) out.cause = serializeError(err.cause);
    return out;
  }
  return err;
}

const RESERVED = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

export function createLogger(
  options: { level?: LogLevel; context?: LogContext; sink?: LogSink; pretty?: boolean } = {},
): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const pretty = options.pretty ?? (options.sink === undefined && process.stderr.isTTY === true);
  const sink: LogSink = options.sink ?? (pretty ? (line) => process.stderr.write(prettyLine(line) + '\n') : stderrSink);
  const base = options.context ?? {};
  const head = { pid: process.pid, hostname: os.hostname() };

  const make = (context: LogContext): Logger => {
    const write = (level: Exclude<LogLevel, 'silent'>, msg: string, ctx?: LogContext): void => {
      if (LEVELS[level] < min) return;
      const record: Record<string, unknown> = { level: LEVELS[level], time: Date.now(), ...head, msg };
      for (const [k, v] of Object.entries(context)) if (!RESERVED.has(k)) record[k] = v;
      if (ctx) {
        for (const [k, v] of Object.entries(ctx)) {
          if (!RESERVED.has(k)) record[k] = k === 'err' || v instanceof Error ? serializeError(v) : v;
        }
      }
      sink(JSON.stringify(record));
    };
    return {
      debug: (msg, ctx) => write('debug', msg, ctx),
      info: (msg, ctx) => write('info', msg, ctx),
      warn: (msg, ctx) => write('warn', msg, ctx),
      error: (msg, ctx) => write('error', msg, ctx),
      child: (ctx) => make({ ...context, ...ctx }),
      isEnabled: (level) => LEVELS[level] >= min,
    };
  };
  return make(base);
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger({ level: 'silent' });
