#!/usr/bin/env node
// The dashboard end to end in headless Debian Chromium (playwright-core, no browser download):
// seeds a team with usage through the API, opens the dashboard served at --url, checks that the
// figures shown equal the API's, posts more usage and sees the page follow without a reload
// (the live stream), ends a session with the kill switch, sees alerts arrive (with browser
// notifications for critical and exceeded), changes budgets as admin (checked through the API),
// sees them read-only for a reader (and the API refusing the reader), and sees a refused save
// show the API's problem. A screenshot of every page goes to --out.
//
//   node dashboard/tests/e2e.mjs --url http://127.0.0.1:8000 --admin-key tly_... \
//     [--reader-key tly_...] [--team e2e] [--out build/e2e-artifacts] [--chromium /usr/bin/chromium]
//
// --admin-key must be an org-wide admin key. Exit status 0 when every check passed.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    'admin-key': { type: 'string' },
    'reader-key': { type: 'string' },
    team: { type: 'string', default: `e2e-${Date.now().toString(36)}` },
    out: { type: 'string', default: 'build/e2e-artifacts' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    headed: { type: 'boolean', default: false },
  },
});
if (!args.url || !args['admin-key']) {
  console.error('usage: e2e.mjs --url URL --admin-key KEY [--reader-key KEY] [--team ID] [--out DIR]');
  process.exit(2);
}
const base = args.url.replace(/\/$/, '');
const ADMIN = args['admin-key'];
const TEAM = args.team;
const OUT = resolve(args.out);
mkdirSync(OUT, { recursive: true });

let checks = 0;
const log = (...a) => console.log('e2e:', ...a);
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks++;
}
function eq(actual, expected, what) {
  if (String(actual) !== String(expected)) {
    throw new Error(`check failed: ${what}: shown ${JSON.stringify(String(actual))}, expected ${JSON.stringify(String(expected))}`);
  }
  checks++;
}

