/** JSON.parse with errors that say where: `… at line 3, column 5` instead of `at position 41`. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string; cause: unknown } {
  try {
    return { ok: true, value: JSON.parse(text.replace(/^\uFEFF/, '')) as unknown };
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    const match = /\s+at position (\d+)(?: \(line \d+ column \d+\))?/.exec(message);
    if (match) {
      const where = lineColumn(text, Number(match[1]));
      return { ok: false, error: message.replace(match[0], ` at ${where}`), cause };
    }
    if (/end of JSON input/.test(message))
      return { ok: false, error: `${message} at ${lineColumn(text, text.length)}`, cause };
    return { ok: false, error: message, cause };
  }
}

function lineColumn(text: string, position: number): string {
  const before = text.replace(/^\uFEFF/, '').slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}
