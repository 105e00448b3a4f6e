// Money and counts for display. Amounts travel as integer nano-dollars (1 USD = 1e9 nanos) and
// are added up as BigInt, never as binary floats; the API's exact `_usd` decimals are parsed as
// text. Pure functions, no DOM: unit-tested under node (tests/unit/money.test.ts).

export const NANOS_PER_USD = 1_000_000_000n;

// A value from an answer as nanos: a BigInt, a safe integer, or decimal digits as text.
// null/undefined/anything else: null.
export function toNanos(v: unknown): bigint | null {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : null;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  return null;
}

// Exact USD decimal text ("12.5", "-0.000000001", "1e-3") to nanos, rounded half-even below the
// nano-dollar as the API does. null when the text is not a decimal number.
export function usdToNanos(text: string): bigint | null {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
  if (!m) return null;
  const [, sign, int = '', frac = '', exp] = m;
  if (int === '' && frac === '') return null;
  let digits = (int + frac).replace(/^0+(?=\d)/, '') || '0';
  let scale = frac.length - (exp ? parseInt(exp, 10) : 0); // value = digits * 10^-scale
  if (Math.abs(scale) > 400) return null;
  // Move to scale 9 (nanos).
  let n: bigint;
  if (scale <= 9) {
    n = BigInt(digits) * 10n ** BigInt(9 - scale);
  } else {
    const cut = scale - 9;
    const all = BigInt(digits);
    const div = 10n ** BigInt(cut);
    n = all / div;
    const rest = all % div;
    const twice = rest * 2n;
    if (twice > div || (twice === div && n % 2n === 1n)) n += 1n;
  }
  return sign === '-' ? -n : n;
}

// Nanos as the exact USD decimal text the API reads: "12.5", "0.000000001", "0".
export function nanosToUsdText(n: bigint): string {
  const neg = n < 0n;
  const a = neg ? -n : n;
  const whole = a / NANOS_PER_USD;
  let frac = (a % NANOS_PER_USD).toString().padStart(9, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + whole.toString() + (frac ? '.' + frac : '');
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// Rounds nanos to `decimals` fractional digits of a dollar, half away from zero (display).
function roundTo(n: bigint, decimals: number): bigint {
  const unit = 10n ** BigInt(9 - decimals);
  const a = n < 0n ? -n : n;
  let q = a / unit;
  if ((a % unit) * 2n >= unit) q += 1n;
  return n < 0n ? -q : q;
}

// "$1,234.57": two decimals; an amount that would show as $0.00 but is not zero gets as many
// decimals as it needs (up to 9): "$0.0042", "$0.000000001".
export function formatUsd(n: bigint | null | undefined): string {
  if (n === null || n === undefined) return '—';
  let decimals = 2;
  if (n !== 0n) {
    while (decimals < 9 && roundTo(n, decimals) === 0n) decimals++;
    if (decimals > 2) {
      // Two significant digits for tiny amounts.
      decimals = Math.min(9, decimals + 1);
    }
  }
  const q = roundTo(n, decimals);
  const neg = q < 0n;
  const a = neg ? -q : q;
  const scale = 10n ** BigInt(decimals);
  const whole = groupThousands((a / scale).toString());
  let frac = (a % scale).toString().padStart(decimals, '0');
  if (decimals > 2) frac = frac.replace(/0+$/, '').padEnd(2, '0');
  return (neg ? '-$' : '$') + whole + '.' + frac;
}

// Sum of amounts (nanos of any accepted shape; nulls skipped), exactly.
export function sumNanos(values: Iterable<unknown>): bigint {
  let s = 0n;
  for (const v of values) {
    const n = toNanos(v);
    if (n !== null) s += n;
  }
  return s;
}

// spent / limit in basis points (1 % = 100), rounded down; null without a positive limit.
export function percentBp(spent: bigint, limit: bigint | null): number | null {
  if (limit === null || limit <= 0n) return null;
  return Number((spent * 10_000n) / limit);
}

// Basis points as "64%" (whole) or "0.42%" below 1 %.
export function formatPercentBp(bp: number | null): string {
  if (bp === null) return '—';
  if (bp < 100 && bp > 0) return (bp / 100).toFixed(2) + '%';
  return Math.floor(bp / 100) + '%';
}

// A share of a whole (nanos) as basis points, for "(65%)" columns; 0 when the whole is 0.
export function shareBp(part: bigint, whole: bigint): number {
  if (whole <= 0n) return 0;
  return Number((part * 10_000n) / whole);
}

// Token counts: 950, 12.3k, 4.2M, 1.05B.
export function formatTokens(n: number | bigint | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const v = typeof n === 'bigint' ? Number(n) : n;
  const a = Math.abs(v);
  const fmt = (x: number, unit: string) => {
    const s = x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
    return s.replace(/\.?0+$/, '') + unit;
  };
  if (a < 1000) return String(v);
  if (a < 1e6) return fmt(v / 1e3, 'k');
  if (a < 1e9) return fmt(v / 1e6, 'M');
  return fmt(v / 1e9, 'B');
}

// Whole numbers with separators: 1,234,567.
export function formatCount(n: number | bigint | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const s = (typeof n === 'bigint' ? n : BigInt(Math.trunc(n))).toString();
  return s.startsWith('-') ? '-' + groupThousands(s.slice(1)) : groupThousands(s);
}

// An exact decimal that JSON bodies carry as a number literal (the API reads its text exactly).
export class Decimal {
  constructor(readonly text: string) {}
  static ofNanos(n: bigint): Decimal {
    return new Decimal(nanosToUsdText(n));
  }
}

// JSON.stringify, with Decimal values written as their number text (no float on the way) and
// BigInt values as integers.
export function exactJson(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_k, v) => {
    if (v instanceof Decimal) {
      marks.push(v.text);
      return `\u0000${marks.length - 1}\u0000`;
    }
    if (typeof v === 'bigint') {
      marks.push(v.toString());
      return `\u0000${marks.length - 1}\u0000`;
    }
    return v;
  });
  return text.replace(/"\\u0000(\d+)\\u0000"/g, (_m, i) => marks[Number(i)]);
}

// JSON.parse that keeps every `*_nanos` integer exact as a BigInt: from the number's source text
// where the engine gives it (JSON.parse source access), else from the number when it is safe.
export function parseJsonExact(text: string): unknown {
  return JSON.parse(text, function (this: unknown, key: string, value: unknown, ctx?: { source?: string }) {
    if (typeof value === 'number' && key.endsWith('_nanos')) {
      if (ctx && typeof ctx.source === 'string' && /^-?\d+$/.test(ctx.source)) {
        return BigInt(ctx.source);
      }
      if (Number.isSafeInteger(value)) return BigInt(value);
    }
    return value;
  } as (this: unknown, key: string, value: unknown) => unknown);
}