// ---- the API, with exact nanos ----------------------------------------------------------------
function parseExact(text) {
  // Keep *_nanos integers exact (BigInt) whatever their size: quote them before parsing.
  return JSON.parse(text.replace(/("[A-Za-z0-9_]*_nanos"\s*:\s*)(-?\d+)/g, '$1"$2"'), (k, v) =>
    k.endsWith('_nanos') && typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : v,
  );
}
async function api(method, path, body, key = ADMIN, okStatuses = [200, 201, 202]) {
  const headers = { 'X-API-Key': key, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  const json = text ? (() => { try { return parseExact(text); } catch { return { raw: text }; } })() : null;
  if (okStatuses && !okStatuses.includes(res.status)) {
    throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 400)}`);
  }
  return { status: res.status, json };
}
const GET = async (p, key) => (await api('GET', p, undefined, key)).json;

// "$1,234.57": what the dashboard shows for amounts of a cent or more (half up at the cent).
function usd2(n) {
  n = BigInt(n);
  const neg = n < 0n;
  let a = neg ? -n : n;
  let cents = a / 10_000_000n;
  if ((a % 10_000_000n) * 2n >= 10_000_000n) cents += 1n;
  const whole = (cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '-' : ''}$${whole}.${(cents % 100n).toString().padStart(2, '0')}`;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, f, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await f();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last instanceof Error ? ': ' + last.message : ''}`);
    await sleep(100);
  }
}

// ---- seed ----------------------------------------------------------------------------------
const AGENTS = [
  { id: `${TEAM}-feature-dev`, name: 'feature-dev', type: 'dev', model: 'claude-opus-4-1' },
  { id: `${TEAM}-bugfix-dev`, name: 'bugfix-dev', type: 'dev', model: 'claude-sonnet-4-5' },
  { id: `${TEAM}-clarifier`, name: 'clarifier', type: 'pm', model: 'claude-haiku-4-5' },
];
let usageSeq = 0;
async function usage(session, costUsd, tokens = {}, extra = {}) {
  const body = `{"event_id": "${TEAM}-u-${++usageSeq}", "input_tokens": ${tokens.in ?? 1500}, "output_tokens": ${tokens.out ?? 400}, "cache_creation_input_tokens": ${tokens.cw ?? 100}, "cache_read_input_tokens": ${tokens.cr ?? 600}, "cost_usd": ${costUsd}${extra.at ? `, "occurred_at": "${extra.at}"` : ''}}`;
  return api('POST', `/api/v1/sessions/${encodeURIComponent(session)}/usage`, body, ADMIN, extra.ok ?? [200]);
}
async function openSession(agent, model) {
  const r = await api('POST', `/api/v1/agents/${encodeURIComponent(agent)}/sessions`, { model });
  return r.json.session_id;
}

async function seed() {
  const t = await api('POST', '/api/v1/teams', { id: TEAM, name: `E2E ${TEAM}`, timezone: 'UTC' }, ADMIN, [200, 201]);
  check(t.json.id === TEAM, 'team created');
  for (const a of AGENTS) await api('POST', `/api/v1/teams/${TEAM}/agents`, { id: a.id, name: a.name, type: a.type }, ADMIN, [200, 201]);
  await api('PATCH', `/api/v1/settings/teams/${TEAM}`, '{"daily_cost_limit_usd": 50, "monthly_cost_limit_usd": 200}');
  await api('PATCH', `/api/v1/agents/${AGENTS[0].id}`, '{"monthly_cost_limit_usd": 150}');
  // Days of this month before today (UTC), for the daily bars; at most 4.
  const now = new Date();
  const back = Math.min(4, now.getUTCDate() - 1);
  const sessions = {};
  for (const a of AGENTS) sessions[a.id] = [];
  for (let d = back; d >= 0; d--) {
    for (const [i, a] of AGENTS.entries()) {
      const s = await openSession(a.id, a.model);
      sessions[a.id].push(s);
      const at = d > 0 ? new Date(now.getTime() - d * 86_400_000).toISOString() : null;
      // Amounts with nano-dollar digits; the sum is exact only if added as integers.
      await usage(s, `${(d + 1) * (3 - i)}.${String(123456789 + 111111111 * i).slice(0, 9)}`.replace(/^0+(?=\d)/, ''), {}, { at });
      await usage(s, '0.000000001', { in: 10, out: 1, cw: 0, cr: 0 }, { at });
      await api('POST', `/api/v1/sessions/${encodeURIComponent(s)}/end`, { status: i === 2 && d === 1 ? 'failed' : 'completed' });
    }
  }
  // Four more small runs of feature-dev (opus) and bugfix-dev today: five runs or more each this
  // month, what the run log's high-token rule and the insight rules want to judge an agent.
  for (const a of AGENTS.slice(0, 2)) {
    for (let j = 0; j < 4; j++) {
      const s = await openSession(a.id, a.model);
      await usage(s, '0.05', { in: 1200, out: 300, cw: 0, cr: 500 });
      await api('POST', `/api/v1/sessions/${encodeURIComponent(s)}/end`, { status: 'completed' });
    }
  }
  // Today: a run of unusually many tokens, and one left running.
  const big = await openSession(AGENTS[1].id, AGENTS[1].model);
  await usage(big, '1.5', { in: 480_000, out: 90_000, cw: 0, cr: 30_000 });
  await api('POST', `/api/v1/sessions/${encodeURIComponent(big)}/end`, { status: 'completed' });
  const running = await openSession(AGENTS[0].id, AGENTS[0].model);
  await usage(running, '0.25');
  return { running, big };
}

// ---- the browser -----------------------------------------------------------------------------
async function newPage(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, deviceScaleFactor: 1 });
  await ctx.grantPermissions(['notifications'], { origin: base });
  // Record the notifications the page raises.
  await ctx.addInitScript(() => {
    window.__notes = [];
    const Real = window.Notification;
    class Recorded extends Real {
      constructor(title, opts) {
        super(title, opts);
        window.__notes.push({ title, body: opts?.body ?? '' });
      }
    }
    Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
    Recorded.requestPermission = (...a) => Real.requestPermission(...a);
    window.Notification = Recorded;
  });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => log('page error:', e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') log('console error:', m.text());
  });
  return { ctx, page };
}
const attr = (page, sel, name) => page.locator(sel).first().getAttribute(name);
const text = (page, sel) => page.locator(sel).first().innerText();
async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  // Two animation frames: the charts' canvases have painted.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
  log('screenshot', name);
}
async function go(page, hash, readySel) {
  await page.evaluate((h) => (location.hash = h), hash);
  await page.locator(`main[data-page="${hash.replace(/^#\//, '').split(/[/?]/)[0]}"] ${readySel}`).first().waitFor({ timeout: 20_000 });
}

async function main() {
  log(`seeding team ${TEAM} at ${base}`);
  const { running, big } = await seed();
  let READER = args['reader-key'];
  if (!READER) READER = (await api('POST', '/api/v1/auth/keys', { role: 'reader', team: TEAM, name: 'e2e reader' })).json.key;
  await until('the reader key to work', async () => (await api('GET', `/api/v1/teams/${TEAM}`, undefined, READER, null)).status === 200);

  const browser = await chromium.launch({
    executablePath: args.chromium,
    headless: !args.headed,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let page;
  try {
    // ---- admin, logged in by the wall-screen link ----
    ({ page } = await newPage(browser));
    await page.goto(`${base}/#key=${encodeURIComponent(ADMIN)}&team=${encodeURIComponent(TEAM)}`);
    await page.locator('main[data-page="overview"] [data-test="total-cost"]').waitFor({ timeout: 30_000 });
    check(!page.url().includes(ADMIN) && !page.url().includes('key='), 'the key is removed from the address');
    check(!(await page.evaluate(() => history.length > 1 && location.href.includes('key='))), 'no key in the address after login');
    eq(await page.locator('[data-test="team-select"]').inputValue(), TEAM, 'the team of the link is selected');
    eq(await text(page, '[data-test="role"]'), 'org admin', 'role badge');
    await page.locator('[data-test="stream-state"][data-state="live"]').waitFor({ timeout: 20_000 });
    // A reload keeps the tab signed in (sessionStorage), with the same team.
    await page.reload();
    await page.locator('main[data-page="overview"] [data-test="total-cost"]').waitFor({ timeout: 20_000 });
    eq(await page.locator('[data-test="team-select"]').inputValue(), TEAM, 'the team survives a reload');
    check(await page.evaluate((k) => !location.href.includes(k), ADMIN), 'no key in the address after a reload');
    await page.locator('[data-test="stream-state"][data-state="live"]').waitFor({ timeout: 20_000 });

    // Overview, this month: every figure equals the API's.
    const q = `team_id=${TEAM}`;
    let sum = await GET(`/api/v1/usage/summary?period=month&${q}`);
    eq(await attr(page, '[data-test="total-cost"]', 'data-nanos'), sum.total_cost_nanos, 'total cost (nanos)');
    eq(await text(page, '[data-test="total-cost"]'), usd2(sum.total_cost_nanos), 'total cost as shown');
    eq(await attr(page, '[data-test="total-tokens"]', 'data-tokens'), sum.total_tokens, 'total tokens');
    eq(await attr(page, '[data-test="agent-runs"]', 'data-runs'), sum.run_count, 'agent runs');
    eq(await text(page, '[data-test="budget-share"]'), `${Math.floor(sum.percent_of_limit_bp / 100)}% of ${usd2(sum.cost_limit_nanos)} monthly limit`, 'share of the budget');
    const byAgent = await GET(`/api/v1/usage/by-agent?period=month&${q}`);
    for (const a of byAgent.agents) {
      const row = page.locator(`[data-test="by-agent"] .bd-row[data-key="${TEAM}/${a.agent_id ?? ''}"]`);
      eq(await row.getAttribute('data-nanos'), a.total_cost_nanos, `cost of agent ${a.agent_id}`);
      eq(await row.locator('.bd-cost').innerText(), usd2(a.total_cost_nanos), `cost of agent ${a.agent_id} as shown`);
    }
    const byModel = await GET(`/api/v1/usage/by-model?period=month&${q}`);
    for (const m of byModel.models) {
      eq(await page.locator(`[data-test="by-model"] .bd-row[data-key="${m.model ?? ''}"]`).getAttribute('data-nanos'), m.total_cost_nanos, `cost of model ${m.model}`);
    }
    const byProject = await GET('/api/v1/usage/by-project?period=month');
    const mine = byProject.projects.find((p) => p.team_id === TEAM);
    eq(await page.locator(`[data-test="by-team"] .bd-row[data-key="${TEAM}"]`).getAttribute('data-nanos'), mine.total_cost_nanos, 'cost by team');
    const today = new Date().toISOString().slice(0, 10);
    const daily = await GET(`/api/v1/usage/daily?start=${today.slice(0, 8)}01&end=${today}&${q}`);
    eq(await attr(page, '[data-test="daily-chart"]', 'data-sum'), daily.total_cost_nanos, 'daily bars add up to the total');
    eq(await attr(page, '[data-test="daily-chart"]', 'data-points'), daily.days.length, 'one bar per day');
    const status = await GET(`/api/v1/limits/status?${q}`);
    eq(await page.locator('[data-test="gauge"]').count(), status.limits.length, 'a gauge per limit');
    const teamDay = status.limits.find((l) => l.scope === `team:${TEAM}` && l.window === 'day' && l.metric === 'cost');
    eq(await page.locator(`[data-test="gauge"][data-scope="team:${TEAM}"][data-window="day"][data-metric="cost"]`).getAttribute('data-spent'), teamDay.spent_nanos, 'team day gauge');
    check((await page.locator(`[data-test="gauge"][data-scope="team:${TEAM}"][data-window="day"]`).innerText()).includes('resets in'), 'a gauge shows its reset time');
    const insights = await api('GET', `/api/v1/insights?${q}`, undefined, ADMIN, null);
    if (insights.status === 404) {
      await page.locator('[data-test="insights-na"]').waitFor();
      log('insights: not served by this node (shown as not available)');
    } else {
      eq(insights.status, 200, 'insights answer');
      const open = insights.json.insights.filter((i) => !i.dismissed);
      eq(await page.locator('[data-test="insight"]').count(), open.length, 'an item per insight');
      for (const i of open) {
        const saving = i.estimated_monthly_saving_nanos ?? i.monthly_saving_nanos;
        if (saving !== undefined) eq(await page.locator(`[data-test="insight"][data-id="${i.id}"]`).getAttribute('data-saving'), saving, `saving of insight ${i.id}`);
      }
      log(`insights: ${open.length} shown (${open.map((i) => i.rule).join(', ')})`);
    }
    await shot(page, 'overview');
    if (insights.status === 200 && (await page.locator('[data-test="insight"]').count()) > 0) {
      const first = page.locator('[data-test="insight"]').first();
      const id = await first.getAttribute('data-id');
      await first.locator('[data-test="insight-dismiss"]').click();
      await page.locator(`[data-test="insight"][data-id="${id}"]`).waitFor({ state: 'detached' });
      const after = (await GET(`/api/v1/insights?${q}`)).insights;
      check(!after.some((i) => i.id === id && !i.dismissed), 'a dismissed insight is gone from the API\'s list');
    }

    // The period picker: today, and a custom range summed from the daily rows.
    await page.locator('[data-test="period"]').selectOption('today');
    const day = await GET(`/api/v1/usage/summary?period=day&${q}`);
    await until('today\'s total', async () => (await attr(page, '[data-test="total-cost"]', 'data-nanos')) === String(day.total_cost_nanos));
    eq(await text(page, '[data-test="total-cost"]'), usd2(day.total_cost_nanos), 'today\'s total as shown');
    const from = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
    await page.locator('[data-test="period"]').selectOption('custom');
    await page.locator('[data-test="period-start"]').fill(today);
    await page.locator('[data-test="period-end"]').fill(from);
    await page.locator('[data-test="period-apply"]').click();
    check((await text(page, '[data-test="period-error"]')).includes('not be after'), 'a reversed range is refused with a message');
    await page.locator('[data-test="period-start"]').fill(from);
    await page.locator('[data-test="period-end"]').fill(today);
    await page.locator('[data-test="period-apply"]').click();
    const range = await GET(`/api/v1/usage/daily?start=${from}&end=${today}&${q}`);
    await until('the custom range total', async () => (await attr(page, '[data-test="total-cost"]', 'data-nanos')) === String(range.total_cost_nanos));
    eq(await attr(page, '[data-test="daily-chart"]', 'data-points'), 3, 'three bars for three days');
    await shot(page, 'overview-custom');
    await page.locator('[data-test="period"]').selectOption('month');
    await until('the month again', async () => (await attr(page, '[data-test="total-cost"]', 'data-nanos')) === String(sum.total_cost_nanos));

    // Live: more usage moves the figures without a reload.
    await page.evaluate(() => (window.__noReload = 'still here'));
    const before = BigInt(await attr(page, '[data-test="total-cost"]', 'data-nanos'));
    await usage(running, '2.000000007', { in: 1000, out: 1000, cw: 0, cr: 0 });
    await until('the total to move', async () => BigInt(await attr(page, '[data-test="total-cost"]', 'data-nanos')) === before + 2_000_000_007n);
    sum = await GET(`/api/v1/usage/summary?period=month&${q}`);
    eq(await attr(page, '[data-test="total-cost"]', 'data-nanos'), sum.total_cost_nanos, 'total after live usage equals the API');
    eq(await attr(page, '[data-test="total-tokens"]', 'data-tokens'), sum.total_tokens, 'tokens after live usage');
    eq(await page.evaluate(() => window.__noReload), 'still here', 'the page was not reloaded');
    await until('the agent row to move', async () => {
      const ag = (await GET(`/api/v1/usage/by-agent?period=month&${q}`)).agents.find((a) => a.agent_id === AGENTS[0].id);
      return (await page.locator(`[data-test="by-agent"] .bd-row[data-key="${TEAM}/${AGENTS[0].id}"]`).getAttribute('data-nanos')) === String(ag.total_cost_nanos);
    });

    // Team page.
    await go(page, '#/team', '[data-test="month-spend"]');
    eq(await attr(page, '[data-test="month-spend"]', 'data-nanos'), sum.total_cost_nanos, 'team month spend');
    eq(await attr(page, '[data-test="token-split"]', 'data-total'), sum.total_input_tokens + sum.total_output_tokens + sum.total_cache_creation_input_tokens + sum.total_cache_read_input_tokens, 'team tokens split');
    eq(await page.locator('[data-test="token-split"] [data-part="input"]').getAttribute('data-tokens'), sum.total_input_tokens, 'team input tokens');
    check((await page.locator('[data-test="team-runs"] [data-test="run"]').count()) > 0, 'team sessions listed');
    await shot(page, 'team');

    // Agent page.
    await go(page, `#/agent/${encodeURIComponent(AGENTS[0].id)}`, '[data-test="agent-month-spend"]');
    const ag0 = (await GET(`/api/v1/usage/by-agent?period=month&${q}`)).agents.find((a) => a.agent_id === AGENTS[0].id);
    eq(await attr(page, '[data-test="agent-month-spend"]', 'data-nanos'), ag0.total_cost_nanos, 'agent month spend');
    const agentSessions = await GET(`/api/v1/agents/${AGENTS[0].id}/sessions`);
    eq(await page.locator('[data-test="agent-runs"] [data-test="run"]').count(), agentSessions.sessions.length, 'agent sessions listed');
    for (const s of agentSessions.sessions) {
      eq(await page.locator(`[data-test="agent-runs"] [data-test="run"][data-id="${s.session_id}"]`).getAttribute('data-nanos'), s.cost_nanos, `session ${s.session_id} cost`);
    }
    const budget = await GET(`/api/v1/agents/${AGENTS[0].id}/budget`);
    eq(await page.locator('[data-test="agent-budgets"] [data-test="gauge"]').count(), budget.limits.length, 'agent budget lines');
    await shot(page, 'agent');

    // Live sessions: usage on the running session shows in its row; the kill switch ends it.
    await go(page, '#/live', `[data-test="live-sessions"] [data-test="run"][data-id="${running}"]`);
    const row = () => page.locator(`[data-test="live-sessions"] [data-test="run"][data-id="${running}"]`);
    const rowBefore = BigInt(await row().getAttribute('data-nanos'));
    await usage(running, '0.5');
    await until('the live row to move', async () => BigInt(await row().getAttribute('data-nanos')) === rowBefore + 500_000_000n);
    eq(await row().getAttribute('data-nanos'), (await GET(`/api/v1/sessions/${running}`)).cost_nanos, 'live row cost equals the session\'s');
    const fresh = await openSession(AGENTS[2].id, AGENTS[2].model);
    await page.locator(`[data-test="live-sessions"] [data-test="run"][data-id="${fresh}"]`).waitFor({ timeout: 20_000 });
    check(true, 'a session opened elsewhere appears live');
    await shot(page, 'live');
    await row().locator('[data-test="kill"]').click();
    await row().locator('[data-test="kill-confirm"]').click();
    await page.locator(`[data-test="ended-sessions"] [data-test="run"][data-id="${running}"]`).waitFor({ timeout: 20_000 });
    eq((await GET(`/api/v1/sessions/${running}`)).status, 'failed', 'the killed session is ended in the ledger');
    eq(await row().count(), 0, 'the killed session left the running list');
    await shot(page, 'live-after-kill');

    // Alerts: take today's spend over the $50 daily cap: 50/80/95/100 % cross, critical and
    // exceeded raise browser notifications.
    await go(page, '#/alerts', '[data-test="alerts"]');
    await page.locator('[data-test="notify-on"]').waitFor();
    const spentToday = (await GET(`/api/v1/usage/summary?period=day&${q}`)).total_cost_nanos;
    const toGo = 50_000_000_000n - spentToday;
    check(toGo > 0n, 'today is under the daily cap before the alert stage');
    const whole = toGo / 1_000_000_000n, frac = (toGo % 1_000_000_000n).toString().padStart(9, '0');
    await usage(fresh, `${whole}.${frac}`);
    await until('four alerts in the feed', async () => (await page.locator('[data-test="alert"]').count()) >= 4);
    const feed = await GET(`/api/v1/alerts?${q}`);
    const levels = new Set(feed.alerts.map((a) => a.level));
    for (const l of ['info', 'warning', 'critical', 'exceeded']) {
      check(levels.has(l), `an ${l} alert in the API's feed`);
      check((await page.locator(`[data-test="alert"][data-level="${l}"]`).count()) > 0, `an ${l} alert shown`);
    }
    const notes = await until('browser notifications', async () => {
      const n = await page.evaluate(() => window.__notes);
      return n.filter((x) => /critical|exceeded/.test(x.title)).length >= 2 ? n : null;
    });
    check(!notes.some((x) => /info|warning/.test(x.title)), 'no notification for info or warning');
    const first = page.locator('[data-test="alert"][data-acked="false"]').first();
    const ackId = await first.getAttribute('data-id');
    await first.locator('[data-test="alert-ack"]').click();
    await page.locator(`[data-test="alert"][data-id="${ackId}"][data-acked="true"]`).waitFor();
    await until('the ack in the API', async () => (await GET(`/api/v1/alerts?${q}&acknowledged=true`)).alerts.some((a) => a.id === ackId));
    await shot(page, 'alerts');

    // Run log: every session, the high-token run highlighted, filter by agent.
    await go(page, '#/runs', '[data-test="runlog"]');
    const log1 = await api('GET', `/api/v1/sessions?${q}&limit=100`, undefined, ADMIN, null);
    const expected = log1.status === 200 ? (log1.json.sessions ?? log1.json.runs ?? []).length : (await GET(`/api/v1/teams/${TEAM}/costs?period=month`)).sessions.length;
    eq(await page.locator('[data-test="runlog"] [data-test="run"]').count(), expected, 'a run-log row per session');
    eq(await page.locator(`[data-test="runlog"] [data-test="run"][data-id="${big}"]`).getAttribute('data-high'), 'true', 'the high-token run is highlighted');
    check((await page.locator('[data-test="runlog"] [data-test="run"][data-high="true"]').count()) < expected / 2, 'only unusual runs highlighted');
    await shot(page, 'runlog');
    await page.locator('[data-test="runlog-agent"]').selectOption(AGENTS[1].id);
    await until('the agent filter', async () => {
      const n = await page.locator('[data-test="runlog"] [data-test="run"]').count();
      const other = await page.locator(`[data-test="runlog"] [data-test="run"]:not(:has(a[href="#/agent/${AGENTS[1].id}"]))`).count();
      return n > 0 && other === 0;
    });

    // Budgets, as admin: validation, then saved and visible through the API.
    await go(page, '#/budgets', '[data-test="team-limits"]');
    check(await page.locator('[data-test="read-only"]').count() === 0, 'admin sees an editable page');
    eq(await page.locator('[data-test="team-limits-daily_cost_limit_usd"]').inputValue(), '50', 'daily cap shown');
    await page.locator('[data-test="team-limits-monthly_cost_limit_usd"]').fill('twelve');
    await page.locator('[data-test="team-limits-save"]').click();
    await page.locator('[data-test="team-limits-invalid"]').waitFor();
    check((await text(page, '[data-test="team-limits-monthly_cost_limit_usd-error"]')).includes('dollars'), 'a validation message on the field');
    eq((await GET(`/api/v1/teams/${TEAM}`)).limits.monthly_cost_limit_nanos, 200_000_000_000n, 'nothing sent for an invalid form');
    await page.locator('[data-test="team-limits-monthly_cost_limit_usd"]').fill('200');
    await page.locator('[data-test="team-limits-daily_cost_limit_usd"]').fill('75.123456789');
    await page.locator('[data-test="team-limits-save"]').click();
    await page.locator('[data-test="team-limits-saved"]').waitFor();
    eq((await GET(`/api/v1/teams/${TEAM}`)).limits.daily_cost_limit_nanos, 75_123_456_789n, 'the new daily cap, exact, in the API');
    const agentRow = page.locator(`[data-test="agent-limits"][data-agent="${AGENTS[1].id}"]`);
    await agentRow.locator(`[data-test="agent-${AGENTS[1].id}-monthly_cost_limit_usd"]`).fill('12.345');
    await agentRow.locator(`[data-test="agent-${AGENTS[1].id}-max_tokens_per_run"]`).fill('250000');
    await agentRow.locator(`[data-test="agent-${AGENTS[1].id}-save"]`).click();
    await agentRow.locator(`[data-test="agent-${AGENTS[1].id}-saved"]`).waitFor();
    const lim = await GET(`/api/v1/limits?${q}`);
    eq(lim.limits.per_agent[AGENTS[1].id].max_cost_per_month_nanos, 12_345_000_000n, 'agent monthly budget in the API');
    eq(lim.limits.per_agent[AGENTS[1].id].max_tokens_per_run, 250000, 'agent per-run tokens in the API');
    await page.locator('[data-test="threshold-add"]').click();
    await page.locator('[data-test="threshold-percent"]').last().fill('80');
    await page.locator('[data-test="thresholds-save"]').click();
    await page.locator('[data-test="thresholds-invalid"]').waitFor();
    check((await text(page, '[data-test="threshold-error"]')).includes('twice'), 'a duplicate threshold is refused');
    await page.locator('[data-test="threshold-percent"]').last().fill('90');
    await page.locator('[data-test="thresholds-save"]').click();
    await page.locator('[data-test="thresholds-saved"]').waitFor();
    const cfg = await GET(`/api/v1/alerts/config?${q}`);
    check(cfg.source === 'team' && cfg.alerts.thresholds.some((t) => t.percent === 90), 'the new threshold in the API');
    check((await text(page, '[data-test="thresholds-source"]')).includes("team's own"), 'the thresholds are now the team\'s own');
    await shot(page, 'budgets');

    // A reader: signs in with the form, sees everything read-only, and the API refuses it.
    const reader = await newPage(browser);
    await reader.page.goto(`${base}/`);
    await reader.page.locator('[data-test="login-key"]').fill('tly_not_a_key');
    await reader.page.locator('[data-test="login-form"] button[type="submit"]').click();
    await reader.page.locator('[data-test="login-error"]').waitFor();
    check((await text(reader.page, '[data-test="login-error"]')).length > 0, 'a wrong key is refused at login with the API\'s reason');
    await shot(reader.page, 'login');
    await reader.page.locator('[data-test="login-key"]').fill(READER);
    await reader.page.locator('[data-test="login-form"] button[type="submit"]').click();
    await reader.page.locator('main[data-page="overview"] [data-test="total-cost"]').waitFor({ timeout: 30_000 });
    eq(await text(reader.page, '[data-test="role"]'), 'read-only', 'reader badge');
    eq(await reader.page.evaluate(() => sessionStorage.length > 0), true, 'the key is kept in sessionStorage');
    eq(await reader.page.locator('[data-test="insight-dismiss"]').count(), 0, 'a reader cannot dismiss insights');
    await go(reader.page, '#/budgets', '[data-test="team-limits"]');
    await reader.page.locator('[data-test="read-only"]').waitFor();
    check(await reader.page.locator('[data-test="team-limits-daily_cost_limit_usd"]').isDisabled(), 'reader inputs are disabled');
    eq(await reader.page.locator('[data-test="team-limits-save"]').count(), 0, 'no save button for a reader');
    eq(await reader.page.locator('[data-test="team-limits-daily_cost_limit_usd"]').inputValue(), '75.123456789', 'the reader sees the new cap');
    const refused = await api('PATCH', `/api/v1/settings/teams/${TEAM}`, '{"daily_cost_limit_usd": 1}', READER, null);
    eq(refused.status, 403, 'the API refuses a reader\'s change');
    await shot(reader.page, 'budgets-reader');
    await go(reader.page, '#/live', '[data-test="live-sessions"]');
    eq(await reader.page.locator('[data-test="kill"]').count(), 0, 'no kill switch for a reader');
    await reader.ctx.close();

    // A refused save shows the API's problem: a team admin's key revoked while the page is open.
    const k = (await api('POST', '/api/v1/auth/keys', { role: 'admin', team: TEAM, name: 'e2e revoked' })).json;
    await until('the team admin key to work', async () => (await api('GET', `/api/v1/teams/${TEAM}`, undefined, k.key, null)).status === 200);
    const tadmin = await newPage(browser);
    await tadmin.page.goto(`${base}/#key=${encodeURIComponent(k.key)}&team=${TEAM}`);
    await tadmin.page.locator('[data-test="total-cost"]').waitFor({ timeout: 30_000 });
    eq(await text(tadmin.page, '[data-test="role"]'), 'admin', 'team admin badge');
    await go(tadmin.page, '#/budgets', '[data-test="team-limits"]');
    await api('DELETE', `/api/v1/auth/keys/${k.id}`);
    const problem = await until('the revoked key to be refused', async () => {
      const r = await api('PATCH', `/api/v1/settings/teams/${TEAM}`, '{"daily_cost_limit_usd": 60}', k.key, null);
      return r.status === 401 ? r.json : null;
    });
    await tadmin.page.locator('[data-test="team-limits-daily_cost_limit_usd"]').fill('60');
    await tadmin.page.locator('[data-test="team-limits-save"]').click();
    await tadmin.page.locator('[data-test="team-limits-refused"]').waitFor();
    const shown = await text(tadmin.page, '[data-test="team-limits-refused"]');
    check(shown.includes(problem.title) && (!problem.detail || shown.includes(problem.detail)), `the refusal shows the API's problem (${shown})`);
    eq((await GET(`/api/v1/teams/${TEAM}`)).limits.daily_cost_limit_nanos, 75_123_456_789n, 'a refused save changed nothing');
    await shot(tadmin.page, 'budgets-refused');
    await tadmin.ctx.close();

    log(`${checks} checks passed`);
  } catch (e) {
    if (page) await page.screenshot({ path: join(OUT, 'failure.png'), fullPage: true }).catch(() => {});
    writeFileSync(join(OUT, 'failure.txt'), String(e?.stack ?? e));
    throw e;
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error('e2e: FAILED after', checks, 'checks:', e?.message ?? e);
    process.exit(1);
  },
);
