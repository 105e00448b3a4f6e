// The budget forms' checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkCount, checkMoney, checkThresholds } from '../../src/validate.js';

test('money fields: empty is no limit, amounts are exact, bad text is refused with a reason', () => {
  assert.deepEqual(checkMoney(''), { ok: true, value: null });
  assert.deepEqual(checkMoney(' $1,250.50 '), { ok: true, value: 1_250_500_000_000n });
  assert.deepEqual(checkMoney('75.123456789'), { ok: true, value: 75_123_456_789n });
  assert.deepEqual(checkMoney('0'), { ok: true, value: 0n });
  assert.match((checkMoney('twelve') as any).error, /dollars/);
  assert.match((checkMoney('-5') as any).error, /dollars/);
  assert.match((checkMoney('1e3') as any).error, /dollars/);
  assert.match((checkMoney('0.0000000001') as any).error, /9 decimals/);
  assert.match((checkMoney('9223372037') as any).error, /too large/);
});

test('count fields', () => {
  assert.deepEqual(checkCount(''), { ok: true, value: null });
  assert.deepEqual(checkCount('250,000'), { ok: true, value: 250_000 });
  assert.match((checkCount('2.5') as any).error, /without decimals/);
  assert.match((checkCount('-1') as any).error, /from 0/);
  assert.match((checkCount('99999999999999999999') as any).error, /too large/);
});

test('thresholds: 1..10000, each percent once, a known level; sorted', () => {
  const ok = checkThresholds([
    { percent: '95', level: 'critical', message: ' near ' },
    { percent: '50', level: 'info', message: '' },
  ]);
  assert.deepEqual(ok, { ok: true, value: [{ percent: 50, level: 'info' }, { percent: 95, level: 'critical', message: 'near' }] });
  const bad = checkThresholds([
    { percent: '80', level: 'warning', message: '' },
    { percent: '80', level: 'critical', message: '' },
    { percent: '0', level: 'info', message: '' },
    { percent: '120', level: 'loud', message: '' },
  ]);
  assert.equal(bad.ok, false);
  assert.match(bad.rowErrors!.get(1)!, /twice/);
  assert.match(bad.rowErrors!.get(2)!, /1 to 10000/);
  assert.match(bad.rowErrors!.get(3)!, /level/);
  assert.equal(bad.rowErrors!.has(0), false);
});
