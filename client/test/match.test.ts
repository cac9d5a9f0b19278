import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { configuredUpdatePath, isLivewireUpdate, isLivewireUpdatePath } from '../src/match.js';
import { describeRequest } from '../src/request.js';
import { ORIGIN, page } from './fake-pusher.js';

page.install();

const shape = (input: string, init?: RequestInit) => describeRequest(input, init)!;

afterEach(() => {
  delete (globalThis as { document?: unknown }).document;
  delete (globalThis as { livewireScriptConfig?: unknown }).livewireScriptConfig;
});

test('Livewire 3 shape: POST /livewire/update with X-Livewire: ""', () => {
  assert.equal(isLivewireUpdate(shape('/livewire/update', { method: 'POST', headers: { 'X-Livewire': '' } })), true);
  assert.equal(
    isLivewireUpdate(shape('/livewire/update', { method: 'post', headers: { 'Content-type': 'application/json' } })),
    true,
  );
});

test('Livewire 4 shape: POST /livewire-XXXXXXXX/update with X-Livewire: "1"', () => {
  assert.equal(
    isLivewireUpdate(shape('/livewire-1a2b3c4d/update', { method: 'POST', headers: { 'X-Livewire': '1' } })),
    true,
  );
  assert.equal(isLivewireUpdate(shape('/livewire-1a2b3c4d/update', { method: 'POST' })), true);
  // v4 answers 404 without the header, but a custom endpoint with the header is still Livewire's
  assert.equal(
    isLivewireUpdate(shape('/my/custom/endpoint', { method: 'POST', headers: { 'X-Livewire': '1' } })),
    true,
  );
});

test('not Livewire updates', () => {
  assert.equal(isLivewireUpdate(shape('/livewire/update')), false, 'GET');
  assert.equal(isLivewireUpdate(shape('/livewire-1a2b3c4d/livewire.js')), false, 'asset');
  assert.equal(isLivewireUpdate(shape('/livewire/upload-file', { method: 'POST' })), false, 'upload');
  assert.equal(isLivewireUpdate(shape('/contact', { method: 'POST' })), false, 'plain form post');
  assert.equal(
    isLivewireUpdate(shape('https://other.test/livewire/update', { method: 'POST', headers: { 'X-Livewire': '' } })),
    false,
    'cross-origin',
  );
  assert.equal(
    isLivewireUpdate(shape('/livewire/update', { method: 'POST' }), 'https://app.test:8443'),
    false,
    'other port',
  );
  const request = shape('/livewire/update', { method: 'POST' });
  delete (globalThis as { location?: unknown }).location;
  try {
    assert.equal(isLivewireUpdate(request), false, 'no page origin');
  } finally {
    page.install();
  }
});

test('update paths of both versions, with prefixes', () => {
  for (const path of [
    '/livewire/update',
    '/app/livewire/update',
    '/livewire-0123abcd/update',
    '/prefixed/livewire-deadbeef/update',
  ]) {
    assert.equal(isLivewireUpdatePath(path, undefined), true, path);
  }
  for (const path of [
    '/livewire-XYZ12345/update',
    '/livewire-1a2b3c4/update',
    '/livewire-1a2b3c4d/upload-file',
    '/notlivewire/update2',
  ]) {
    assert.equal(isLivewireUpdatePath(path, undefined), false, path);
  }
});

test('the endpoint in data-update-uri (or livewireScriptConfig.uri) counts', () => {
  (globalThis as { document?: unknown }).document = {
    querySelector: (selector: string) =>
      selector === '[data-update-uri]' ? { getAttribute: () => `${ORIGIN}/custom/lw-endpoint` } : null,
  };
  assert.equal(configuredUpdatePath(), '/custom/lw-endpoint');
  assert.equal(isLivewireUpdate(shape('/custom/lw-endpoint', { method: 'POST' })), true);
  delete (globalThis as { document?: unknown }).document;
  (globalThis as { livewireScriptConfig?: unknown }).livewireScriptConfig = { uri: '/other/update-here' };
  assert.equal(configuredUpdatePath(), '/other/update-here');
  assert.equal(isLivewireUpdate(shape('/other/update-here', { method: 'POST' })), true);
});
