// Money helpers: exact parsing, display rounding, BigInt sums, JSON in and out.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  Decimal,
  exactJson,
  formatCount,
  formatPercentBp,
  formatTokens,
  formatUsd,
  nanosToUsdText,
  parseJsonExact,
  percentBp,
  shareBp,
  sumNanos,
  toNanos,
  usdToNanos,
} from '../../src/money.js';

test('usdToNanos reads decimals exactly, rounding half-even below the nano', () => {
  assert.equal(usdToNanos('0.012'), 12_000_000n);
  assert.equal(usdToNanos('1.2e-2'), 12_000_000n);
  assert.equal(usdToNanos('12E-3'), 12_000_000n);
  assert.equal(usdToNanos('75.123456789'), 75_123_456_789n);
  assert.equal(usdToNanos('0.0000000005'), 0n); // half to even (0)
  assert.equal(usdToNanos('0.0000000015'), 2n); // half to even (2)
  assert.equal(usdToNanos('0.00000000151'), 2n);
  assert.equal(usdToNanos('-3'), -3_000_000_000n);
  assert.equal(usdToNanos('.5'), 500_000_000n);
  assert.equal(usdToNanos('9223372036.854775807'), 9_223_372_036_854_775_807n);
  assert.equal(usdToNanos('abc'), null);
  assert.equal(usdToNanos(''), null);
  assert.equal(usdToNanos('.'), null);
  assert.equal(usdToNanos('1.2.3'), null);
});

test('nanosToUsdText is the exact decimal', () => {
  assert.equal(nanosToUsdText(12_500_000_000n), '12.5');
  assert.equal(nanosToUsdText(1n), '0.000000001');
  assert.equal(nanosToUsdText(0n), '0');
  assert.equal(nanosToUsdText(-2_000_000_007n), '-2.000000007');
  for (const t of ['0.1', '123.456789012', '1000000']) assert.equal(nanosToUsdText(usdToNanos(t)!), t);
});

test('formatUsd shows two decimals, more for tiny amounts, never a float error', () => {
  assert.equal(formatUsd(127_450_000_000n), '$127.45');
  assert.equal(formatUsd(1_234_567_890_000n), '$1,234.57');
  assert.equal(formatUsd(0n), '$0.00');
  assert.equal(formatUsd(4_999_999n), '$0.005'); // half a cent rounds up to show as such
  assert.equal(formatUsd(4_200_000n), '$0.0042');
  assert.equal(formatUsd(1n), '$0.000000001');
  assert.equal(formatUsd(12_345n), '$0.000012');
  assert.equal(formatUsd(-1_500_000_000n), '-$1.50');
  assert.equal(formatUsd(5_000_000n), '$0.01');
  assert.equal(formatUsd(null), '—');
});

test('sums are exact where floats are not', () => {
  // 0.1 + 0.2 as floats is 0.30000000000000004; as nanos it is 0.3.
  assert.notEqual(0.1 + 0.2, 0.3);
  assert.equal(sumNanos([usdToNanos('0.1'), usdToNanos('0.2')]), 300_000_000n);
  assert.equal(formatUsd(sumNanos([usdToNanos('0.1'), usdToNanos('0.2')])), '$0.30');
  // A million one-nano reports add up to a thousandth of a dollar exactly.
  assert.equal(sumNanos(Array(1_000_000).fill(1)), 1_000_000n);
  // Beyond 2^53 nanos (~$9M), numbers lose digits; BigInt and digit strings do not.
  const big = '9007199254740993'; // 2^53 + 1
  assert.equal(sumNanos([big, 1n, null, undefined]), 9_007_199_254_740_994n);
  assert.equal(toNanos(2 ** 53 + 2), null); // an unsafe number is refused, not rounded
  assert.equal(toNanos('12'), 12n);
  assert.equal(toNanos('1.5'), null);
});

test('percentages are rounded down in basis points', () => {
  assert.equal(percentBp(127_450_000_000n, 200_000_000_000n), 6372);
  assert.equal(formatPercentBp(6372), '63%');
  assert.equal(formatPercentBp(42), '0.42%');
  assert.equal(formatPercentBp(0), '0%');
  assert.equal(percentBp(1n, null), null);
  assert.equal(percentBp(1n, 0n), null);
  assert.equal(percentBp(2n, 1n), 20_000);
  assert.equal(shareBp(1n, 3n), 3333);
  assert.equal(shareBp(1n, 0n), 0);
});

test('tokens and counts', () => {
  assert.equal(formatTokens(950), '950');
  assert.equal(formatTokens(4_200_000), '4.2M');
  assert.equal(formatTokens(12_345), '12.3k');
  assert.equal(formatTokens(618_266n), '618k');
  assert.equal(formatTokens(1_050_000_000), '1.05B');
  assert.equal(formatCount(1_234_567), '1,234,567');
  assert.equal(formatCount(-1000n), '-1,000');
});

test('exactJson writes decimals and BigInts as number text', () => {
  assert.equal(
    exactJson({ a: Decimal.ofNanos(75_123_456_789n), b: null, c: 12n, d: 'x', e: [new Decimal('0.1')] }),
    '{"a":75.123456789,"b":null,"c":12,"d":"x","e":[0.1]}',
  );
});

test('parseJsonExact keeps *_nanos as BigInt', () => {
  const v = parseJsonExact('{"cost_usd": 0.012, "cost_nanos": 12000000, "n": 5, "x": {"limit_nanos": null}}') as any;
  assert.equal(v.cost_nanos, 12_000_000n);
  assert.equal(v.cost_usd, 0.012);
  assert.equal(v.n, 5);
  assert.equal(v.x.limit_nanos, null);
});
