/**
 * Addresses of their own for simulated hosts, on the loopback device: IPv6 ULAs like Fly.io's
 * 6PN (`fdaa:…`) when this process can add them (root and `ip` from iproute2), else IPv4
 * loopback addresses (127.0.0.0/8 is all on `lo` already, nothing to add).
 *
 * IPv6: one /64 per run, `fdaa:77:<pid>:<random>::/64`, so two runs (or two helpers on one box)
 * never collide; each address is added as a /128 with `nodad` (an address still under duplicate
 * address detection is "tentative" and cannot be bound). `release()` removes every address it
 * added; a process 'exit' handler removes whatever is left if the run ends without it.
 * `WIREMESH_TEST_FAMILY=4` forces IPv4 (to run the fallback on a machine that can do IPv6).
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoopbackAddresses {
  family: 4 | 6;
  /** Why IPv4 was used (absent for IPv6). */
  fallback?: string;
  /** Address `n` (1..254) of group `group` (1..254): `fdaa:…::<group>:<n>` or `127.0.<group>.<n>`. */
  address(group: number, n: number): string;
  /** Adds the addresses (IPv6; IPv4 needs nothing). Idempotent per address. */
  add(addresses: readonly string[]): Promise<void>;
  /** Removes every address added so far. */
  release(): Promise<void>;
}

/** The family to use, and why not IPv6 when not. */
async function ipv6Capable(): Promise<string | null> {
  if (process.env.WIREMESH_TEST_FAMILY === '4') return 'WIREMESH_TEST_FAMILY=4';
  if (process.getuid?.() !== 0) return 'not root (adding addresses to lo needs CAP_NET_ADMIN)';
  try {
    await run('ip', ['-V']);
  } catch (err) {
    return `no \`ip\` (iproute2): ${(err as Error).message.split('\n')[0]}`;
  }
  return null;
}

const batch = (verb: 'add' | 'del', addresses: readonly string[]): string =>
  addresses.map((a) => `addr ${verb} ${a}/128 dev lo${verb === 'add' ? ' nodad' : ''}\n`).join('');

async function ipBatch(input: string, force: boolean): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const args = [...(force ? ['-force'] : []), '-6', '-batch', '-'];
    const child = execFile('ip', args, (err, _stdout, stderr) =>
      err ? reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(),
    );
    child.stdin!.end(input);
  });
}

function byte(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 254) throw new RangeError(`loopback address part ${n} is not in 1..254`);
  return n;
}

function ipv4(reason: string): LoopbackAddresses {
  return {
    family: 4,
    fallback: reason,
    address: (group, n) => `127.0.${byte(group)}.${byte(n)}`,
    add: async () => {},
    release: async () => {},
  };
}

export async function loopbackAddresses(): Promise<LoopbackAddresses> {
  const reason = await ipv6Capable();
  if (reason !== null) return ipv4(reason);
  const prefix = `fdaa:77:${(process.pid & 0xffff).toString(16)}:${randomInt(0x10000).toString(16)}`;
  // A probe: root without CAP_NET_ADMIN (a container) or IPv6 turned off fails here, not later.
  const probe = `${prefix}::ff:1`;
  try {
    await ipBatch(batch('add', [probe]), false);
  } catch (err) {
    return ipv4(`cannot add IPv6 addresses to lo: ${(err as Error).message}`);
  }
  await ipBatch(batch('del', [probe]), false);
  const added = new Set<string>();
  const onExit = (): void => {
    // Last resort (the run ended without release()): synchronous, as 'exit' handlers must be.
    if (added.size === 0) return;
    try {
      execFileSync('ip', ['-force', '-6', '-batch', '-'], {
        input: batch('del', [...added]),
        stdio: ['pipe', 'ignore', 'ignore'],
      });
    } catch (err) {
      process.stderr.write(
        `could not remove test addresses from lo (${[...added].join(' ')}): ${(err as Error).message}\n`,
      );
    }
  };
  process.on('exit', onExit);
  const release = async (): Promise<void> => {
    const all = [...added];
    if (all.length > 0) await ipBatch(batch('del', all), true);
    added.clear();
    process.off('exit', onExit);
  };
  return {
    family: 6,
    address: (group, n) => `${prefix}::${byte(group).toString(16)}:${byte(n).toString(16)}`,
    add: async (addresses) => {
      const fresh = addresses.filter((a) => !added.has(a));
      // Counted as added before the batch runs: one that failed half-way is removed by release().
      for (const a of fresh) added.add(a);
      if (fresh.length > 0) await ipBatch(batch('add', fresh), false);
    },
    release,
  };
}

/** IPv6 addresses are written `[v6]:port` in host:port strings. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
