// The team page: this month's spend against the budget, input vs output vs cache tokens, the
// cost trend of the last 30 days, the cost of each run, the sessions (status, duration, tokens,
// cost), the agents with their month, and the team's limits with their use. Re-read (at most
// every 10 s) when the stream says something changed.

import { enc, get, query } from '../api.js';
import { costChart } from '../charts.js';
import { bar, clear, errorText, h, levelOf, message, section } from '../dom.js';
import { teamRuns } from '../data.js';
import { formatCount, formatPercentBp, formatUsd, percentBp, toNanos } from '../money.js';
import { throttle, type Page, type PageContext } from '../page.js';
import { addDays, dayIn, eachDay } from '../period.js';
import { flagHighTokens } from '../runs.js';
import { runTable } from '../runtable.js';
import { selectedZone } from '../session.js';
import { breakdown, gauge, gaugeLineOf, tokenSplit } from '../widgets.js';

const n = (v: unknown) => toNanos(v) ?? 0n;

export async function teamPage(ctx: PageContext): Promise<Page> {
  const team = ctx.session.team;
  if (!team) {
    ctx.root.append(
      h('h1', null, 'Team'),
      message('info', 'Pick a team in the selector above to see its page (the org view shows every team on the overview).'),
    );
    return {};
  }
  const zone = selectedZone();
  const body = h('div', { 'data-test': 'team' });
  ctx.root.append(h('div', { class: 'page-head' }, h('h1', null, `Team ${team}`), h('span', { class: 'muted' }, zone)), body);

  async function load(): Promise<void> {
    const today = dayIn(zone, new Date());
    const start = addDays(today, -29);
    try {
      const t = { team_id: team };
      const [summary, daily, byAgent, status, runs] = await Promise.all([
        get(`/api/v1/usage/summary${query({ period: 'month', ...t })}`, ctx.signal),
        get(`/api/v1/usage/daily${query({ start, end: today, ...t })}`, ctx.signal),
        get(`/api/v1/usage/by-agent${query({ period: 'month', ...t })}`, ctx.signal),
        get(`/api/v1/limits/status${query(t)}`, ctx.signal),
        teamRuns(team, { limit: 100 }, ctx.signal),
      ]);
      clear(body);
      const spent = n(summary.total_cost_nanos);
      const limit = toNanos(summary.cost_limit_nanos);
      const bp = percentBp(spent, limit);
      const days = new Map<string, bigint>((daily.days ?? []).map((d: any) => [d.date, n(d.total_cost_nanos)]));
      const dayList = eachDay(start, today);
      const trend = costChart({ labels: dayList.map((d) => d.slice(5)), values: dayList.map((d) => days.get(d) ?? 0n), kind: 'line', color: '#7a4fd0' });
      const chrono = [...runs.runs].reverse().slice(-60);
      const perRun = costChart({ labels: chrono.map((_, i) => String(i + 1)), values: chrono.map((r) => r.costNanos), color: '#2f9e72' });
      const high = flagHighTokens(runs.runs);
      body.append(
        h(
          'div',
          { class: 'cards' },
          h(
            'div',
            { class: 'card' },
            h('div', { class: 'card-title' }, 'Spend this month'),
            h('div', { class: 'card-value num', 'data-test': 'month-spend', 'data-nanos': spent.toString() }, formatUsd(spent)),
            limit !== null ? [bar(bp ?? 0, levelOf(bp)), h('div', { class: 'muted' }, `${formatPercentBp(bp)} of ${formatUsd(limit)} monthly limit`)] : h('div', { class: 'muted' }, 'no monthly limit'),
          ),
          h(
            'div',
            { class: 'card wide' },
            h('div', { class: 'card-title' }, 'Tokens this month'),
            tokenSplit({
              input: BigInt(summary.total_input_tokens ?? 0),
              output: BigInt(summary.total_output_tokens ?? 0),
              cacheWrite: BigInt(summary.total_cache_creation_input_tokens ?? 0),
              cacheRead: BigInt(summary.total_cache_read_input_tokens ?? 0),
            }),
            h('div', { class: 'muted' }, `${formatCount(summary.run_count ?? 0)} runs, ${summary.avg_tokens_per_run === null ? '—' : formatCount(summary.avg_tokens_per_run)} tokens per run on average`),
          ),
        ),
        h('div', { class: 'two-col' }, section('Cost trend (30 days)', trend), section('Cost per run', perRun)),
        h(
          'div',
          { class: 'two-col' },
          section(
            'Agents this month',
            breakdown(
              (byAgent.agents ?? []).map((a: any) => ({ key: a.agent_id ?? '', label: a.agent_name || a.agent_id || '(no agent)', nanos: n(a.total_cost_nanos), href: a.agent_id ? `#/agent/${enc(a.agent_id)}` : undefined })),
              'team-agents',
            ),
          ),
          section(
            'Budgets',
            (status.limits ?? []).length
              ? h('div', { class: 'gauges' }, (status.limits ?? []).map((l: any) => gauge(gaugeLineOf(l), new Date())))
              : h('p', { class: 'muted' }, 'No limits set.'),
          ),
        ),
        section(
          runs.source === 'run-log' ? 'Sessions (newest first)' : 'Sessions opened this month',
          runTable(runs.runs, { highTokens: high, timeZone: zone, test: 'team-runs' }),
        ),
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
      if (m.event === 'usage' || m.event === 'session' || m.event === 'limits' || m.event === 'reset') reload();
    },
    dispose: () => reload.cancel(),
  };
}
