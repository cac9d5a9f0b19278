/**
 * The reference: the Livewire fixture app in headless Chromium over plain HTTP, no wiremesh.
 * Shows the fixture is a working Livewire 3 backend, and records how Livewire itself handles
 * failures and redirects (test/helpers/e2e-scenarios.ts), which the socket transport must match.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CHROMIUM_MISSING, driveCounter, gotoLivewire, waitForText } from './helpers/e2e-browser.js';
import { FAULT_SCENARIOS, openFaultsPage } from './helpers/e2e-scenarios.js';
import { livewireSuite } from './helpers/e2e-suite.js';

const TEST_TIMEOUT = 60_000;

describe('Livewire fixture over plain HTTP (reference)', { skip: CHROMIUM_MISSING, timeout: 240_000 }, () => {
  const suite = livewireSuite();

  test('clicks and wire:model round-trip through POST /livewire/update', { timeout: TEST_TIMEOUT }, async () => {
    const rec = await suite.page();
    try {
      await gotoLivewire(rec.page, `${suite.app.url}/counter`);
      assert.equal(
        await rec.page.evaluate(
          () => (window as unknown as { wiremeshFixture: { mode: string } }).wiremeshFixture.mode,
        ),
        'http',
      );
      await suite.app.setState({ resetUpdates: true });

      await driveCounter(rec.page, 'wiremesh');

      assert.equal(rec.updateRequests.length, 3, 'each update is one HTTP request from the browser');
      const state = await suite.app.state();
      assert.equal(state.updateCount, 3);
      assert.deepEqual(
        state.updates.map((u) => u.components[0]?.calls),
        [['increment'], ['increment'], []],
      );
      assert.deepEqual(state.updates[2]!.components[0]!.updates, { name: 'wiremesh' });
      assert.equal(
        state.updates[0]!.headers['x-livewire'],
        '',
        'Livewire 3 marks updates with an empty X-Livewire header',
      );
      assert.deepEqual(rec.errors, []);
    } finally {
      await rec.page.context().close();
    }
  });

  test('wire:navigate swaps pages without a full load', { timeout: TEST_TIMEOUT }, async () => {
    const rec = await suite.page();
    try {
      await gotoLivewire(rec.page, `${suite.app.url}/counter`);
      await rec.page.evaluate(() => ((window as unknown as { marker: string }).marker = 'kept'));
      const loads = rec.loads.length;
      await rec.page.click('#to-other');
      await rec.page.waitForSelector('#other');
      await rec.page.click('#bump');
      await waitForText(rec.page, '#other-clicks', '1');
      await rec.page.click('#to-counter');
      await rec.page.waitForSelector('#counter');
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '1');
      assert.equal(await rec.page.evaluate(() => (window as unknown as { marker?: string }).marker), 'kept');
      assert.equal(rec.loads.length, loads, 'no full page load');
    } finally {
      await rec.page.context().close();
    }
  });

  for (const scenario of FAULT_SCENARIOS) {
    test(`errors over HTTP: ${scenario.shows}`, { timeout: TEST_TIMEOUT }, async () => {
      const rec = await suite.page();
      try {
        const ctx = await openFaultsPage({ app: suite.app, rec }, scenario);
        await scenario.arrange?.(ctx);
        await scenario.act(ctx);
        await scenario.check(ctx);
      } finally {
        await rec.page.context().close();
      }
    });
  }
});
