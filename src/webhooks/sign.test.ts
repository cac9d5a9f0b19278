import assert from 'node:assert/strict';
import { test } from 'node:test';
import Pusher from 'pusher';
import { signWebhook, webhookHeaders } from './sign.js';

test('signWebhook is the hex HMAC-SHA256 the pusher SDK verifies', () => {
  const body = '{"time_ms":1,"events":[{"name":"channel_occupied","channel":"café"}]}';
  const pusher = new Pusher({ appId: '1', key: 'k', secret: 's', cluster: 'mt1' });
  const headers = {
    'content-type': 'application/json',
    'x-pusher-key': 'k',
    'x-pusher-signature': signWebhook('s', body),
  };
  assert.equal(pusher.webhook({ headers, rawBody: body }).isValid(), true);
  assert.match(signWebhook('s', body), /^[0-9a-f]{64}$/);
  assert.notEqual(signWebhook('other', body), signWebhook('s', body));
});

test('extra endpoint headers cannot replace content type, key or signature', () => {
  const headers = webhookHeaders({ key: 'k', secret: 's' }, '{}', {
    'content-type': 'text/plain',
    'x-pusher-key': 'spoofed',
    'X-Pusher-Signature': 'spoofed',
    Authorization: 'Bearer t',
  });
  assert.equal(headers.get('content-type'), 'application/json');
  assert.equal(headers.get('x-pusher-key'), 'k');
  assert.equal(headers.get('x-pusher-signature'), signWebhook('s', '{}'));
  assert.equal(headers.get('authorization'), 'Bearer t');
});
