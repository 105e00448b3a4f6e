// Validation of the budget forms, before anything is sent: dollar amounts (exact, to the
// nano-dollar), token and session counts, alert thresholds. An empty field means "no limit".
// Pure; unit-tested under node (tests/unit/validate.test.ts).

import { usdToNanos } from './money.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

const MAX_NANOS = 9_223_372_036_854_775_807n; // int64: what the ledger holds

// "" -> null (no limit); "12.50" -> 12500000000n.
export function checkMoney(text: string): Checked<bigint | null> {
  const t = text.trim().replace(/^\$/, '').replace(/,/g, '');
  if (t === '') return { ok: true, value: null };
  if (!/^\d*(\.\d*)?$/.test(t) || t === '.') {
    return { ok: false, error: 'an amount in dollars, like 12.50' };
  }
  const frac = t.split('.')[1] ?? '';
  if (frac.length > 9) return { ok: false, error: 'at most 9 decimals (a nano-dollar)' };
  const n = usdToNanos(t);
  if (n === null) return { ok: false, error: 'an amount in dollars, like 12.50' };
  if (n > MAX_NANOS) return { ok: false, error: 'too large' };
  return { ok: true, value: n };
}

// "" -> null; a whole number from 0.
export function checkCount(text: string, what = 'a whole number'): Checked<number | null> {
  const t = text.trim().replace(/[,_ ]/g, '');
  if (t === '') return { ok: true, value: null };
  if (!/^\d+$/.test(t)) return { ok: false, error: `${what} from 0, without decimals` };
  const v = Number(t);
  if (!Number.isSafeInteger(v)) return { ok: false, error: 'too large' };
  return { ok: true, value: v };
}

export const LEVELS = ['info', 'warning', 'critical', 'exceeded'] as const;

export interface ThresholdInput {
  percent: string;
  level: string;
  message: string;
}

export interface Threshold {
  percent: number;
  level: string;
  message?: string;
}

// Every row checked; errors by row index. Percents 1..10000, each once; a known level.
export function checkThresholds(rows: ThresholdInput[]): Checked<Threshold[]> & { rowErrors?: Map<number, string> } {
  const out: Threshold[] = [];
  const errs = new Map<number, string>();
  const seen = new Set<number>();
  rows.forEach((r, i) => {
    const t = r.percent.trim();
    if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > 10_000) {
      errs.set(i, 'percent: a whole number from 1 to 10000');
      return;
    }
    const p = Number(t);
    if (seen.has(p)) {
      errs.set(i, `${p}% is listed twice`);
      return;
    }
    seen.add(p);
    if (!(LEVELS as readonly string[]).includes(r.level)) {
      errs.set(i, 'level: info, warning, critical or exceeded');
      return;
    }
    const th: Threshold = { percent: p, level: r.level };
    if (r.message.trim()) th.message = r.message.trim();
    out.push(th);
  });
  if (errs.size) return { ok: false, error: 'fix the marked thresholds', rowErrors: errs };
  out.sort((a, b) => a.percent - b.percent);
  return { ok: true, value: out };
}
