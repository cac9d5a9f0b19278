/**
 * The owner's side of replays: a node that asks for more replay bytes than its bucket holds gets
 * no answer (it retries, then tells its client the gap is unknown); other nodes are served.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControlMessage } from '../cluster/envelope.js';
import { recordingLogger, testConfig } from '../core/fakes.test.helper.js';
import { HistoryChannels } from './channels.js';
import { HistoryReceiver, type ClusterPeers } from './cluster.js';
import type { Answer } from './resume.js';
import type { HistoryPeers } from './types.js';
import type { HistoryMessage } from './wire.js';

test('replay bytes per asking node are a bucket: a node over it is not answered, another node is', () => {
  const config = testConfig({ history: { channels: ['orders'] } });
  const frame = `{"event":"e","channel":"orders","data":"${'x'.repeat(1024 * 1024)}"}`;
  const sent: Array<{ to: string; msg: HistoryMessage }> = [];
  const peers: HistoryPeers = {
    nodeId: 'owner',
    ownerOf: () => 'owner',
    nextOf: () => undefined,
    replicates: () => false,
    wasOwner: () => false,
    send: (to, msg) => sent.push({ to, msg }),
    mark: () => undefined,
  };
  let now = 0;
  const { logger, lines } = recordingLogger();
  const receiver = new HistoryReceiver({
    channels: new HistoryChannels(config.apps),
    streams: {
      received: () => undefined,
      sequencerOf: () => 'owner',
      acked: () => undefined,
      ownerDown: () => ({ resent: 0, dropped: 0 }),
      forget: () => undefined,
    },
    replication: { received: () => undefined, membershipChanged: () => undefined },
    sequencer: {
      answer: (_app, _topic, _from, id): Answer => ({ kind: 'replay', id, status: 'ok', head: 'e:8', frames: [frame] }),
    },
    resumer: { replied: () => undefined, marked: () => undefined, nodeDown: () => undefined },
    peers: peers as unknown as ClusterPeers,
    logger,
    now: () => now,
  });
  const ask = (from: string, i: number): void =>
    receiver.messages.hist({
      v: 1,
      type: 'hist',
      from,
      body: { kind: 'replay_req', id: `r${i}`, topic: 'app-id\u0000orders', from: 'e:1' },
    } as ControlMessage);
  for (let i = 0; i < 100; i++) ask('greedy', i);
  const answered = sent.filter((s) => s.to === 'greedy').length;
  assert.ok(answered >= 30 && answered <= 33, `about 32 MiB at once (${answered} answers of 1 MiB)`);
  assert.equal(lines.filter((l) => String(l.msg).includes('more history replays than allowed')).length, 1);
  ask('other', 0);
  assert.equal(sent.filter((s) => s.to === 'other').length, 1, 'another node has its own bucket');
  now += 1_000;
  for (let i = 100; i < 120; i++) ask('greedy', i);
  const later = sent.filter((s) => s.to === 'greedy').length - answered;
  assert.ok(later >= 7 && later <= 9, `about 8 MiB a second later (${later})`);
});
