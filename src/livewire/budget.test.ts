import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseBudgets, type BudgetHolder } from './budget.js';

const holder = (client: string): BudgetHolder => ({ client, buffered: 0 });

test('a take within every budget is held by the connection, its address and the node', () => {
  const budgets = new ResponseBudgets({ node: 100, perAddress: 60 });
  const a = holder('10.0.0.1');
  const budget = budgets.of(a, 50);
  assert.equal(budget.take(30), undefined);
  assert.equal(a.buffered, 30);
  assert.equal(budgets.held(), 30);
  budget.give(30);
  assert.equal(a.buffered, 0);
  assert.equal(budgets.held(), 0);
});

test('the first budget a take would overrun refuses it, and nothing is taken', () => {
  const budgets = new ResponseBudgets({ node: 100, perAddress: 60 });
  const [a1, a2, b] = [holder('10.0.0.1'), holder('10.0.0.1'), holder('10.0.0.2')];
  assert.deepEqual(budgets.of(a1, 50).take(51), {
    scope: 'connection',
    setting: 'livewire.maxBufferedResponseBytes',
    cap: 50,
  });
  assert.equal(budgets.of(a1, 50).take(40), undefined);
  // Another connection of the same address: the address's 60 is the limit.
  assert.deepEqual(budgets.of(a2, 50).take(21), {
    scope: 'address',
    setting: 'limits.maxTunnelBufferedBytesPerIp',
    cap: 60,
  });
  assert.equal(a2.buffered, 0);
  assert.equal(budgets.of(a2, 50).take(20), undefined);
  // Another address: its own 60, but the node's 100 is nearer.
  assert.deepEqual(budgets.of(b, 50).take(41), { scope: 'node', setting: 'limits.maxTunnelBufferedBytes', cap: 100 });
  assert.equal(budgets.of(b, 50).take(40), undefined);
  assert.equal(budgets.held(), 100);
});

test('full: whether one more response of maxResponseBytes would fit the address and the node', () => {
  const budgets = new ResponseBudgets({ node: 100, perAddress: 60 });
  budgets.of(holder('10.0.0.1'), 0).take(30);
  assert.equal(budgets.full('10.0.0.1', 30), undefined);
  assert.equal(budgets.full('10.0.0.1', 31)?.scope, 'address');
  assert.equal(budgets.full('10.0.0.2', 60), undefined);
  budgets.of(holder('10.0.0.3'), 0).take(30);
  assert.equal(budgets.full('10.0.0.2', 41)?.scope, 'node');
});

test('a cap of 0 is no limit', () => {
  const budgets = new ResponseBudgets({ node: 0, perAddress: 0 });
  assert.equal(budgets.of(holder('10.0.0.1'), 0).take(1e12), undefined);
  assert.equal(budgets.full('10.0.0.1', 1e12), undefined);
});
