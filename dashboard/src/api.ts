// The HTTP API client of the dashboard: same-origin fetch() with the session's API key in the
// X-API-Key header, answers parsed with exact `_nanos` (BigInt), RFC 9457 problems turned into
// ApiError, and one wait-and-retry on 429 (Retry-After). Single-threaded (the page's).

import { exactJson, parseJsonExact } from './money.js';

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  [k: string]: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
    readonly path: string,
  ) {
    super(
      problem?.detail
        ? `${problem.title ?? 'Error'}: ${problem.detail}`
        : (problem?.title ?? `HTTP ${status} from ${path}`),
    );
  }
  // The problem's slug: "https://tally.dev/problems/forbidden" -> "forbidden".
  get slug(): string {
    const t = this.problem?.type ?? '';
    return t.slice(t.lastIndexOf('/') + 1);
  }
  // 404 because no route has that path (an older node), not because the thing is unknown.
  get noRoute(): boolean {
    return this.status === 404 && (this.problem === null || this.slug === 'not-found' || this.slug === 'not_found');
  }
}

let apiKey = '';
let onRateLimited: (seconds: number) => void = () => {};

export function setApiKey(key: string): void {
  apiKey = key;
}
export function setRateLimitListener(f: (seconds: number) => void): void {
  onRateLimited = f;
}

export function query(params: Record<string, string | number | null | undefined | boolean>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function request<T = any>(
  method: string,
  path: string,
  body?: unknown,
  opts: { signal?: AbortSignal; key?: string; retry?: boolean } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const key = opts.key ?? apiKey;
  if (key) headers['X-API-Key'] = key;
  let payload: string | undefined;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = exactJson(body);
  }
  const res = await fetch(path, { method, headers, body: payload, signal: opts.signal });
  const text = await res.text();
  if (res.status === 429 && opts.retry !== false) {
    const wait = Math.min(60, Math.max(1, parseInt(res.headers.get('Retry-After') ?? '5', 10) || 5));
    onRateLimited(wait);
    await sleep(wait * 1000);
    return request<T>(method, path, body, { ...opts, retry: false });
  }
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = parseJsonExact(text);
    } catch {
      parsed = null;
    }
  }
  if (!res.ok) {
    const problem =
      parsed && typeof parsed === 'object' ? (parsed as Problem) : text ? { title: text.slice(0, 200) } : null;
    throw new ApiError(res.status, problem, path);
  }
  return parsed as T;
}

export const get = <T = any>(path: string, signal?: AbortSignal) => request<T>('GET', path, undefined, { signal });
export const post = <T = any>(path: string, body?: unknown) => request<T>('POST', path, body);
export const patch = <T = any>(path: string, body: unknown) => request<T>('PATCH', path, body);
export const put = <T = any>(path: string, body: unknown) => request<T>('PUT', path, body);

// A read of a route that a node may not serve yet: null when it answers 404 for want of a route.
export async function getOptional<T = any>(path: string, signal?: AbortSignal): Promise<T | null> {
  try {
    return await get<T>(path, signal);
  } catch (e) {
    if (e instanceof ApiError && e.noRoute) return null;
    throw e;
  }
}

export const enc = encodeURIComponent;
