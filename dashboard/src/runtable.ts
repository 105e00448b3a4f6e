// The sessions table the team, agent, run-log and live pages share: status, agent, model,
// start, duration, tokens, cost; high-token runs highlighted; an optional action cell (the
// live page's kill switch). Page thread only.

import { badge, fmtTime, h } from './dom.js';
import { enc } from './api.js';
import { formatCount, formatUsd } from './money.js';
import { formatDuration } from './period.js';
import { type Run, statusLabel } from './runs.js';

export interface RunTableOpts {
  showAgent?: boolean;
  highTokens?: Set<string>;
  timeZone?: string;
  action?: (r: Run) => Node | null;
  test?: string;
  now?: Date;
}

export function runRow(r: Run, o: RunTableOpts): HTMLTableRowElement {
  const st = statusLabel(r);
  const high = o.highTokens?.has(r.id) ?? false;
  const running = r.status === 'active' || r.status === 'queued';
  const dur = r.durationMs ?? (running && r.startedAt ? (o.now ?? new Date()).getTime() - Date.parse(r.startedAt) : null);
  return h(
    'tr',
    { class: high ? 'high-tokens' : '', 'data-test': 'run', 'data-id': r.id, 'data-status': r.status, 'data-nanos': r.costNanos.toString(), 'data-tokens': String(r.tokens), 'data-high': high ? 'true' : 'false' },
    h('td', null, badge(st.text, st.kind), r.reason && r.status === 'terminated' ? h('div', { class: 'muted small' }, r.reason) : null),
    h('td', { class: 'mono small', title: r.id }, r.id),
    o.showAgent !== false ? h('td', null, r.agentId ? h('a', { href: `#/agent/${enc(r.agentId)}` }, r.agentName || r.agentId) : '—') : null,
    h('td', { class: 'small' }, r.model || '—'),
    h('td', { class: 'small' }, fmtTime(r.startedAt, o.timeZone)),
    h('td', { class: 'num' }, formatDuration(dur)),
    h('td', { class: 'num', 'data-test': 'run-tokens' }, formatCount(r.tokens), high ? h('span', { class: 'badge badge-high', title: 'unusually many tokens' }, 'high') : null),
    h('td', { class: 'num', 'data-test': 'run-cost' }, formatUsd(r.costNanos)),
    o.action ? h('td', null, o.action(r)) : null,
  );
}

export const numericHead = new Set(['Duration', 'Tokens', 'Cost']);

export function runTable(runs: Run[], o: RunTableOpts = {}): HTMLElement {
  if (runs.length === 0) return h('p', { class: 'muted', 'data-test': o.test ?? 'runs' }, 'No sessions.');
  const heads = ['Status', 'Session', ...(o.showAgent !== false ? ['Agent'] : []), 'Model', 'Started', 'Duration', 'Tokens', 'Cost', ...(o.action ? [''] : [])];
  return h(
    'table',
    { class: 'grid', 'data-test': o.test ?? 'runs' },
    h('thead', null, h('tr', null, heads.map((x) => h('th', { class: numericHead.has(x) ? 'num' : '' }, x)))),
    h('tbody', null, runs.map((r) => runRow(r, o))),
  );
}
