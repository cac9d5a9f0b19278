import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebhookEndpointConfig } from '../config/schema.js';
import { endpointAccepts, endpointWantsName } from './filter.js';

const endpoint = (over: Partial<WebhookEndpointConfig>): WebhookEndpointConfig => ({
  url: 'http://x',
  events: ['channel_occupied', 'member_added'],
  headers: {},
  filter: {},
  ...over,
});

test('an endpoint accepts only the event names it lists', () => {
  const e = endpoint({});
  assert.equal(endpointWantsName(e, 'member_added'), true);
  assert.equal(endpointWantsName(e, 'client_event'), false);
  assert.equal(endpointAccepts(e, { name: 'channel_occupied', channel: 'a' }), true);
  assert.equal(endpointAccepts(e, { name: 'channel_vacated', channel: 'a' }), false);
});

test('channel name prefix and suffix both have to match', () => {
  const e = endpoint({ filter: { channelNamePrefix: 'presence-', channelNameSuffix: '-room' } });
  assert.equal(endpointAccepts(e, { name: 'channel_occupied', channel: 'presence-big-room' }), true);
  assert.equal(endpointAccepts(e, { name: 'channel_occupied', channel: 'presence-big' }), false);
  assert.equal(endpointAccepts(e, { name: 'channel_occupied', channel: 'private-big-room' }), false);
  assert.equal(
    endpointAccepts(endpoint({ filter: { channelNamePrefix: '' } }), { name: 'channel_occupied', channel: 'x' }),
    true,
  );
});
