// Widgets several pages share: the cost breakdown list ("feature-dev ████ $82.30 (65%)"),
// budget gauges from /limits/status or budget lines, and the period picker. Page thread only.

import { bar, h, levelOf } from './dom.js';
import { formatCount, formatPercentBp, formatTokens, formatUsd, percentBp, shareBp, toNanos } from './money.js';
import { formatResetIn, type PeriodKind, validateCustomRange } from './period.js';

export interface BreakdownRow {
  key: string;
  label: string;
  nanos: bigint;
  href?: string;
  sub?: string;
}

export function breakdown(rows: BreakdownRow[], test: string): HTMLElement {
  const total = rows.reduce((s, r) => s + r.nanos, 0n);
  const max = rows.reduce((m, r) => (r.nanos > m ? r.nanos : m), 0n);
  if (rows.length === 0) return h('p', { class: 'muted', 'data-test': test }, 'Nothing spent in this period.');
  return h(
    'div',
    { class: 'breakdown', 'data-test': test },
    rows.map((r) => {
      const share = shareBp(r.nanos, total);
      return h(
        'div',
        { class: 'bd-row', 'data-key': r.key, 'data-nanos': r.nanos.toString() },
        h('span', { class: 'bd-label', title: r.label }, r.href ? h('a', { href: r.href }, r.label) : r.label, r.sub ? h('small', { class: 'muted' }, ' ' + r.sub) : null),
        bar(shareBp(r.nanos, max), 'ok'),
        h('span', { class: 'bd-cost num' }, formatUsd(r.nanos)),
        h('span', { class: 'bd-share num muted' }, `(${formatPercentBp(share)})`),
      );
    }),
  );
}

// One gauge per limit line of /api/v1/limits/status (cost, tokens, concurrency).
export interface GaugeLine {
  scope: string;
  window: string;
  metric: string;
  limit: bigint; // nanos for cost, count otherwise
  spent: bigint;
  reserved: bigint;
  resetsAt: string | null;
}

export function gaugeLineOf(l: any): GaugeLine {
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

const windowName: Record<string, string> = { day: 'daily', month: 'monthly', now: 'concurrent', lifetime: 'lifetime', run: 'per run' };

export function gauge(g: GaugeLine, now: Date): HTMLElement {
  const bp = percentBp(g.spent, g.limit);
  const fmt = (n: bigint) => (g.metric === 'cost' ? formatUsd(n) : g.metric === 'tokens' ? formatTokens(n) : formatCount(n));
  const what = g.metric === 'cost' ? 'cost' : g.metric === 'tokens' ? 'tokens' : 'sessions';
  return h(
    'div',
    { class: `gauge gauge-${levelOf(bp)}`, 'data-test': 'gauge', 'data-scope': g.scope, 'data-window': g.window, 'data-metric': g.metric, 'data-spent': g.spent.toString(), 'data-limit': g.limit.toString() },
    h('div', { class: 'gauge-head' }, h('strong', null, g.scope), h('span', { class: 'muted' }, ` ${windowName[g.window] ?? g.window} ${what}`)),
    bar(bp ?? 0, levelOf(bp)),
    h(
      'div',
      { class: 'gauge-foot' },
      h('span', { class: 'num' }, `${fmt(g.spent)} of ${fmt(g.limit)}`),
      h('span', { class: 'num gauge-pct' }, formatPercentBp(bp)),
    ),
    g.reserved > 0n ? h('div', { class: 'muted small' }, `${fmt(g.reserved)} reserved`) : null,
    h('div', { class: 'muted small' }, g.window === 'now' ? 'now' : `resets ${formatResetIn(g.resetsAt, now)}`),
  );
}

// The period picker: today / this week / this month / custom (two dates).
export function periodPicker(
  value: { kind: PeriodKind; start?: string; end?: string },
  onChange: (v: { kind: PeriodKind; start?: string; end?: string }) => void,
): HTMLElement {
  const err = h('span', { class: 'field-error', 'data-test': 'period-error' });
  const start = h('input', { type: 'date', value: value.start ?? '', 'data-test': 'period-start', 'aria-label': 'From' });
  const end = h('input', { type: 'date', value: value.end ?? '', 'data-test': 'period-end', 'aria-label': 'To' });
  const apply = h('button', { type: 'button', 'data-test': 'period-apply' }, 'Apply');
  const custom = h('span', { class: 'custom-range', hidden: value.kind !== 'custom' }, start, ' – ', end, apply, err);
  const select = h(
    'select',
    {
      'data-test': 'period',
      'aria-label': 'Period',
      onchange: () => {
        const kind = select.value as PeriodKind;
        custom.hidden = kind !== 'custom';
        if (kind !== 'custom') onChange({ kind });
      },
    },
    (
      [
        ['today', 'Today'],
        ['week', 'This week'],
        ['month', 'This month'],
        ['custom', 'Custom…'],
      ] as const
    ).map(([k, label]) => h('option', { value: k, selected: value.kind === k }, label)),
  );
  apply.addEventListener('click', () => {
    const why = validateCustomRange(start.value, end.value);
    err.textContent = why ?? '';
    if (!why) onChange({ kind: 'custom', start: start.value, end: end.value });
  });
  return h('div', { class: 'period-picker' }, h('label', null, 'Period: ', select), custom);
}

// Input vs output vs cache tokens: a stacked bar with its legend.
export function tokenSplit(t: { input: bigint; output: bigint; cacheWrite: bigint; cacheRead: bigint }): HTMLElement {
  const total = t.input + t.output + t.cacheWrite + t.cacheRead;
  const parts: [string, bigint, string][] = [
    ['input', t.input, 'tok-in'],
    ['output', t.output, 'tok-out'],
    ['cache write', t.cacheWrite, 'tok-cw'],
    ['cache read', t.cacheRead, 'tok-cr'],
  ];
  return h(
    'div',
    { class: 'token-split', 'data-test': 'token-split', 'data-total': total.toString() },
    h(
      'div',
      { class: 'stack' },
      parts.map(([, v, cls]) => h('div', { class: `stack-seg ${cls}`, style: { flexGrow: total > 0n ? String(Number((v * 10_000n) / total)) : '0' } })),
    ),
    h(
      'div',
      { class: 'legend' },
      parts.map(([name, v, cls]) =>
        h('span', { class: 'legend-item', 'data-part': name, 'data-tokens': v.toString() }, h('i', { class: `swatch ${cls}` }), `${name} `, h('strong', { class: 'num' }, formatTokens(v)), total > 0n ? h('span', { class: 'muted' }, ` (${formatPercentBp(shareBp(v, total))})`) : null),
      ),
    ),
  );
}
