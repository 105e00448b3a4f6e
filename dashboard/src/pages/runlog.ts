// The run log: every session of the team, newest first, with its outcome, duration, tokens and
// cost, filterable by agent and status, paged ("Older runs"), the runs of unusually many tokens
// highlighted (the API's high_tokens flag, else 3x the median of the page).

import { get } from '../api.js';
import { clear, errorText, h, message, section } from '../dom.js';
import { teamRuns } from '../data.js';
import { formatUsd, sumNanos } from '../money.js';
import { throttle, type Page, type PageContext } from '../page.js';
import { flagHighTokens, type Run } from '../runs.js';
import { runTable } from '../runtable.js';
import { selectedZone } from '../session.js';

export async function runLogPage(ctx: PageContext): Promise<Page> {
  const team = ctx.session.team;
  if (!team) {
    ctx.root.append(h('h1', null, 'Run log'), message('info', 'Pick a team in the selector above.'));
    return {};
  }
  const zone = selectedZone();
  const f = { agent: ctx.query.get('agent') ?? '', status: ctx.query.get('status') ?? '' };
  let runs: Run[] = [];
  let cursor: string | null = null;
  let source: 'run-log' | 'month' = 'run-log';

  const agents = await get(`/api/v1/teams/${encodeURIComponent(team)}/agents`, ctx.signal).catch(() => ({ agents: [] }));
  const agentSel = h(
    'select',
    { 'data-test': 'runlog-agent', 'aria-label': 'Agent', onchange: () => ((f.agent = agentSel.value), apply()) },
    h('option', { value: '' }, 'every agent'),
    (agents.agents ?? []).map((a: any) => h('option', { value: a.id, selected: a.id === f.agent }, a.name && a.name !== a.id ? `${a.name} (${a.id})` : a.id)),
  );
  const statusSel = h(
    'select',
    { 'data-test': 'runlog-status', 'aria-label': 'Status', onchange: () => ((f.status = statusSel.value), apply()) },
    (
      [
        ['', 'every status'],
        ['active', 'active'],
        ['queued', 'queued'],
        ['completed', 'completed'],
        ['failed', 'failed'],
        ['terminated', 'terminated'],
      ] as const
    ).map(([v, l]) => h('option', { value: v, selected: v === f.status }, l)),
  );
  const list = h('div');
  const info = h('div');
  const more = h('button', { class: 'small-btn', hidden: true, 'data-test': 'runlog-more', onclick: () => void load(true) }, 'Older runs');
  ctx.root.append(
    h('div', { class: 'page-head' }, h('h1', null, `Run log · ${team}`)),
    h('div', { class: 'filters' }, h('label', null, 'Agent ', agentSel), h('label', null, 'Status ', statusSel)),
    info,
    section('Runs', list, more),
  );

  function apply(): void {
    ctx.setQuery({ agent: f.agent || null, status: f.status || null });
    void load(false);
  }

  function draw(): void {
    clear(list);
    clear(info);
    if (source === 'month') info.append(message('info', 'This node has no run log yet: showing the sessions opened this month.'));
    const high = flagHighTokens(runs);
    list.append(
      h('p', { class: 'muted', 'data-test': 'runlog-summary' }, `${runs.length} runs shown, ${formatUsd(sumNanos(runs.map((r) => r.costNanos)))} in all, ${high.size} with unusually many tokens.`),
      runTable(runs, { highTokens: high, timeZone: zone, test: 'runlog' }),
    );
    more.hidden = !cursor;
  }

  async function load(append: boolean): Promise<void> {
    try {
      const page = await teamRuns(team, { agent: f.agent || undefined, status: f.status || undefined, limit: 100, cursor: append ? cursor : null }, ctx.signal);
      runs = append ? [...runs, ...page.runs] : page.runs;
      cursor = page.nextCursor;
      source = page.source;
      draw();
    } catch (e) {
      if (ctx.signal.aborted) return;
      clear(list);
      list.append(message('error', errorText(e)));
    }
  }

  const reload = throttle(() => void load(false), 10_000);
  await load(false);
  return {
    onStream(m) {
      if (m.event === 'session' || m.event === 'reset') reload();
    },
    dispose: () => reload.cancel(),
  };
}
