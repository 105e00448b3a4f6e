// Live sessions: the team's active and queued sessions, kept up to date from the stream without
// reloading (a usage event adds its cost and tokens to its session's row, exactly; a session
// event adds, activates or ends a row), and for admins a kill switch that ends a session
// (POST /api/v1/sessions/{id}/end, two clicks). Ended sessions stay listed, greyed, below.

import { ApiError, enc, get, post } from '../api.js';
import { clear, errorText, h, message, section } from '../dom.js';
import { teamRuns } from '../data.js';
import { formatCount, formatUsd, toNanos } from '../money.js';
import type { Page, PageContext } from '../page.js';
import { normalizeRun, type Run } from '../runs.js';
import { numericHead, runRow, type RunTableOpts } from '../runtable.js';
import { selectedZone } from '../session.js';

export async function livePage(ctx: PageContext): Promise<Page> {
  const team = ctx.session.team;
  const admin = ctx.session.role === 'admin';
  if (!team) {
    ctx.root.append(h('h1', null, 'Live sessions'), message('info', 'Pick a team in the selector above.'));
    return {};
  }
  const zone = selectedZone();
  const rows = new Map<string, Run>();
  const ended: Run[] = [];
  const errors = new Map<string, string>();
  const confirming = new Set<string>();
  const summary = h('div', { class: 'cards' });
  const tbody = h('tbody');
  const endedBody = h('tbody');
  const status = h('div');
  const heads = ['Status', 'Session', 'Agent', 'Model', 'Started', 'Duration', 'Tokens', 'Cost', admin ? 'Kill switch' : ''];
  const grid = (b: HTMLElement, test: string) =>
    h('table', { class: 'grid', 'data-test': test }, h('thead', null, h('tr', null, heads.map((x) => h('th', { class: numericHead.has(x) ? 'num' : '' }, x)))), b);
  ctx.root.append(
    h('div', { class: 'page-head' }, h('h1', null, `Live sessions · ${team}`), h('span', { class: 'muted' }, 'updates as usage arrives')),
    status,
    summary,
    section('Running and queued', grid(tbody, 'live-sessions')),
    section('Ended since this page opened', grid(endedBody, 'ended-sessions')),
  );

  const action = (r: Run): Node | null => {
    if (!admin || (r.status !== 'active' && r.status !== 'queued')) return errors.has(r.id) ? h('span', { class: 'field-error' }, errors.get(r.id)!) : null;
    const armed = confirming.has(r.id);
    return h(
      'span',
      null,
      h(
        'button',
        {
          class: armed ? 'danger' : 'small-btn',
          'data-test': armed ? 'kill-confirm' : 'kill',
          onclick: async () => {
            if (!confirming.has(r.id)) {
              confirming.add(r.id);
              draw();
              return;
            }
            confirming.delete(r.id);
            try {
              const s = await post(`/api/v1/sessions/${enc(r.id)}/end`, { status: 'failed' });
              endRow(normalizeRun(s));
            } catch (e) {
              errors.set(r.id, e instanceof ApiError ? e.message : errorText(e));
              draw();
            }
          },
        },
        armed ? 'Confirm: end it' : 'End session',
      ),
      armed ? h('button', { class: 'link', onclick: () => (confirming.delete(r.id), draw()) }, 'cancel') : null,
      errors.has(r.id) ? h('div', { class: 'field-error', 'data-test': 'kill-error' }, errors.get(r.id)!) : null,
    );
  };

  function draw(): void {
    const opts: RunTableOpts = { timeZone: zone, action };
    const list = [...rows.values()].sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
    clear(tbody);
    if (list.length === 0) tbody.appendChild(h('tr', null, h('td', { colspan: heads.length, class: 'muted' }, 'No session is running.')));
    for (const r of list) tbody.appendChild(runRow(r, opts));
    clear(endedBody);
    if (ended.length === 0) endedBody.appendChild(h('tr', null, h('td', { colspan: heads.length, class: 'muted' }, 'None yet.')));
    for (const r of ended.slice(0, 50)) endedBody.appendChild(runRow(r, { ...opts, action: () => null }));
    const cost = list.reduce((s, r) => s + r.costNanos, 0n);
    const tokens = list.reduce((s, r) => s + r.tokens, 0);
    clear(summary);
    summary.append(
      h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'Running'), h('div', { class: 'card-value num', 'data-test': 'live-active' }, String(list.filter((r) => r.status === 'active').length))),
      h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'Queued'), h('div', { class: 'card-value num', 'data-test': 'live-queued' }, String(list.filter((r) => r.status === 'queued').length))),
      h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'Spent by them'), h('div', { class: 'card-value num', 'data-test': 'live-cost', 'data-nanos': cost.toString() }, formatUsd(cost)), h('div', { class: 'muted' }, `${formatCount(tokens)} tokens`)),
    );
  }

  function endRow(r: Run): void {
    const had = rows.get(r.id);
    rows.delete(r.id);
    const merged = had ? { ...had, status: r.status, reason: r.reason, endedAt: r.endedAt ?? new Date().toISOString(), durationMs: r.durationMs } : r;
    if (merged.durationMs === null && merged.startedAt && merged.endedAt) merged.durationMs = Date.parse(merged.endedAt) - Date.parse(merged.startedAt);
    if (!ended.some((e) => e.id === r.id)) ended.unshift(merged);
    draw();
  }

  async function load(): Promise<void> {
    try {
      const [a, q] = await Promise.all([teamRuns(team, { status: 'active', limit: 500 }, ctx.signal), teamRuns(team, { status: 'queued', limit: 500 }, ctx.signal)]);
      rows.clear();
      for (const r of [...a.runs, ...q.runs]) rows.set(r.id, r);
      clear(status);
      if (a.source === 'month') status.appendChild(message('info', 'This node has no run log yet: showing the sessions opened this month.'));
      draw();
    } catch (e) {
      if (ctx.signal.aborted) return;
      clear(status);
      status.appendChild(message('error', errorText(e)));
    }
  }

  const pending = new Set<string>();
  async function fetchSession(id: string): Promise<void> {
    if (pending.has(id)) return;
    pending.add(id);
    try {
      const r = normalizeRun(await get(`/api/v1/sessions/${enc(id)}`, ctx.signal));
      if (r.status === 'active' || r.status === 'queued') rows.set(r.id, r);
      draw();
    } catch {
      /* gone or not visible */
    } finally {
      pending.delete(id);
    }
  }

  await load();
  const tick = setInterval(draw, 5000);
  return {
    onStream(m) {
      const d = m.data;
      if (m.event === 'reset') return void load();
      if (!d || (d.team_id && d.team_id !== team)) return;
      if (m.event === 'usage' && d.status === 'recorded') {
        const r = rows.get(d.session_id);
        if (!r) return void fetchSession(d.session_id);
        r.costNanos += toNanos(d.cost_nanos) ?? 0n;
        r.tokens += (d.input_tokens ?? 0) + (d.output_tokens ?? 0) + (d.cache_creation_tokens ?? 0) + (d.cache_read_tokens ?? 0);
        draw();
      } else if (m.event === 'session') {
        const id = d.session_id;
        if (d.status === 'active' || d.status === 'queued') {
          const r = rows.get(id);
          if (r) {
            r.status = d.status;
            draw();
          } else if (d.model !== undefined) {
            rows.set(id, normalizeRun({ id, agent_id: d.agent_id, task_id: d.task_id, model: d.model, status: d.status, started_at: d.time, tokens: 0, cost_nanos: 0n }));
            draw();
          } else {
            void fetchSession(id);
          }
        } else {
          const r = rows.get(id);
          const st = d.status === 'ended' ? (d.reason === 'failed' ? 'failed' : 'completed') : d.status;
          endRow({ ...(r ?? normalizeRun({ id, agent_id: d.agent_id, status: st })), status: st, reason: d.reason ?? null, endedAt: d.time ?? null, durationMs: r?.startedAt && d.time ? Date.parse(d.time) - Date.parse(r.startedAt) : null });
        }
      }
    },
    dispose() {
      clearInterval(tick);
    },
  };
}
