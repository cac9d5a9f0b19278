/**
 * Readers for one object of the raw config: each returns the value or its default and throws a
 * ConfigError whose message names the full path (`Invalid config: apps[0].key must be …`).
 * Unknown keys are refused when the object is opened, before any field is read, so a typo is
 * reported as a typo and not as the missing field it was meant to be.
 */
import { ConfigError } from './errors.js';
import { didYouMean } from './suggest.js';

export type Raw = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Raw {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `apps[0].key`; a key that is not an identifier is quoted: `apps[0]["a b"]`. */
export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (!/^[A-Za-z_$][\w$]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** A bad value as shown in a message: strings quoted and cut, passwords inside URLs hidden. */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    const s = value.replace(/\/\/[^/@\s]*@/, '//***@');
    return JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
  }
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/**
 * `Invalid config: <path> (<value>) <problem>`. Pass `value` only when showing it helps: never
 * for secrets, and not for a missing or empty value.
 */
export function invalid(path: string, problem: string, value?: unknown): ConfigError {
  const shown = value === undefined || value === '' ? '' : ` (${show(value)})`;
  return new ConfigError(path, `Invalid config: ${path === '' ? 'the config' : path}${shown} ${problem}`);
}

function integerText(min: number, max?: number): string {
  if (max !== undefined) return `an integer from ${min} to ${max}`;
  if (min === 0) return 'a non-negative integer';
  if (min === 1) return 'a positive integer';
  return `an integer of at least ${min}`;
}

export interface StringRule {
  /** Never echo the value (secrets, passwords). */
  secret?: boolean;
  /** The value must match; `describe` finishes "must be …" when it does not. */
  pattern?: RegExp;
  describe?: string;
}

/** One object of the raw config, opened at `path`. */
export class Section {
  private constructor(
    readonly path: string,
    private readonly raw: Raw,
  ) {}

  /** Opens `value` (undefined reads as `{}`); every key must be one of `known`. */
  static open(value: unknown, path: string, known: readonly string[]): Section {
    if (value === undefined) return new Section(path, {});
    if (!isPlainObject(value)) throw invalid(path, 'must be an object', value);
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) {
        throw invalid(join(path, key), `is not a known setting${didYouMean(key, known)}`);
      }
    }
    return new Section(path, value);
  }

  at(key: string): string {
    return join(this.path, key);
  }

  /** The raw value; undefined when absent. */
  get(key: string): unknown {
    return this.raw[key];
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined;
  }

  /** The raw value, or `fallback` when absent (`null` is a value, and a wrong one). */
  private pick(key: string, fallback: unknown): unknown {
    const value = this.raw[key];
    return value === undefined ? fallback : value;
  }

  /** A non-empty string; `fallback` when absent (undefined fallback: the key is required). */
  string(key: string, fallback: string | undefined, rule: StringRule = {}): string {
    const value = this.pick(key, fallback);
    const path = this.at(key);
    if (typeof value !== 'string' || value === '') {
      throw invalid(path, 'must be a non-empty string', rule.secret ? undefined : value);
    }
    if (rule.pattern && !rule.pattern.test(value)) {
      throw invalid(
        path,
        `must be ${rule.describe ?? `a string matching ${rule.pattern}`}`,
        rule.secret ? undefined : value,
      );
    }
    return value;
  }

  optionalString(key: string, rule: StringRule = {}): string | undefined {
    return this.has(key) ? this.string(key, undefined, rule) : undefined;
  }

  /** A whole number in [min, max]; `fallback` when absent. */
  int(key: string, fallback: number, min: number, max?: number): number {
    const value = this.pick(key, fallback);
    const ok =
      typeof value === 'number' && Number.isSafeInteger(value) && value >= min && (max === undefined || value <= max);
    if (!ok) throw invalid(this.at(key), `must be ${integerText(min, max)}`, value);
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.pick(key, fallback);
    if (typeof value !== 'boolean') throw invalid(this.at(key), 'must be true or false', value);
    return value;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.pick(key, fallback);
    return member(value, this.at(key), allowed);
  }

  /** An array (or `fallback` when absent); each item is read by `item`. */
  list<T>(key: string, fallback: readonly T[], item: (value: unknown, path: string) => T): T[] {
    const value = this.raw[key];
    if (value === undefined) return [...fallback];
    if (!Array.isArray(value)) throw invalid(this.at(key), 'must be an array', value);
    return value.map((v, i) => item(v, join(this.at(key), i)));
  }
}

/** `value` must be one of `allowed`. */
export function member<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  const hint = typeof value === 'string' ? didYouMean(value, allowed) : '';
  throw invalid(path, `must be one of ${allowed.join(', ')}${hint}`, value);
}
