// Period ranges, day arithmetic, reset and duration texts.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  addDays,
  dayIn,
  daysBetween,
  eachDay,
  formatDuration,
  formatResetIn,
  isDay,
  periodRange,
  validateCustomRange,
} from '../../src/period.js';

test('periods end today; the week is the 7 days ending today, as the API counts it', () => {
  assert.deepEqual(periodRange('today', '2026-02-05'), { kind: 'today', start: '2026-02-05', end: '2026-02-05', apiPeriod: 'day' });
  assert.deepEqual(periodRange('week', '2026-03-02'), { kind: 'week', start: '2026-02-24', end: '2026-03-02', apiPeriod: 'week' });
  assert.deepEqual(periodRange('month', '2026-02-28'), { kind: 'month', start: '2026-02-01', end: '2026-02-28', apiPeriod: 'month' });
  assert.deepEqual(periodRange('custom', '2026-02-28', { start: '2025-12-30', end: '2026-01-02' }), {
    kind: 'custom',
    start: '2025-12-30',
    end: '2026-01-02',
    apiPeriod: null,
  });
  assert.throws(() => periodRange('custom', '2026-02-28', { start: '2026-02-02', end: '2026-02-01' }), /not be after/);
});

test('custom ranges are checked', () => {
  assert.equal(validateCustomRange('2026-01-01', '2026-01-01'), null);
  assert.match(validateCustomRange('2026-02-30', '2026-03-01')!, /start must be a date/);
  assert.match(validateCustomRange('2026-01-01', 'tomorrow')!, /end must be a date/);
  assert.match(validateCustomRange('2026-01-02', '2026-01-01')!, /not be after/);
  assert.equal(validateCustomRange('2024-01-01', '2024-12-31'), null); // 366 days (leap year)
  assert.match(validateCustomRange('2024-01-01', '2025-01-01')!, /at most 366/);
});

test('day arithmetic crosses months, years and leap days', () => {
  assert.equal(addDays('2024-02-28', 1), '2024-02-29');
  assert.equal(addDays('2025-02-28', 1), '2025-03-01');
  assert.equal(addDays('2026-01-01', -1), '2025-12-31');
  assert.equal(daysBetween('2026-03-28', '2026-04-02'), 5);
  assert.deepEqual(eachDay('2026-12-30', '2027-01-02'), ['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02']);
  assert.equal(isDay('2026-02-29'), false);
  assert.equal(isDay('2028-02-29'), true);
});

test("a team's day is its time zone's", () => {
  const at = new Date('2026-11-30T23:30:00Z');
  assert.equal(dayIn('UTC', at), '2026-11-30');
  assert.equal(dayIn('Europe/Paris', at), '2026-12-01');
  assert.equal(dayIn('America/New_York', at), '2026-11-30');
  assert.equal(dayIn('Not/AZone', at), '2026-11-30'); // falls back to UTC
  assert.equal(dayIn('', at), '2026-11-30');
});

test('reset times and durations read as people say them', () => {
  const now = new Date('2026-12-01T10:00:00Z');
  assert.equal(formatResetIn('2026-12-02T00:00:00Z', now), 'in 14 h');
  assert.equal(formatResetIn('2026-12-01T13:12:30Z', now), 'in 3 h 12 min');
  assert.equal(formatResetIn('2026-12-01T10:00:45Z', now), 'in 45 s');
  assert.equal(formatResetIn('2027-01-01T00:00:00Z', now), 'in 30 d 14 h');
  assert.equal(formatResetIn('2026-12-01T09:00:00Z', now), 'now');
  assert.equal(formatResetIn(null, now), 'never');
  assert.equal(formatDuration(3_723_000), '1 h 02 min');
  assert.equal(formatDuration(252_000), '4 min 12 s');
  assert.equal(formatDuration(999), '0 s');
  assert.equal(formatDuration(null), '—');
});
