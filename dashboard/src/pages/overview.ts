// The overview (the cost-management spec's "Usage & Costs"): period picker; total cost with %
// of the budget, total tokens, agent runs; daily spend bars; cost by agent, by model and (org
// keys) by team; a gauge per limit with its reset time; the optimisation insights. Usage from
// the live stream is added to the figures at once (nanos, exactly), and the page re-reads the
// API at most every 15 s to stay in line with it.

import { ApiError, enc, get, getOptional, post, query } from '../api.js';
import { costChart } from '../charts.js';
import { append, bar, clear, errorText, h, levelOf, message, section } from '../dom.js';
import { formatCount, formatPercentBp, formatTokens, formatUsd, percentBp, toNanos, usdToNanos } from '../money.js';
import type { Page, PageContext } from '../page.js';
import { throttle } from '../page.js';
import { dayIn, eachDay, type PeriodKind, type PeriodRange, periodRange, validateCustomRange } from '../period.js';
import { selectedZone } from '../session.js';
import type { StreamMessage } from '../stream.js';
import { breakdown, type BreakdownRow, gauge, type GaugeLine, gaugeLineOf, periodPicker } from '../widgets.js';

interface Model {
  range: PeriodRange;
  totalNanos: bigint;
  tokens: bigint;
  runs: number;
  limitNanos: bigint | null;
  limitWindow: string;
  daily: Map<string, bigint>;
  agents: BreakdownRow[];
  models: BreakdownRow[];
  teams: BreakdownRow[] | null; // org-wide keys only
  breakdownNote: string | null;
  gauges: GaugeLine[];
  insights: any[] | null; // null: not served by this node
  insightsError: string | null;
}

function readPeriod(q: URLSearchParams): { kind: PeriodKind; start?: string; end?: string } {
  const k = q.get('period');
  const kind: PeriodKind = k === 'today' || k === 'week' || k === 'custom' ? k : 'month';
  if (kind === 'custom') {
    const start = q.get('start') ?? '';
    const end = q.get('end') ?? '';
    if (validateCustomRange(start, end) === null) return { kind, start, end };
    return { kind: 'month' };
  }
  return { kind };
}

const n = (v: unknown) => toNanos(v) ?? 0n;

