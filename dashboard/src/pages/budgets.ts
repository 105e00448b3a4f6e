// Budgets: the team's daily / monthly caps, per-run limits and concurrency
// (PATCH /api/v1/settings/teams/{id}), each agent's monthly budget and per-run limits
// (PATCH /api/v1/agents/{id}), and the alert thresholds (PUT /api/v1/alerts/config). Admin keys
// edit; readers see the same values read-only. Fields are checked before sending (validate.ts)
// and a refused save shows the API's problem (title and detail). Amounts go out as exact
// decimals, never through a float.

import { ApiError, enc, get, patch, put, query } from '../api.js';
import { clear, errorText, h, message, section } from '../dom.js';
import { Decimal, nanosToUsdText, toNanos } from '../money.js';
import type { Page, PageContext } from '../page.js';
import { checkCount, checkMoney, checkThresholds, LEVELS, type ThresholdInput } from '../validate.js';

type FieldKind = 'money' | 'count';
interface FieldDef {
  key: string; // the PATCH field
  label: string;
  kind: FieldKind;
  read: (limits: any) => string; // the current value as input text
}

const usdText = (v: unknown) => {
  const n = toNanos(v);
  return n === null ? '' : nanosToUsdText(n);
};
const countText = (v: unknown) => (v === null || v === undefined ? '' : String(v));

const teamFields: FieldDef[] = [
  { key: 'daily_cost_limit_usd', label: 'Daily cost cap ($)', kind: 'money', read: (l) => usdText(l.daily_cost_limit_nanos) },
  { key: 'monthly_cost_limit_usd', label: 'Monthly cost cap ($)', kind: 'money', read: (l) => usdText(l.monthly_cost_limit_nanos) },
  { key: 'max_cost_per_run_usd', label: 'Per-run cost limit ($)', kind: 'money', read: (l) => usdText(l.max_cost_per_run_nanos) },
  { key: 'max_tokens_per_run', label: 'Per-run token limit', kind: 'count', read: (l) => countText(l.max_tokens_per_run) },
  { key: 'daily_token_limit', label: 'Daily token cap', kind: 'count', read: (l) => countText(l.daily_token_limit) },
  { key: 'monthly_token_limit', label: 'Monthly token cap', kind: 'count', read: (l) => countText(l.monthly_token_limit) },
  { key: 'max_concurrent_agents', label: 'Max concurrent agents', kind: 'count', read: (l) => countText(l.max_concurrent_agents) },
];

// Agent limits come from GET /api/v1/limits (config.yaml's names).
const agentFields: FieldDef[] = [
  { key: 'monthly_cost_limit_usd', label: 'Monthly budget ($)', kind: 'money', read: (l) => usdText(l.max_cost_per_month_nanos) },
  { key: 'daily_cost_limit_usd', label: 'Daily cap ($)', kind: 'money', read: (l) => usdText(l.max_cost_per_day_nanos) },
  { key: 'max_cost_per_run_usd', label: 'Per-run cost ($)', kind: 'money', read: (l) => usdText(l.max_cost_per_run_nanos) },
  { key: 'max_tokens_per_run', label: 'Per-run tokens', kind: 'count', read: (l) => countText(l.max_tokens_per_run) },
];

function problemText(e: unknown): string {
  if (e instanceof ApiError) {
    const p = e.problem;
    const title = p?.title ?? `HTTP ${e.status}`;
    return p?.detail ? `${title}: ${p.detail} (${e.status})` : `${title} (${e.status})`;
  }
  return errorText(e);
}

