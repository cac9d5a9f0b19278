import { test } from 'node:test';
import assert from 'node:assert/strict';
import { synthesizeResponse, type ResponseHead } from '../src/response.js';
import { parseServerFrame } from '../src/protocol.js';

const head = (fields: Partial<ResponseHead> = {}): ResponseHead => ({
  status: 200,
  statusText: 'OK',
  headers: [],
  url: '',
  redirected: false,
  ...fields,
});
const REQUEST_URL = 'https://app.test/livewire/update';

test('a redirect followed by the backend: url resolved against the request, redirected true', () => {
  const response = synthesizeResponse(head({ url: '/login', redirected: true }), 'x', REQUEST_URL);
  assert.equal(response.url, 'https://app.test/login');
  assert.equal(response.redirected, true);
  const cross = synthesizeResponse(head({ url: 'https://sso.test/auth', redirected: true }), 'x', REQUEST_URL);
  assert.equal(cross.url, 'https://sso.test/auth');
});

test('null-body statuses get no body', async () => {
  const response = synthesizeResponse(head({ status: 204, statusText: 'No Content' }), 'ignored', REQUEST_URL);
  assert.equal(response.status, 204);
  assert.equal(response.body, null);
  assert.equal(await response.text(), '');
});

test('header pairs fetch could not deliver are dropped, not thrown on', () => {
  const response = synthesizeResponse(
    head({
      headers: [
        ['bad name', 'x'],
        ['x-ok', 'fine'],
        ['x-split', 'a\r\nb'],
        ['content-type', 'text/html; charset=UTF-8'],
      ],
      statusText: 'bad\nreason',
    }),
    '',
    REQUEST_URL,
  );
  assert.deepEqual(
    [...response.headers],
    [
      ['content-type', 'text/html; charset=UTF-8'],
      ['x-ok', 'fine'],
    ],
  );
  assert.equal(response.statusText, '');
});

test('frame parsing: defaults, strings, and frames that are not ours', () => {
  const parsed = parseServerFrame({ event: 'wiremesh:response', data: JSON.stringify({ id: 'a', status: 302 }) });
  assert.deepEqual(parsed, {
    type: 'response',
    frame: {
      id: 'a',
      status: 302,
      statusText: '',
      headers: [],
      url: '',
      redirected: false,
      body: '',
      done: true,
      setCookies: [],
    },
  });
  assert.equal(parseServerFrame({ event: 'pusher:pong', data: {} }), undefined);
  assert.equal(
    parseServerFrame({ event: 'wiremesh:response', channel: 'private-x', data: { id: 'a', status: 200 } }),
    undefined,
  );
  assert.equal(parseServerFrame({ event: 'wiremesh:chunk', data: 'not json' }), undefined);
  assert.deepEqual(parseServerFrame({ event: 'wiremesh:response', data: { id: 'a', status: 200, headers: [['x']] } }), {
    type: 'invalid',
    id: 'a',
    problem: 'headers is not a list of [name, value]',
  });
});
