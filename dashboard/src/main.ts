// The dashboard's entry: login (form or `#key=...&team=...`), the frame (navigation, team
// picker, live indicator), the hash router (#/overview, #/team, #/agent/<id>, #/live, #/alerts,
// #/runs, #/budgets) and the live stream shared by the pages. Browser notifications for critical
// and exceeded alerts are raised here, so they come whatever page is open.

import './style.css';

import { setRateLimitListener } from './api.js';
import { clear, errorText, h, message } from './dom.js';
import type { Page, PageContext, PageFactory } from './page.js';
import { login, logout, restore, selectTeam, session, takeFragmentLogin } from './session.js';
import { live, type StreamMessage } from './stream.js';
import { alertsPage } from './pages/alerts.js';
import { agentPage } from './pages/agent.js';
import { budgetsPage } from './pages/budgets.js';
import { livePage } from './pages/live.js';
import { overviewPage } from './pages/overview.js';
import { runLogPage } from './pages/runlog.js';
import { teamPage } from './pages/team.js';
import { notifyAlert } from './notify.js';

const routes: Record<string, { title: string; page: PageFactory; nav: boolean }> = {
  overview: { title: 'Overview', page: overviewPage, nav: true },
  team: { title: 'Team', page: teamPage, nav: true },
  agent: { title: 'Agent', page: agentPage, nav: false },
  live: { title: 'Live sessions', page: livePage, nav: true },
  alerts: { title: 'Alerts', page: alertsPage, nav: true },
  runs: { title: 'Run log', page: runLogPage, nav: true },
  budgets: { title: 'Budgets', page: budgetsPage, nav: true },
};

const app = document.getElementById('app')!;
let current: { page: Page; abort: AbortController } | null = null;
let liveDot: HTMLElement | null = null;

function showStreamState(st: string): void {
  if (!liveDot) return;
  liveDot.className = `live-dot live-${st}`;
  liveDot.textContent = st === 'live' ? 'live' : st === 'connecting' ? 'connecting…' : 'offline';
  liveDot.dataset.state = st;
}
live.onState(showStreamState);

function parseHash(): { name: string; params: string[]; query: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q = ''] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || 'overview', params: parts.slice(1), query: new URLSearchParams(q) };
}

function showLogin(error?: string): void {
  current?.abort.abort();
  current?.page.dispose?.();
  current = null;
  live.stop();
  clear(app);
  const input = h('input', {
    type: 'password',
    name: 'api-key',
    placeholder: 'tly_…',
    autocomplete: 'off',
    required: true,
    'data-test': 'login-key',
  });
  const status = h('div');
  if (error) status.appendChild(message('error', error, 'login-error'));
  const form = h(
    'form',
    {
      class: 'login',
      'data-test': 'login-form',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        clear(status);
        status.appendChild(message('info', 'Checking the key…'));
        try {
          await login(input.value);
          if (!location.hash || location.hash === '#' || location.hash.startsWith('#/login')) {
            history.replaceState(null, '', '#/overview');
          }
          start();
        } catch (e) {
          clear(status);
          status.appendChild(message('error', errorText(e), 'login-error'));
        }
      },
    },
    h('h1', null, 'Tally'),
    h('p', { class: 'muted' }, 'Cost control for fleets of AI agents. Sign in with an API key (admin or reader); it is kept for this browser tab only.'),
    h('label', null, 'API key', input),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    status,
  );
  app.appendChild(h('div', { class: 'login-wrap' }, form));
  input.focus();
}

function frame(): { main: HTMLElement } {
  const s = session()!;
  clear(app);
  const { name } = parseHash();
  const nav = h(
    'nav',
    { class: 'nav' },
    Object.entries(routes)
      .filter(([, r]) => r.nav)
      .map(([k, r]) => h('a', { href: `#/${k}`, class: k === name || (name === 'agent' && k === 'team') ? 'active' : '', 'data-test': `nav-${k}` }, r.title)),
  );
  const teamSelect = h(
    'select',
    {
      'data-test': 'team-select',
      'aria-label': 'Team',
      onchange: (ev: Event) => {
        selectTeam((ev.target as HTMLSelectElement).value);
        start();
      },
    },
    s.orgWide ? h('option', { value: '', selected: s.team === '' }, 'All teams (org)') : null,
    s.teams.map((t) => h('option', { value: t.id, selected: t.id === s.team }, t.name && t.name !== t.id ? `${t.name} (${t.id})` : t.id)),
  );
  const dot = h('span', { class: 'live-dot', 'data-test': 'stream-state' });
  liveDot = dot;
  showStreamState(live.state);
  const rate = h('div', { class: 'rate-banner', hidden: true, 'data-test': 'rate-banner' });
  setRateLimitListener((sec) => {
    rate.hidden = false;
    rate.textContent = `The API's rate limit was reached; retrying in ${sec} s.`;
    setTimeout(() => (rate.hidden = true), sec * 1000 + 500);
  });
  const header = h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '#/overview' }, 'Tally'),
    nav,
    h(
      'div',
      { class: 'top-right' },
      teamSelect,
      dot,
      h('span', { class: `badge badge-role`, 'data-test': 'role', title: s.orgWide ? 'org-wide key' : 'team key' }, s.role === 'admin' ? (s.orgWide ? 'org admin' : 'admin') : 'read-only'),
      h('button', { class: 'link', 'data-test': 'logout', onclick: () => (logout(), showLogin()) }, 'Sign out'),
    ),
  );
  const main = h('main', { id: 'page' });
  app.append(header, rate, main);
  return { main };
}

async function route(): Promise<void> {
  const s = session();
  if (!s) return showLogin();
  current?.abort.abort();
  current?.page.dispose?.();
  current = null;
  const { main } = frame();
  const { name, params, query } = parseHash();
  const r = routes[name] ?? routes.overview;
  document.title = `${r.title} · Tally`;
  const abort = new AbortController();
  const ctx: PageContext = {
    root: main,
    session: s,
    params,
    query,
    signal: abort.signal,
    setQuery(q) {
      const p = new URLSearchParams(query);
      for (const [k, v] of Object.entries(q)) {
        if (v === null) p.delete(k);
        else p.set(k, v);
      }
      const qs = p.toString();
      const path = location.hash.replace(/^#\/?/, '').split('?')[0] || name;
      history.replaceState(null, '', `#/${path}${qs ? '?' + qs : ''}`);
    },
  };
  main.dataset.page = name;
  try {
    const page = await r.page(ctx);
    if (abort.signal.aborted) {
      page.dispose?.();
      return;
    }
    current = { page, abort };
  } catch (e) {
    if (abort.signal.aborted) return;
    main.appendChild(message('error', errorText(e), 'page-error'));
    current = { page: {}, abort };
  }
}

function onStream(m: StreamMessage): void {
  if (m.event === 'alert') notifyAlert(m.data);
  current?.page.onStream?.(m);
}
live.on(onStream);

function start(): void {
  const s = session();
  if (!s) return showLogin();
  live.start(s.key, s.team);
  void route();
}

window.addEventListener('hashchange', () => {
  const frag = takeFragmentLogin(location, history);
  if (frag) return void fragmentLogin(frag);
  void route();
});

async function fragmentLogin(frag: { key: string; team?: string }): Promise<void> {
  try {
    await login(frag.key, frag.team);
    start();
  } catch (e) {
    logout();
    showLogin(`The key in the link was not accepted: ${errorText(e)}`);
  }
}

const frag = takeFragmentLogin(location, history);
if (frag) void fragmentLogin(frag);
else if (restore()) start();
else showLogin();
