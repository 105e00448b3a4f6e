// The agent page (#/agent/<id>): this month's spend, input vs output vs cache tokens, the cost
// trend (per day, from its sessions), the cost of each run, its sessions, and every limit that
// encloses it (GET /api/v1/agents/{id}/budget) with its use and reset time.

import { enc, get, query } from '../api.js';
import { costChart } from '../charts.js';
import { clear, errorText, h, message, section } from '../dom.js';
import { formatCount, formatUsd, toNanos } from '../money.js';
import { throttle, type Page, type PageContext } from '../page.js';
import { addDays, dayIn, eachDay } from '../period.js';
import { flagHighTokens, normalizeRun } from '../runs.js';
import { runTable } from '../runtable.js';
import { selectedZone } from '../session.js';
import { gauge, type GaugeLine, tokenSplit } from '../widgets.js';

const n = (v: unknown) => toNanos(v) ?? 0n;

function budgetLine(l: any): GaugeLine {
  const cost = l.metric === 'cost';
  return {
    scope: String(l.scope ?? ''),
    window: String(l.window ?? ''),
    metric: String(l.metric ?? ''),
    limit: (cost ? toNanos(l.limit_nanos) : toNanos(l.limit)) ?? 0n,
    spent: (cost ? toNanos(l.spent_nanos) : toNanos(l.spent)) ?? 0n,
    reserved: (cost ? toNanos(l.reserved_nanos) : 0n) ?? 0n,
    resetsAt: l.resets_at ?? null,
  };
}

export async function agentPage(ctx: PageContext): Promise<Page> {
  const agent = ctx.params[0];
  if (!agent) {
    ctx.root.append(message('error', 'No agent named in the address (#/agent/<id>).'));
    return {};
  }
  const zone = selectedZone();
  const body = h('div', { 'data-test': 'agent' });
  ctx.root.append(h('div', { class: 'page-head' }, h('h1', null, `Agent ${agent}`), h('a', { href: '#/team' }, '← team')), body);

  async function load(): Promise<void> {
    try {
      const [sessions, budget] = await Promise.all([
        get(`/api/v1/agents/${enc(agent)}/sessions`, ctx.signal),
        get(`/api/v1/agents/${enc(agent)}/budget`, ctx.signal),
      ]);
      const team = budget.team_id as string;
      const byAgent = await get(`/api/v1/usage/by-agent${query({ period: 'month', team_id: team })}`, ctx.signal);
      const mine = (byAgent.agents ?? []).find((a: any) => a.agent_id === agent) ?? {};
      const runs = (sessions.sessions ?? []).map(normalizeRun).sort((a: any, b: any) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
      clear(body);
      const today = dayIn(zone, new Date());
      const start = addDays(today, -29);
      const perDay = new Map<string, bigint>();
      for (const r of runs) {
        if (!r.startedAt) continue;
        const d = dayIn(zone, new Date(r.startedAt));
        perDay.set(d, (perDay.get(d) ?? 0n) + r.costNanos);
      }
      const days = eachDay(start, today);
      const chrono = [...runs].reverse().slice(-60);
      const spent = n(mine.total_cost_nanos);
      body.append(
        h(
          'div',
          { class: 'cards' },
          h(
            'div',
            { class: 'card' },
            h('div', { class: 'card-title' }, 'Spend this month'),
            h('div', { class: 'card-value num', 'data-test': 'agent-month-spend', 'data-nanos': spent.toString() }, formatUsd(spent)),
            h('div', { class: 'muted' }, `${formatCount(mine.run_count ?? 0)} runs this month · team ${team}`),
          ),
          h(
            'div',
            { class: 'card wide' },
            h('div', { class: 'card-title' }, 'Tokens this month'),
            tokenSplit({
              input: BigInt(mine.total_input_tokens ?? 0),
              output: BigInt(mine.total_output_tokens ?? 0),
              cacheWrite: BigInt(mine.total_cache_creation_input_tokens ?? 0),
              cacheRead: BigInt(mine.total_cache_read_input_tokens ?? 0),
            }),
          ),
        ),
        h(
          'div',
          { class: 'two-col' },
          section('Cost trend (30 days, by session start)', costChart({ labels: days.map((d) => d.slice(5)), values: days.map((d) => perDay.get(d) ?? 0n), kind: 'line', color: '#7a4fd0' })),
          section('Cost per run', costChart({ labels: chrono.map((_, i) => String(i + 1)), values: chrono.map((r) => r.costNanos), color: '#2f9e72' })),
        ),
        section(
          'Budgets',
          (budget.limits ?? []).length
            ? h('div', { class: 'gauges', 'data-test': 'agent-budgets' }, (budget.limits ?? []).map((l: any) => gauge(budgetLine(l), new Date())))
            : h('p', { class: 'muted', 'data-test': 'agent-budgets' }, `No limit encloses this agent. Spent today ${formatUsd(n(budget.daily_spent_nanos))}.`),
        ),
        section('Sessions', runTable(runs, { showAgent: false, highTokens: flagHighTokens(runs), timeZone: zone, test: 'agent-runs' })),
      );
    } catch (e) {
      if (ctx.signal.aborted) return;
      clear(body);
      body.appendChild(message('error', errorText(e)));
    }
  }

  const reload = throttle(() => void load(), 10_000);
  await load();
  return {
    onStream(m) {
      if ((m.event === 'usage' || m.event === 'session') && m.data?.agent_id && m.data.agent_id !== agent) return;
      if (m.event !== 'alert') reload();
    },
    dispose: () => reload.cancel(),
  };
}
