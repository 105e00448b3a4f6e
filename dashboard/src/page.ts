// What a page of the dashboard is: a function that fills its root element for the current
// route, and may follow the live stream. The router (main.ts) disposes of it on navigation.

import type { StreamMessage } from './stream.js';
import type { Session } from './session.js';

export interface PageContext {
  root: HTMLElement;
  session: Session;
  params: string[]; // path segments after the page name: #/agent/eng-1 -> ['eng-1']
  query: URLSearchParams; // #/overview?period=week -> period=week
  signal: AbortSignal; // aborted when the page is left
  // Sets the query of the current route without reloading the page.
  setQuery(q: Record<string, string | null>): void;
}

export interface Page {
  onStream?(m: StreamMessage): void;
  dispose?(): void;
}

export type PageFactory = (ctx: PageContext) => Page | Promise<Page>;

// Runs `f` at most once per `minMs`, trailing: a burst of calls is one call after it.
export function throttle(f: () => void, minMs: number): { (): void; cancel(): void } {
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const run = () => {
    timer = null;
    last = Date.now();
    f();
  };
  const t = () => {
    if (timer) return;
    const wait = Math.max(0, last + minMs - Date.now());
    timer = setTimeout(run, wait);
  };
  t.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return t;
}
