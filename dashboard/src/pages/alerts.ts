// Alerts: the in-app feed (GET /api/v1/alerts, newest first, paged) with level badges and
// filters, acknowledge for admins (POST /api/v1/alerts/{id}/ack), new crossings and
// acknowledgements from the stream, and the switch that asks for browser notifications
// (critical and exceeded alerts raise one while a dashboard page is open; see notify.ts).

import { ApiError, enc, get, post, query } from '../api.js';
import { badge, clear, errorText, fmtTime, h, message, section } from '../dom.js';
import { formatUsd, toNanos } from '../money.js';
import { throttle, type Page, type PageContext } from '../page.js';
import { askNotificationPermission, notificationPermission } from '../notify.js';
import { selectedZone } from '../session.js';

export async function alertsPage(ctx: PageContext): Promise<Page> {
  const s = ctx.session;
  const team = s.team;
  const zone = selectedZone();
  let alerts: any[] = [];
  let cursor: string | null = null;
  const filters = { level: ctx.query.get('level') ?? '', open: ctx.query.get('open') === '1' };
  const errors = new Map<string, string>();

  const list = h('div', { 'data-test': 'alerts' });
  const more = h('button', { class: 'small-btn', hidden: true, onclick: () => void load(true) }, 'Older alerts');
  const perm = h('div', { class: 'notify-box' });
  const drawPerm = () => {
    clear(perm);
    const p = notificationPermission();
    if (p === 'unsupported') perm.append(h('span', { class: 'muted' }, 'This browser has no notifications.'));
    else if (p === 'granted') perm.append(h('span', { 'data-test': 'notify-on' }, 'Browser notifications are on for critical and exceeded alerts.'));
    else if (p === 'denied') perm.append(h('span', { class: 'muted' }, 'Notifications are blocked for this site in the browser settings.'));
    else perm.append(h('button', { class: 'small-btn', 'data-test': 'notify-enable', onclick: async () => (await askNotificationPermission(), drawPerm()) }, 'Notify me of critical and exceeded alerts'));
  };
  drawPerm();

  const level = h(
    'select',
    { 'aria-label': 'Level', 'data-test': 'alert-level', onchange: () => ((filters.level = level.value), ctx.setQuery({ level: level.value || null }), void load(false)) },
    ['', 'info', 'warning', 'critical', 'exceeded'].map((l) => h('option', { value: l, selected: filters.level === l }, l || 'every level')),
  );
  const open = h('input', {
    type: 'checkbox',
    checked: filters.open,
    'data-test': 'alert-open',
    onchange: () => ((filters.open = open.checked), ctx.setQuery({ open: open.checked ? '1' : null }), void load(false)),
  });
  ctx.root.append(
    h('div', { class: 'page-head' }, h('h1', null, `Alerts${team ? ' · ' + team : ''}`), perm),
    h('div', { class: 'filters' }, h('label', null, 'Level ', level), h('label', null, open, ' unacknowledged only')),
    section('Feed', list, more),
  );

  function row(a: any): HTMLElement {
    const spent = toNanos(a.spent_nanos);
    const limit = toNanos(a.limit_nanos);
    const canAck = s.role === 'admin' && !a.acknowledged;
    return h(
      'div',
      { class: `alert-row level-${a.level}${a.acknowledged ? ' acked' : ''}`, 'data-test': 'alert', 'data-id': a.id, 'data-level': a.level, 'data-acked': a.acknowledged ? 'true' : 'false' },
      h('div', { class: 'alert-main' }, badge(a.level, a.level), h('strong', null, a.message || `${a.threshold_percent}% of the ${a.window} limit`)),
      h(
        'div',
        { class: 'muted small' },
        `${a.scope?.kind ?? ''}${a.scope?.id ? ' ' + a.scope.id : ''} · ${a.window} ${a.period ?? ''} · `,
        spent !== null && limit !== null ? `${formatUsd(spent)} of ${formatUsd(limit)} · ` : '',
        fmtTime(a.time, zone),
        a.resolved ? ` · resolved (${a.resolved_reason ?? ''})` : '',
        a.acknowledged ? ` · acknowledged${a.acknowledged_by ? ' by ' + a.acknowledged_by : ''}` : '',
      ),
      canAck
        ? h(
            'button',
            {
              class: 'small-btn',
              'data-test': 'alert-ack',
              onclick: async () => {
                try {
                  const r = await post(`/api/v1/alerts/${enc(a.id)}/ack`);
                  Object.assign(a, r && typeof r === 'object' ? r : { acknowledged: true });
                  a.acknowledged = true;
                  errors.delete(a.id);
                } catch (e) {
                  errors.set(a.id, e instanceof ApiError ? e.message : errorText(e));
                }
                draw();
              },
            },
            'Acknowledge',
          )
        : null,
      errors.has(a.id) ? h('div', { class: 'field-error' }, errors.get(a.id)!) : null,
    );
  }

  function draw(): void {
    clear(list);
    const shown = alerts.filter((a) => (!filters.level || a.level === filters.level) && (!filters.open || !a.acknowledged));
    if (shown.length === 0) list.append(h('p', { class: 'muted' }, 'No alerts.'));
    for (const a of shown) list.append(row(a));
    more.hidden = !cursor;
  }

  async function load(append: boolean): Promise<void> {
    try {
      const r = await get(
        `/api/v1/alerts${query({ team_id: team || undefined, level: filters.level || undefined, acknowledged: filters.open ? 'false' : undefined, limit: 100, cursor: append ? cursor : undefined })}`,
        ctx.signal,
      );
      alerts = append ? [...alerts, ...(r.alerts ?? [])] : (r.alerts ?? []);
      cursor = r.next_cursor ?? null;
      draw();
    } catch (e) {
      if (ctx.signal.aborted) return;
      clear(list);
      list.append(message('error', errorText(e)));
    }
  }

  const reload = throttle(() => void load(false), 5_000);
  await load(false);
  return {
    onStream(m) {
      if (m.event === 'reset') return reload();
      if (m.event !== 'alert' || !m.data) return;
      const d = m.data;
      if (d.type === 'budget_threshold_crossed') {
        if (!alerts.some((a) => a.id === d.id)) alerts.unshift({ ...d, acknowledged: false, resolved: false });
      } else if (d.type === 'alert_acknowledged') {
        const a = alerts.find((x) => x.id === d.id);
        if (a) Object.assign(a, { acknowledged: true, acknowledged_by: d.by, acknowledged_at: d.time });
      } else if (d.type === 'budget_threshold_resolved') {
        reload();
      }
      draw();
    },
    dispose: () => reload.cancel(),
  };
}
