// Periods of the overview (today / this week / this month / custom) as day ranges in a team's
// time zone, day arithmetic on `YYYY-MM-DD` strings, and "resets in ..." texts. Pure functions
// (time is passed in), unit-tested under node (tests/unit/period.test.ts).

export type PeriodKind = 'today' | 'week' | 'month' | 'custom';

export interface PeriodRange {
  kind: PeriodKind;
  start: string; // first day, YYYY-MM-DD, inclusive
  end: string; // last day, inclusive
  // The `period` the usage reads take for it; null for a custom range (summed from daily rows).
  apiPeriod: 'day' | 'week' | 'month' | null;
}

export const MAX_RANGE_DAYS = 366; // what GET /api/v1/usage/daily serves at most

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isDay(s: string): boolean {
  const m = DAY_RE.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return d.getUTCFullYear() === +m[1] && d.getUTCMonth() === +m[2] - 1 && d.getUTCDate() === +m[3];
}

function dayToUtcMs(day: string): number {
  const m = DAY_RE.exec(day);
  if (!m) throw new Error(`not a day: ${day}`);
  return Date.UTC(+m[1], +m[2] - 1, +m[3]);
}

function utcMsToDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function addDays(day: string, n: number): string {
  return utcMsToDay(dayToUtcMs(day) + n * 86_400_000);
}

// Days from a to b (b - a); 0 for the same day.
export function daysBetween(a: string, b: string): number {
  return Math.round((dayToUtcMs(b) - dayToUtcMs(a)) / 86_400_000);
}

// Every day from start to end, both included.
export function eachDay(start: string, end: string): string[] {
  const out: string[] = [];
  for (let d = start; d <= end; d = addDays(d, 1)) out.push(d);
  return out;
}

// The calendar day of an instant in an IANA time zone ("UTC" when empty or unknown).
export function dayIn(timeZone: string | null | undefined, at: Date): string {
  const fmt = (tz: string) =>
    new Intl.DateTimeFormat('en-CA', {
      timeZone: tz,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    }).format(at);
  try {
    return fmt(timeZone || 'UTC');
  } catch {
    return fmt('UTC');
  }
}

// The range of a period ending `today` (the team's day). week is the 7 days ending today, as
// GET /api/v1/usage/summary?period=week counts it.
export function periodRange(
  kind: PeriodKind,
  today: string,
  custom?: { start: string; end: string },
): PeriodRange {
  switch (kind) {
    case 'today':
      return { kind, start: today, end: today, apiPeriod: 'day' };
    case 'week':
      return { kind, start: addDays(today, -6), end: today, apiPeriod: 'week' };
    case 'month':
      return { kind, start: today.slice(0, 8) + '01', end: today, apiPeriod: 'month' };
    case 'custom': {
      if (!custom) throw new Error('a custom period needs start and end');
      const err = validateCustomRange(custom.start, custom.end);
      if (err) throw new Error(err);
      return { kind, start: custom.start, end: custom.end, apiPeriod: null };
    }
  }
}

// Why a custom range is not acceptable, or null when it is.
export function validateCustomRange(start: string, end: string): string | null {
  if (!isDay(start)) return 'the start must be a date (YYYY-MM-DD)';
  if (!isDay(end)) return 'the end must be a date (YYYY-MM-DD)';
  if (start > end) return 'the start must not be after the end';
  if (daysBetween(start, end) + 1 > MAX_RANGE_DAYS) {
    return `a range holds at most ${MAX_RANGE_DAYS} days`;
  }
  return null;
}

// "in 3 h 12 min", "in 45 s", "in 2 d 4 h"; "now" when past.
export function formatResetIn(resetsAt: string | null | undefined, now: Date): string {
  if (!resetsAt) return 'never';
  const t = Date.parse(resetsAt);
  if (Number.isNaN(t)) return 'unknown';
  let s = Math.floor((t - now.getTime()) / 1000);
  if (s <= 0) return 'now';
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `in ${d} d${h ? ` ${h} h` : ''}`;
  if (h > 0) return `in ${h} h${m ? ` ${m} min` : ''}`;
  if (m > 0) return `in ${m} min`;
  return `in ${s} s`;
}

// A duration in ms as "1 h 05 min", "4 min 12 s", "12 s".
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  let s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(s).padStart(2, '0')} s`;
  return `${s} s`;
}
