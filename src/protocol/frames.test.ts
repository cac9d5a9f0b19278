/** The hot frames are assembled from parts: the text must equal stringifying the whole object. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  channelEvent,
  connectionEstablished,
  presenceMember,
  presenceSucceeded,
  subscriptionSucceeded,
} from './frames.js';

const str = JSON.stringify;
const odd = ['', 'a"b', 'back\\slash', 'line\nbreak', 'é✓', '\u0000', '\ud800', '__proto__'];

describe('hot frames', () => {
  it('connection_established', () => {
    for (const id of ['123.456', '1.2', '9', ...odd]) {
      for (const timeout of [120, 0, -0, 1.5, Number.NaN, 1e21]) {
        const want = str({
          event: 'pusher:connection_established',
          data: str({ socket_id: id, activity_timeout: timeout }),
        });
        assert.equal(connectionEstablished(id, timeout), want);
      }
    }
  });

  it('subscription_succeeded', () => {
    for (const channel of ['private-x', ...odd]) {
      assert.equal(
        subscriptionSucceeded(channel),
        str({ event: 'pusher_internal:subscription_succeeded', channel, data: '{}' }),
      );
      const presence = { ids: ['1', 'é✓'], hash: { 1: { n: odd }, 'é✓': null }, count: 2 };
      const a = presenceMember('1', { n: odd });
      const b = presenceMember('é✓', undefined);
      const frame = presenceSucceeded(channel, Buffer.from(`${a.id},${b.id}`), Buffer.from(`${a.pair},${b.pair}`), 2);
      assert.equal(
        Buffer.concat(frame).toString(),
        str({ event: 'pusher_internal:subscription_succeeded', channel, data: str({ presence }) }),
      );
    }
  });

  it('channel events', () => {
    for (const s of odd) {
      assert.equal(channelEvent(s, s, s), str({ event: s, channel: s, data: s }));
      assert.equal(channelEvent(s, s, { s }), str({ event: s, channel: s, data: { s } }));
      assert.equal(channelEvent(s, s, s, 'u'), str({ event: s, channel: s, data: s, user_id: 'u' }));
    }
  });
});