export async function overviewPage(ctx: PageContext): Promise<Page> {
  const s = ctx.session;
  const team = s.team;
  const zone = selectedZone();
  let choice = readPeriod(ctx.query);
  let model: Model | null = null;

  const picker = periodPicker(choice, (v) => {
    choice = v;
    ctx.setQuery({ period: v.kind, start: v.start ?? null, end: v.end ?? null });
    void load();
  });
  const body = h('div', { 'data-test': 'overview' });
  const title = team ? `Usage & Costs · ${team}` : 'Usage & Costs · all teams';
  ctx.root.append(h('div', { class: 'page-head' }, h('h1', null, title), picker), body);

  // A read in flight may predate an event the stream delivers meanwhile: read again after it.
  let inFlight = false;
  let missed = false;

  async function load(): Promise<void> {
    inFlight = true;
    missed = false;
    try {
      await read();
    } finally {
      inFlight = false;
      if (missed && !ctx.signal.aborted) reload();
    }
  }

  async function read(): Promise<void> {
    const today = dayIn(zone, new Date());
    const range = periodRange(choice.kind, today, choice.kind === 'custom' ? { start: choice.start!, end: choice.end! } : undefined);
    const t = { team_id: team || undefined };
    const p = range.apiPeriod ?? 'month';
    try {
      const [summary, daily, byAgent, byModel, byProject, status, insights] = await Promise.all([
        range.apiPeriod ? get(`/api/v1/usage/summary${query({ period: p, ...t })}`, ctx.signal) : Promise.resolve(null),
        get(`/api/v1/usage/daily${query({ start: range.start, end: range.end, ...t })}`, ctx.signal),
        get(`/api/v1/usage/by-agent${query({ period: p, ...t })}`, ctx.signal),
        get(`/api/v1/usage/by-model${query({ period: p, ...t })}`, ctx.signal),
        s.orgWide ? get(`/api/v1/usage/by-project${query({ period: p })}`, ctx.signal) : Promise.resolve(null),
        get(`/api/v1/limits/status${query(t)}`, ctx.signal),
        team
          ? getOptional(`/api/v1/insights${query(t)}`, ctx.signal).catch((e) => ({ error: errorText(e) }))
          : Promise.resolve({ insights: [], org: true }),
      ]);
      const days = new Map<string, bigint>();
      for (const d of daily.days ?? []) days.set(d.date, n(d.total_cost_nanos));
      let totalNanos: bigint, tokens: bigint, runs: number;
      if (summary) {
        totalNanos = n(summary.total_cost_nanos);
        tokens = BigInt(summary.total_tokens ?? 0);
        runs = Number(summary.run_count ?? 0);
      } else {
        // A custom range: the sum of its days, exactly.
        totalNanos = 0n;
        tokens = 0n;
        runs = 0;
        for (const d of daily.days ?? []) {
          totalNanos += n(d.total_cost_nanos);
          tokens += BigInt(d.total_tokens ?? 0);
          runs += Number(d.run_count ?? 0);
        }
      }
      model = {
        range,
        totalNanos,
        tokens,
        runs,
        limitNanos: summary ? toNanos(summary.cost_limit_nanos) : null,
        limitWindow: range.apiPeriod === 'day' ? 'daily' : 'monthly',
        daily: days,
        agents: (byAgent.agents ?? []).map((a: any) => ({
          key: `${a.team_id}/${a.agent_id ?? ''}`,
          label: a.agent_id === null ? `(no agent) ${a.team_id}` : a.agent_name || a.name || a.agent_id,
          nanos: n(a.total_cost_nanos),
          href: a.agent_id ? `#/agent/${enc(a.agent_id)}` : undefined,
          sub: team ? undefined : a.team_id,
        })),
        models: (byModel.models ?? []).map((m: any) => ({ key: m.model ?? '', label: m.model ?? '(other models)', nanos: n(m.total_cost_nanos) })),
        teams: byProject
          ? (byProject.projects ?? []).map((t: any) => ({ key: t.team_id, label: t.name || t.team_id, nanos: n(t.total_cost_nanos) }))
          : null,
        breakdownNote: range.apiPeriod ? null : 'By agent, model and team: this month (the API totals those by day, week or month).',
        gauges: (status.limits ?? []).map(gaugeLineOf),
        insights: insights && 'error' in insights ? [] : insights ? (insights.insights ?? []).filter((i: any) => !i.dismissed) : null,
        insightsError: insights && 'error' in insights ? insights.error : null,
      };
      draw();
    } catch (e) {
      if (ctx.signal.aborted) return;
      clear(body);
      body.appendChild(message('error', errorText(e), 'overview-error'));
    }
  }

  function draw(): void {
    if (!model) return;
    const m = model;
    clear(body);
    const bp = percentBp(m.totalNanos, m.limitNanos);
    const costCard = h(
      'div',
      { class: 'card' },
      h('div', { class: 'card-title' }, 'Total Cost'),
      h('div', { class: 'card-value num', 'data-test': 'total-cost', 'data-nanos': m.totalNanos.toString() }, formatUsd(m.totalNanos)),
      m.limitNanos !== null
        ? [
            bar(bp ?? 0, levelOf(bp)),
            h('div', { class: 'muted', 'data-test': 'budget-share' }, `${formatPercentBp(bp)} of ${formatUsd(m.limitNanos)} ${m.limitWindow} limit`),
          ]
        : h('div', { class: 'muted' }, m.range.apiPeriod === 'week' ? 'no weekly limit' : m.range.apiPeriod ? 'no limit set' : `${m.range.start} – ${m.range.end}`),
    );
    const tokensCard = h(
      'div',
      { class: 'card' },
      h('div', { class: 'card-title' }, 'Total Tokens'),
      h('div', { class: 'card-value num', 'data-test': 'total-tokens', 'data-tokens': m.tokens.toString(), title: formatCount(m.tokens) }, formatTokens(m.tokens)),
      h('div', { class: 'muted' }, formatCount(m.tokens) + ' tokens'),
    );
    const runsCard = h(
      'div',
      { class: 'card' },
      h('div', { class: 'card-title' }, 'Agent Runs'),
      h('div', { class: 'card-value num', 'data-test': 'agent-runs', 'data-runs': String(m.runs) }, formatCount(m.runs)),
      h('div', { class: 'muted' }, 'sessions opened'),
    );
    const days = eachDay(m.range.start, m.range.end);
    const chart = costChart({
      labels: days.map((d) => String(Number(d.slice(8)))),
      values: days.map((d) => m.daily.get(d) ?? 0n),
      height: 200,
    });
    chart.dataset.test = 'daily-chart';
    chart.dataset.sum = days.reduce((s, d) => s + (m.daily.get(d) ?? 0n), 0n).toString();

    const gauges = m.gauges.length
      ? h('div', { class: 'gauges', 'data-test': 'gauges' }, m.gauges.map((g) => gauge(g, new Date())))
      : h('p', { class: 'muted', 'data-test': 'gauges' }, 'No limits are set for this scope.');

    append(body, [
      h('div', { class: 'cards' }, costCard, tokensCard, runsCard),
      section('Daily Usage', chart),
      h(
        'div',
        { class: 'two-col' },
        section('Cost by Agent', breakdown(m.agents, 'by-agent')),
        section('Cost by Model', breakdown(m.models, 'by-model')),
      ),
      m.breakdownNote ? h('p', { class: 'muted small' }, m.breakdownNote) : null,
      m.teams ? section('Cost by Team', breakdown(m.teams.map((t) => ({ ...t, href: undefined })), 'by-team')) : null,
      section('Budgets', gauges),
      section('Optimization Suggestions', insightsList(m)),
    ]);
  }

  // The estimated monthly saving in nanos, from whichever spelling the node gives.
  function savingOf(i: any): bigint | null {
    for (const k of ['estimated_monthly_saving', 'monthly_saving']) {
      const n = toNanos(i[`${k}_nanos`]);
      if (n !== null) return n;
      if (typeof i[`${k}_usd`] === 'number') return usdToNanos(String(i[`${k}_usd`]));
    }
    return null;
  }

  function insightsList(m: Model): HTMLElement {
    if (m.insightsError) return message('error', m.insightsError);
    if (m.insights === null) return h('p', { class: 'muted', 'data-test': 'insights-na' }, 'Insights are not available on this node.');
    if (!team) return h('p', { class: 'muted', 'data-test': 'insights' }, 'Insights are per team: pick a team above to see its suggestions.');
    if (m.insights.length === 0) return h('p', { class: 'muted', 'data-test': 'insights' }, 'No suggestions: nothing to optimise right now.');
    return h(
      'div',
      { class: 'insights', 'data-test': 'insights' },
      m.insights.map((i) => {
        const saving = savingOf(i);
        const status = h('span', { class: 'small' });
        const detail = i.detail ?? i.suggestion;
        return h(
          'div',
          { class: 'insight', 'data-test': 'insight', 'data-id': i.id, 'data-rule': i.rule, 'data-saving': saving === null ? '' : saving.toString() },
          h('div', { class: 'insight-title' }, i.title ?? i.rule),
          detail ? h('div', { class: 'muted' }, detail) : null,
          saving !== null ? h('div', null, 'Estimated savings: ', h('strong', { class: 'num' }, formatUsd(saving) + '/month')) : null,
          s.role === 'admin'
            ? h(
                'button',
                {
                  class: 'small-btn',
                  'data-test': 'insight-dismiss',
                  onclick: async () => {
                    status.textContent = 'dismissing…';
                    try {
                      await post(`/api/v1/insights/${enc(i.id)}/dismiss${query({ team_id: team || i.team_id })}`);
                      m.insights = (m.insights ?? []).filter((x) => x.id !== i.id);
                      draw();
                    } catch (e) {
                      status.textContent = e instanceof ApiError ? e.message : errorText(e);
                    }
                  },
                },
                'Dismiss',
              )
            : null,
          status,
        );
      }),
    );
  }

  const reload = throttle(() => void load(), 15_000);

  // Usage of the stream, added to what is shown while the next read is due.
  function applyUsage(u: any): boolean {
    if (!model || u.status !== 'recorded') return false;
    if (team && u.team_id !== team) return false;
    const tz = team ? zone : (s.teams.find((t) => t.id === u.team_id)?.timezone ?? 'UTC');
    const day = dayIn(tz, new Date(u.time ?? Date.now()));
    if (day < model.range.start || day > model.range.end) return false;
    const cost = n(u.cost_nanos);
    const tokens = BigInt((u.input_tokens ?? 0) + (u.output_tokens ?? 0) + (u.cache_creation_tokens ?? 0) + (u.cache_read_tokens ?? 0));
    model.totalNanos += cost;
    model.tokens += tokens;
    model.daily.set(day, (model.daily.get(day) ?? 0n) + cost);
    let known = true;
    if (model.range.apiPeriod) {
      const a = model.agents.find((r) => r.key === `${u.team_id}/${u.agent_id ?? ''}`);
      if (a) a.nanos += cost;
      else known = false;
      const mo = model.models.find((r) => r.key === u.model);
      if (mo) mo.nanos += cost;
      else known = false;
      const t = model.teams?.find((r) => r.key === u.team_id);
      if (t) t.nanos += cost;
      model.agents.sort((x, y) => (y.nanos > x.nanos ? 1 : y.nanos < x.nanos ? -1 : 0));
      model.models.sort((x, y) => (y.nanos > x.nanos ? 1 : y.nanos < x.nanos ? -1 : 0));
    }
    const today = dayIn(tz, new Date());
    for (const g of model.gauges) {
      if (g.metric !== 'cost' && g.metric !== 'tokens') continue;
      const inScope = g.scope === 'global' || g.scope === `team:${u.team_id}` || (u.agent_id && g.scope === `agent:${u.agent_id}`);
      const inWindow = (g.window === 'day' && day === today) || (g.window === 'month' && day.slice(0, 7) === today.slice(0, 7));
      if (inScope && inWindow) g.spent += g.metric === 'cost' ? cost : tokens;
    }
    return known;
  }

  await load();
  return {
    onStream(msg: StreamMessage) {
      if (inFlight) missed = true;
      if (msg.event === 'usage') {
        applyUsage(msg.data);
        draw();
        reload();
      } else if (msg.event === 'session') {
        const d = msg.data;
        if (model && d && d.model !== undefined && (d.status === 'active' || d.status === 'queued') && (!team || d.team_id === team)) {
          const day = dayIn(zone, new Date(d.time ?? Date.now()));
          if (day >= model.range.start && day <= model.range.end) {
            model.runs += 1;
            draw();
          }
        }
        reload();
      } else if (msg.event === 'limits' || msg.event === 'reset' || msg.event === 'alert') {
        reload();
      }
    },
    dispose() {
      reload.cancel();
    },
  };
}
