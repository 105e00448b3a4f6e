// Sessions normalised from both API shapes; high-token runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { flagHighTokens, normalizeRun, statusLabel } from '../../src/runs.js';

test('the Session shape of /agents/{id}/sessions', () => {
  const r = normalizeRun({
    id: 'ses_1', session_id: 'ses_1', agent_id: 'eng-1', agent_name: 'Eng', task_id: '594', model: 'opus', status: 'completed',
    opened_at: '2026-12-01T10:00:00.000Z', ended_at: '2026-12-01T10:04:12.000Z', duration_minutes: 4,
    cost_usd: 0.012, cost_nanos: 12_000_000n, input_tokens: 2500, output_tokens: 800,
    cache_creation_input_tokens: 10, cache_read_input_tokens: 90, tokens: 3400,
  });
  assert.equal(r.id, 'ses_1');
  assert.equal(r.agentName, 'Eng');
  assert.equal(r.durationMs, 252_000);
  assert.equal(r.costNanos, 12_000_000n);
  assert.equal(r.tokens, 3400);
  assert.equal(r.cacheTokens, 100);
  assert.equal(r.highTokens, null);
  assert.deepEqual(statusLabel(r), { text: 'ended · completed', kind: 'ended' });
});

test('the run-log shape of GET /api/v1/sessions', () => {
  const r = normalizeRun({ id: 's2', agent_id: 'a', status: 'terminated', started_at: '2026-12-01T10:00:00Z', ended_at: null, duration_ms: 61_000, tokens: 9, cost: 1.25, high_tokens: true });
  assert.equal(r.startedAt, '2026-12-01T10:00:00Z');
  assert.equal(r.durationMs, 61_000);
  assert.equal(r.costNanos, 1_250_000_000n);
  assert.equal(r.highTokens, true);
  assert.equal(normalizeRun({ id: 's3', cost: { usd: 0.5, nanos: 500_000_000 } }).costNanos, 500_000_000n);
  assert.equal(normalizeRun({ id: 's4', cost_usd: 0.1 }).costNanos, 100_000_000n);
  assert.equal(normalizeRun({ id: 's5', status: 'active', opened_at: '2026-12-01T10:00:00Z' }).durationMs, null);
  assert.deepEqual(statusLabel(r), { text: 'terminated', kind: 'terminated' });
});

test('high-token runs: the API flag wins, else 3x the median and 10k tokens', () => {
  const rows = [1000, 2000, 2500, 3000, 600_000, 9000].map((t, i) => normalizeRun({ id: `r${i}`, tokens: t }));
  assert.deepEqual([...flagHighTokens(rows)], ['r4']);
  assert.deepEqual([...flagHighTokens(rows.slice(0, 3))], []); // too few to judge
  const flagged = [normalizeRun({ id: 'x', tokens: 5, high_tokens: true }), normalizeRun({ id: 'y', tokens: 900_000, high_tokens: false })];
  assert.deepEqual([...flagHighTokens(flagged)], ['x']);
});
