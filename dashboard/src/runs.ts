// Sessions (runs) as the pages show them, normalised from the shapes the API gives: the
// Session of /agents/{id}/sessions and /teams/{id}/costs, and the run-log rows of
// GET /api/v1/sessions (id, started_at, duration_ms, tokens, cost, high_tokens). Pure.

import { toNanos, usdToNanos } from './money.js';

export interface Run {
  id: string;
  agentId: string;
  agentName: string;
  taskId: string | null;
  model: string;
  status: string; // active | queued | completed | failed | terminated
  reason: string | null;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null; // null while running: computed from startedAt
  tokens: number;
  inputTokens: number | null;
  outputTokens: number | null;
  cacheTokens: number | null;
  costNanos: bigint;
  highTokens: boolean | null; // from the API; null when it did not say
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'bigint' ? Number(v) : null;
}

function costOf(s: any): bigint {
  const direct = toNanos(s.cost_nanos);
  if (direct !== null) return direct;
  const c = s.cost;
  if (c && typeof c === 'object') {
    const n = toNanos(c.nanos ?? c.cost_nanos);
    if (n !== null) return n;
    if (typeof c.usd === 'number') return usdToNanos(String(c.usd)) ?? 0n;
  }
  if (typeof c === 'number') return usdToNanos(String(c)) ?? 0n; // USD
  if (typeof c === 'string') return usdToNanos(c) ?? 0n;
  if (typeof s.cost_usd === 'number') return usdToNanos(String(s.cost_usd)) ?? 0n;
  return 0n;
}

export function normalizeRun(s: any): Run {
  const started: string | null = s.started_at ?? s.opened_at ?? null;
  const ended: string | null = s.ended_at ?? null;
  let durationMs = num(s.duration_ms);
  if (durationMs === null && ended && started) durationMs = Date.parse(ended) - Date.parse(started);
  if (durationMs === null && num(s.duration_minutes) !== null && ended) durationMs = num(s.duration_minutes)! * 60_000;
  const input = num(s.input_tokens);
  const output = num(s.output_tokens);
  const cw = num(s.cache_creation_input_tokens) ?? 0;
  const cr = num(s.cache_read_input_tokens) ?? 0;
  let tokens = num(s.tokens) ?? num(s.total_tokens);
  if (tokens === null) tokens = (input ?? 0) + (output ?? 0) + cw + cr;
  return {
    id: String(s.id ?? s.session_id ?? ''),
    agentId: String(s.agent_id ?? ''),
    agentName: String(s.agent_name ?? s.agent_id ?? ''),
    taskId: s.task_id ?? null,
    model: String(s.model ?? ''),
    status: String(s.status ?? ''),
    reason: s.reason ?? null,
    startedAt: started,
    endedAt: ended,
    durationMs,
    tokens,
    inputTokens: input,
    outputTokens: output,
    cacheTokens: input === null ? null : cw + cr,
    costNanos: costOf(s),
    highTokens: typeof s.high_tokens === 'boolean' ? s.high_tokens : null,
  };
}

// Runs of unusually many tokens, where the API does not flag them: at least 3x the median of
// the list (of 4 runs or more) and at least 10,000 tokens.
export function flagHighTokens(runs: Run[]): Set<string> {
  const out = new Set<string>();
  const flagged = runs.filter((r) => r.highTokens !== null);
  if (flagged.length > 0) {
    for (const r of flagged) if (r.highTokens) out.add(r.id);
    return out;
  }
  if (runs.length < 4) return out;
  const sorted = runs.map((r) => r.tokens).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  for (const r of runs) if (r.tokens >= Math.max(10_000, 3 * median)) out.add(r.id);
  return out;
}

// What the status column says: active, queued, terminated, or ended (completed / failed).
export function statusLabel(r: Run): { text: string; kind: string } {
  switch (r.status) {
    case 'active':
      return { text: 'active', kind: 'active' };
    case 'queued':
      return { text: 'queued', kind: 'queued' };
    case 'terminated':
      return { text: 'terminated', kind: 'terminated' };
    case 'completed':
    case 'failed':
    case 'ended':
      return { text: `ended · ${r.status === 'ended' ? (r.reason ?? 'completed') : r.status}`, kind: r.status === 'failed' ? 'failed' : 'ended' };
    default:
      return { text: r.status || 'unknown', kind: 'ended' };
  }
}
