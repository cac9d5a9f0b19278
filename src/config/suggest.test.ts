import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { didYouMean, suggest } from './suggest.js';

describe('suggest', () => {
  const keys = ['host', 'port', 'clientEvents', 'maxFrameBytes', 'maxBufferedBytes', 'maxConnections', 'logLevel'];
  const cases: Array<[string, string | undefined]> = [
    ['hots', 'host'], // swapped letters
    ['prot', 'port'],
    ['clientevents', 'clientEvents'], // case
    ['client_events', 'clientEvents'], // snake case
    ['enableClientMessages', 'clientEvents'], // Soketi's name
    ['maxConnection', 'maxConnections'], // prefix
    ['maxFrameSize', 'maxFrameBytes'], // one word differs
    ['debug', 'logLevel'], // Soketi's name
    ['colour', undefined],
    ['x', undefined],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${String(expected)}`, () => assert.equal(suggest(input, keys), expected));
  }

  it('suggests an alias only where its target is a candidate', () => {
    assert.equal(suggest('enableClientMessages', ['host', 'port']), undefined);
  });
});

describe('didYouMean', () => {
  const appKeys = ['id', 'key', 'secret', 'clientEvents', 'maxClientEventsPerSecond', 'maxEventNameLength'];
  it('says where a Soketi setting went, or that wiremesh has none', () => {
    assert.equal(
      didYouMean('maxChannelNameLength', appKeys),
      ' (did you mean limits.maxChannelNameLength? It applies to all apps)',
    );
    assert.equal(didYouMean('maxBackendEventsPerSecond', appKeys), ' (wiremesh has no rate limit on the HTTP API)');
    assert.equal(didYouMean('enableClientMessages', appKeys), ' (did you mean clientEvents?)');
    assert.equal(didYouMean('somethingElse', appKeys), '');
  });
});
