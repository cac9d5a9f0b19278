/**
 * Structured logger: one JSON object per line, with levels and inherited context
 * (`nodeId`, `appId`, ...). Passed into every part that logs; never a global.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

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

export function createLogger(
  options: { level?: LogLevel; context?: LogContext; sink?: LogSink } = {},
): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const sink = options.sink ?? stderrSink;
  const base = options.context ?? {};

  const make = (context: LogContext): Logger => {
    const write = (level: Exclude<LogLevel, 'silent'>, msg: string, ctx?: LogContext): void => {
      if (LEVELS[level] < min) return;
      const record: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...context };
      if (ctx) {
        for (const [k, v] of Object.entries(ctx)) record[k] = k === 'err' || v instanceof Error ? serializeError(v) : v;
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
