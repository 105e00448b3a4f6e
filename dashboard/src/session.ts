// Who is logged in: the API key (kept in sessionStorage, so for this browser tab's session
// only), what it may do, the teams it sees and the team selected. The wall-screen fragment
// `#key=<api key>&team=<team id>` logs in without typing; the key is then removed from the
// address bar (history.replaceState), and it is never sent anywhere but in the X-API-Key header.

import { ApiError, get, request, setApiKey } from './api.js';

export type Role = 'admin' | 'reader';

export interface Team {
  id: string;
  name: string;
  timezone: string;
}

export interface Session {
  key: string;
  role: Role; // admin: may change limits and end sessions; reader: read-only in the UI
  orgWide: boolean; // an org-wide admin key (sees every team and the org totals)
  teams: Team[];
  team: string; // the selected team; '' = the whole org (org-wide keys only)
}

const STORE = 'tally.dashboard.session';

let current: Session | null = null;

export function session(): Session | null {
  return current;
}

export function selectedTeam(): Team | null {
  if (!current || !current.team) return null;
  return current.teams.find((t) => t.id === current!.team) ?? null;
}

// The team's IANA zone, or UTC for the org.
export function selectedZone(): string {
  return selectedTeam()?.timezone || 'UTC';
}

function save(): void {
  if (current) sessionStorage.setItem(STORE, JSON.stringify(current));
  else sessionStorage.removeItem(STORE);
}

export function restore(): Session | null {
  const raw = sessionStorage.getItem(STORE);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Session;
    if (typeof s.key !== 'string' || !s.key) return null;
    current = s;
    setApiKey(s.key);
    return s;
  } catch {
    return null;
  }
}

export function selectTeam(team: string): void {
  if (!current) return;
  current.team = team;
  save();
}

export function logout(): void {
  current = null;
  setApiKey('');
  save();
}

// Checks the key against the API and learns what it may do:
// GET /api/v1/teams (401 for a bad key) gives the teams it sees; GET /api/v1/auth/keys answers
// 200 only to admins; usage/summary without team_id has scope "org" only for org-wide keys.
export async function login(key: string, wantTeam?: string): Promise<Session> {
  key = key.trim();
  if (!key) throw new Error('Enter an API key.');
  const teams = (await request<{ teams: Team[] }>('GET', '/api/v1/teams', undefined, { key })).teams ?? [];
  let role: Role = 'reader';
  try {
    await request('GET', '/api/v1/auth/keys', undefined, { key });
    role = 'admin';
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 403 && e.status !== 401)) throw e;
  }
  let orgWide = false;
  if (role === 'admin') {
    try {
      const s = await request<{ scope: string }>('GET', '/api/v1/usage/summary?period=day', undefined, { key });
      orgWide = s.scope === 'org';
    } catch {
      orgWide = false;
    }
  }
  let team = '';
  if (wantTeam && (orgWide || teams.some((t) => t.id === wantTeam))) team = wantTeam;
  else if (teams.length > 0) team = teams[0].id;
  if (wantTeam && team !== wantTeam) {
    throw new Error(`This key does not see team "${wantTeam}".`);
  }
  if (wantTeam && orgWide && !teams.some((t) => t.id === wantTeam)) {
    // An org-wide key may name a team created after the list was read: check it exists.
    const t = await request<Team>('GET', `/api/v1/teams/${encodeURIComponent(wantTeam)}`, undefined, { key });
    teams.push({ id: t.id, name: t.name, timezone: t.timezone });
  }
  current = { key, role, orgWide, teams, team };
  setApiKey(key);
  save();
  return current;
}

// Re-reads the teams (after one was created, or on a team switch).
export async function refreshTeams(): Promise<void> {
  if (!current) return;
  const r = await get<{ teams: Team[] }>('/api/v1/teams');
  current.teams = r.teams ?? [];
  save();
}

// `#key=...&team=...` in the address: returns them and removes the fragment from the address
// bar and history, leaving `#/overview`.
export function takeFragmentLogin(loc: Location, hist: History): { key: string; team?: string } | null {
  const h = loc.hash.replace(/^#\/?/, '');
  if (!/(^|&)key=/.test(h)) return null;
  const p = new URLSearchParams(h);
  const key = p.get('key') ?? '';
  const team = p.get('team') ?? undefined;
  hist.replaceState(null, '', loc.pathname + loc.search + '#/overview');
  return key ? { key, team } : null;
}
