// A few DOM helpers: h() builds elements (attributes, `on*` listeners, children; text is always
// text, never parsed as HTML), plus the small widgets the pages share (cards, bars, tables,
// messages). Page thread only.

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
      } else if (k === 'class') {
        el.className = String(v);
      } else if (k === 'style' && typeof v === 'object') {
        Object.assign(el.style, v);
      } else if (k === 'value' && 'value' in el) {
        (el as HTMLInputElement).value = String(v);
      } else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'readOnly') {
        (el as any)[k] = Boolean(v);
      } else if (v === true) {
        el.setAttribute(k, '');
      } else {
        el.setAttribute(k, String(v));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'panel' }, h('h2', null, title), ...children);
}

// A horizontal bar: fill = basis points of the whole (0..10000, clamped), level colours it.
export function bar(bp: number, level: 'ok' | 'info' | 'warning' | 'critical' | 'exceeded' = 'ok'): HTMLElement {
  const pct = Math.max(0, Math.min(100, bp / 100));
  return h('div', { class: `bar bar-${level}` }, h('div', { class: 'bar-fill', style: { width: pct + '%' } }));
}

// The level of a usage percentage against the default thresholds.
export function levelOf(bp: number | null): 'ok' | 'info' | 'warning' | 'critical' | 'exceeded' {
  if (bp === null) return 'ok';
  if (bp >= 10_000) return 'exceeded';
  if (bp >= 9_500) return 'critical';
  if (bp >= 8_000) return 'warning';
  if (bp >= 5_000) return 'info';
  return 'ok';
}

export function message(kind: 'error' | 'info' | 'ok', text: string, test?: string): HTMLElement {
  return h('div', { class: `msg msg-${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-test': test }, text);
}

export function table(headers: string[], rows: Node[], attrs: Attrs = {}): HTMLTableElement {
  return h(
    'table',
    { class: 'grid', ...attrs },
    h('thead', null, h('tr', null, headers.map((x) => h('th', null, x)))),
    h('tbody', null, rows),
  );
}

export function badge(text: string, kind: string): HTMLElement {
  return h('span', { class: `badge badge-${kind}` }, text);
}

export function fmtTime(iso: string | null | undefined, timeZone?: string): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  try {
    return d.toLocaleString('en-GB', {
      timeZone: timeZone || 'UTC',
      year: 'numeric',
      month: 'short',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  } catch {
    return d.toISOString();
  }
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