// One form of limit fields; `send` gets the changed fields (null = remove the limit).
function limitsForm(
  fields: FieldDef[],
  limits: any,
  editable: boolean,
  test: string,
  send: (body: Record<string, unknown>) => Promise<any>,
  layout: 'form' | 'row',
): { el: HTMLElement; cells: HTMLElement[] } {
  const inputs = new Map<string, HTMLInputElement>();
  const errs = new Map<string, HTMLElement>();
  const status = h('div', { class: 'save-status', 'data-test': `${test}-status` });
  const initial = new Map<string, string>();
  const cells: HTMLElement[] = [];
  for (const f of fields) {
    const v = f.read(limits ?? {});
    initial.set(f.key, v);
    const input = h('input', {
      type: 'text',
      inputmode: f.kind === 'money' ? 'decimal' : 'numeric',
      value: v,
      placeholder: 'no limit',
      disabled: !editable,
      name: f.key,
      'data-test': `${test}-${f.key}`,
      'aria-label': f.label,
    });
    inputs.set(f.key, input);
    const err = h('div', { class: 'field-error', 'data-test': `${test}-${f.key}-error` });
    errs.set(f.key, err);
    cells.push(layout === 'form' ? h('label', { class: 'field' }, h('span', null, f.label), input, err) : h('td', null, input, err));
  }
  const save = h('button', { type: 'submit', class: 'primary', 'data-test': `${test}-save` }, 'Save');
  const onSave = async () => {
    clear(status);
    const body: Record<string, unknown> = {};
    let bad = false;
    for (const f of fields) {
      const text = inputs.get(f.key)!.value;
      errs.get(f.key)!.textContent = '';
      if (text.trim() === initial.get(f.key)) continue;
      if (f.kind === 'money') {
        const c = checkMoney(text);
        if (!c.ok) {
          errs.get(f.key)!.textContent = c.error;
          bad = true;
        } else body[f.key] = c.value === null ? null : Decimal.ofNanos(c.value);
      } else {
        const c = checkCount(text);
        if (!c.ok) {
          errs.get(f.key)!.textContent = c.error;
          bad = true;
        } else body[f.key] = c.value;
      }
    }
    if (bad) {
      status.append(message('error', 'Fix the marked fields.', `${test}-invalid`));
      return;
    }
    if (Object.keys(body).length === 0) {
      status.append(message('info', 'Nothing changed.'));
      return;
    }
    save.disabled = true;
    try {
      const r = await send(body);
      for (const f of fields) {
        const v = f.read(r ?? {});
        initial.set(f.key, v);
        inputs.get(f.key)!.value = v;
      }
      status.append(message('ok', 'Saved.', `${test}-saved`));
    } catch (e) {
      status.append(message('error', `Not saved. ${problemText(e)}`, `${test}-refused`));
    } finally {
      save.disabled = false;
    }
  };
  if (layout === 'form') {
    const form = h(
      'form',
      { class: 'limits-form', 'data-test': test, onsubmit: (ev: Event) => (ev.preventDefault(), void onSave()) },
      h('div', { class: 'fields' }, cells),
      editable ? save : null,
      status,
    );
    return { el: form, cells };
  }
  const tdSave = h('td', null, editable ? h('button', { class: 'small-btn', 'data-test': `${test}-save`, onclick: () => void onSave() }, 'Save') : null, status);
  cells.push(tdSave);
  return { el: h('span'), cells };
}

