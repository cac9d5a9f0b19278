/**
 * The real-Laravel fixture's own PHPUnit suite (test/fixtures/laravel-app/tests), run by Debian's
 * PHPUnit 11.5 in the .ci/laravel root: the app boots on Debian's Laravel 10.48, renders its
 * Livewire-shaped component, answers `/livewire/update` as Livewire 3 does, refuses tampered
 * snapshots, regenerates the session on login, and signs channel authorizations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { copyLaravelApp, laravelRig } from './helpers/laravel.js';

const rig = laravelRig();

describe('the real-Laravel fixture app under PHPUnit', { skip: rig.skip, timeout: 120_000 }, () => {
  test('its PHPUnit suite passes on Debian Laravel 10 and PHPUnit 11', async (t) => {
    const copy = copyLaravelApp(rig.root!, {});
    try {
      const out = await copy.run(['phpunit', '--do-not-cache-result']);
      t.diagnostic(out.trim().split('\n').slice(-1)[0] ?? '');
      assert.match(out, /^OK \(\d+ tests?, \d+ assertions?\)$/m, out);
    } finally {
      copy.remove();
    }
  });
});
