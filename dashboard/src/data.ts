// Reads several pages share. A team's sessions come from the run log (GET /api/v1/sessions,
// newest first, paged) and, on a node that does not serve it yet, from the team's costs of the
// month (the sessions opened this month), filtered here.

import { enc, get, getOptional, query } from './api.js';
import { normalizeRun, type Run } from './runs.js';

export interface RunPage {
  runs: Run[];
  nextCursor: string | null;
  source: 'run-log' | 'month'; // month: the fallback, this month's sessions only
}

export async function teamRuns(
  team: string,
  f: { agent?: string; status?: string; limit?: number; cursor?: string | null },
  signal?: AbortSignal,
): Promise<RunPage> {
  const log = await getOptional(
    `/api/v1/sessions${query({ team_id: team, agent_id: f.agent, status: f.status, limit: f.limit ?? 100, cursor: f.cursor ?? undefined })}`,
    signal,
  );
  if (log) {
    const rows: any[] = log.sessions ?? log.runs ?? log.items ?? [];
    return { runs: rows.map(normalizeRun), nextCursor: log.next_cursor ?? null, source: 'run-log' };
  }
  const costs = await get(`/api/v1/teams/${enc(team)}/costs?period=month`, signal);
  let runs: Run[] = (costs.sessions ?? []).map(normalizeRun);
  if (f.agent) runs = runs.filter((r) => r.agentId === f.agent);
  if (f.status) {
    runs = runs.filter((r) =>
      f.status === 'ended' ? r.status === 'completed' || r.status === 'failed' : r.status === f.status,
    );
  }
  runs.sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
  return { runs: runs.slice(0, f.limit ?? 100), nextCursor: null, source: 'month' };
}
