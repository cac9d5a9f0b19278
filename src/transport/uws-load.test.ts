/** The native loader's reasons: each way a pinned build can be unusable is named, never a crash. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { glibcVersion, loadNative, UWS_CANDIDATES, UwsUnavailableError, type UwsCandidate } from './uws-load.js';

const abi = process.versions.modules;
const base: UwsCandidate = {
  package: 'wiremesh-no-such-uws',
  version: '1.0.0',
  abis: [abi],
  binaries: '',
  glibc: '2.17',
};

describe('loadNative', () => {
  it('names a pinned package that is not installed', async () => {
    await assert.rejects(loadNative([base]), (err: unknown) => {
      assert.ok(err instanceof UwsUnavailableError);
      assert.match(err.message, /optional dependency wiremesh-no-such-uws@1\.0\.0 is not installed/);
      return true;
    });
  });

  it('says which ABIs are shipped when none matches this Node', async () => {
    await assert.rejects(
      loadNative([{ ...base, abis: ['1'] }]),
      /no pinned uWebSockets\.js build for .*ABI \d+.*ships ABIs 1/,
    );
  });

  it('refuses an installed package of another version than the pinned one', async () => {
    await assert.rejects(
      loadNative([{ ...base, package: 'ws', version: '0.0.1' }]),
      /ws@[\d.]+ is installed but wiremesh is built and tested against 0\.0\.1 only/,
    );
  });

  it(
    'checks glibc before loading a binary that needs a newer one',
    { skip: glibcVersion() === undefined },
    async () => {
      const btc = UWS_CANDIDATES.find((c) => c.package === '@btc-vision/uwebsockets.js')!;
      await assert.rejects(
        loadNative([{ ...btc, abis: [abi], glibc: '99.0' }]),
        /needs glibc ≥ 99\.0, this system has \d+\.\d+/,
      );
    },
  );

  it('pins in package.json exactly the versions it loads', async () => {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      optionalDependencies: Record<string, string>;
    };
    for (const c of UWS_CANDIDATES) assert.equal(pkg.optionalDependencies[c.package], c.version);
  });
});