export async function budgetsPage(ctx: PageContext): Promise<Page> {
  const s = ctx.session;
  const team = s.team;
  if (!team) {
    ctx.root.append(h('h1', null, 'Budgets'), message('info', 'Pick a team in the selector above.'));
    return {};
  }
  const editable = s.role === 'admin';
  const body = h('div', { 'data-test': 'budgets' });
  ctx.root.append(
    h('div', { class: 'page-head' }, h('h1', null, `Budgets · ${team}`)),
    editable
      ? h('p', { class: 'muted' }, 'Empty a field to remove that limit. Amounts are exact to the nano-dollar.')
      : message('info', 'Read-only: this key may not change budgets. Sign in with an admin key to edit them.', 'read-only'),
    body,
  );

  const [teamInfo, limits, agents, alertsCfg] = await Promise.all([
    get(`/api/v1/teams/${enc(team)}`, ctx.signal),
    get(`/api/v1/limits${query({ team_id: team })}`, ctx.signal),
    get(`/api/v1/teams/${enc(team)}/agents`, ctx.signal),
    get(`/api/v1/alerts/config${query({ team_id: team })}`, ctx.signal),
  ]);

  // ---- team ----
  const teamForm = limitsForm(teamFields, teamInfo.limits, editable, 'team-limits', (b) => patch(`/api/v1/settings/teams/${enc(team)}`, b), 'form');
  body.append(section('Team caps', teamForm.el));

  // ---- agents ----
  const perAgent = limits?.limits?.per_agent ?? {};
  const rows = (agents.agents ?? []).map((a: any) => {
    const f = limitsForm(
      agentFields,
      perAgent[a.id] ?? {},
      editable,
      `agent-${a.id}`,
      async (b) => {
        const r = await patch(`/api/v1/agents/${enc(a.id)}`, b);
        // The answer has the Limits shape: map it to the config names the fields read.
        const l = r?.limits ?? {};
        return {
          max_cost_per_month_nanos: l.monthly_cost_limit_nanos,
          max_cost_per_day_nanos: l.daily_cost_limit_nanos,
          max_cost_per_run_nanos: l.max_cost_per_run_nanos,
          max_tokens_per_run: l.max_tokens_per_run,
        };
      },
      'row',
    );
    return h('tr', { 'data-test': 'agent-limits', 'data-agent': a.id }, h('td', null, h('a', { href: `#/agent/${enc(a.id)}` }, a.name || a.id)), f.cells);
  });
  body.append(
    section(
      'Agent budgets',
      rows.length
        ? h('table', { class: 'grid limits-grid', 'data-test': 'agent-budgets' }, h('thead', null, h('tr', null, h('th', null, 'Agent'), agentFields.map((f) => h('th', null, f.label)), h('th', null, ''))), h('tbody', null, rows))
        : h('p', { class: 'muted' }, 'No agents registered in this team.'),
    ),
  );

  // ---- thresholds ----
  const thBody = h('tbody');
  const thStatus = h('div', { 'data-test': 'thresholds-status' });
  let thRows: ThresholdInput[] = (alertsCfg?.alerts?.thresholds ?? []).map((t: any) => ({ percent: String(t.percent), level: t.level ?? '', message: t.message ?? '' }));
  const rowErrors = new Map<number, string>();
  const drawThresholds = () => {
    clear(thBody);
    thRows.forEach((r, i) => {
      const pct = h('input', { type: 'text', value: r.percent, disabled: !editable, 'data-test': 'threshold-percent', 'aria-label': 'percent', class: 'narrow', oninput: () => (r.percent = pct.value) });
      const lvl = h('select', { disabled: !editable, 'data-test': 'threshold-level', onchange: () => (r.level = lvl.value) }, LEVELS.map((l) => h('option', { value: l, selected: l === r.level }, l)));
      const msg = h('input', { type: 'text', value: r.message, disabled: !editable, 'data-test': 'threshold-message', class: 'wide-input', oninput: () => (r.message = msg.value) });
      thBody.append(
        h(
          'tr',
          { 'data-test': 'threshold' },
          h('td', null, pct, ' %'),
          h('td', null, lvl),
          h('td', null, msg, rowErrors.has(i) ? h('div', { class: 'field-error', 'data-test': 'threshold-error' }, rowErrors.get(i)!) : null),
          h('td', null, editable ? h('button', { class: 'link', onclick: () => ((thRows = thRows.filter((_, j) => j !== i)), rowErrors.clear(), drawThresholds()) }, 'remove') : null),
        ),
      );
    });
  };
  drawThresholds();
  const sourceText = (src: unknown) =>
    `In force: ${src === 'team' ? "the team's own" : src === 'global' ? 'the global thresholds' : "config.yaml's"}. Placeholders in messages: {percent} {scope_id} {window} {spent_usd} {limit_usd}.`;
  const sourceLine = h('p', { class: 'muted small', 'data-test': 'thresholds-source' }, sourceText(alertsCfg?.source));
  const saveThresholds = async () => {
    clear(thStatus);
    rowErrors.clear();
    const c = checkThresholds(thRows);
    if (!c.ok) {
      for (const [i, e] of c.rowErrors ?? []) rowErrors.set(i, e);
      drawThresholds();
      thStatus.append(message('error', c.error, 'thresholds-invalid'));
      return;
    }
    try {
      const r = await put('/api/v1/alerts/config', { team_id: team, thresholds: c.value });
      thRows = (r?.alerts?.thresholds ?? c.value).map((t: any) => ({ percent: String(t.percent), level: t.level ?? '', message: t.message ?? '' }));
      drawThresholds();
      sourceLine.textContent = sourceText(r?.source ?? 'team');
      thStatus.append(message('ok', 'Saved.', 'thresholds-saved'));
    } catch (e) {
      thStatus.append(message('error', `Not saved. ${problemText(e)}`, 'thresholds-refused'));
    }
  };
  body.append(
    section(
      'Alert thresholds',
      sourceLine,
      h('table', { class: 'grid', 'data-test': 'thresholds' }, h('thead', null, h('tr', null, h('th', null, 'At'), h('th', null, 'Level'), h('th', null, 'Message'), h('th', null, ''))), thBody),
      editable
        ? h(
            'div',
            { class: 'row-actions' },
            h('button', { class: 'small-btn', 'data-test': 'threshold-add', onclick: () => (thRows.push({ percent: '', level: 'warning', message: '' }), drawThresholds()) }, 'Add threshold'),
            h('button', { class: 'primary', 'data-test': 'thresholds-save', onclick: () => void saveThresholds() }, 'Save thresholds'),
          )
        : null,
      thStatus,
    ),
  );
  return {};
}
