// The live stream of the dashboard: GET /api/v1/stream read with fetch() streaming (the key in
// the X-API-Key header; EventSource cannot send headers), parsed by SseParser, handed to the
// listeners as {event, data}. Reconnects with Last-Event-ID after a drop or an `overflow`
// (backoff 1 s .. 15 s); `reset` tells listeners to reload what they show.

import { parseJsonExact } from './money.js';
import { SseParser } from './sse.js';

export type StreamKind = 'usage' | 'session' | 'alert' | 'limits' | 'reset';

export interface StreamMessage {
  event: StreamKind;
  id: string | null;
  data: any;
}

export type StreamState = 'connecting' | 'live' | 'down';

type Listener = (m: StreamMessage) => void;

export class LiveStream {
  private listeners = new Set<Listener>();
  private stateListeners = new Set<(s: StreamState) => void>();
  private abort: AbortController | null = null;
  private lastId: string | null = null;
  private running = false;
  private generation = 0; // a loop runs while its generation is the current one
  private backoffMs = 1000;
  private key = '';
  private team = '';
  state: StreamState = 'down';

  on(f: Listener): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }
  onState(f: (s: StreamState) => void): () => void {
    this.stateListeners.add(f);
    f(this.state);
    return () => this.stateListeners.delete(f);
  }

  // (Re)starts the stream for a key and team ('' = every team the key sees).
  start(key: string, team: string): void {
    if (this.running && key === this.key && team === this.team) return;
    this.stop();
    this.key = key;
    this.team = team;
    this.lastId = null;
    this.running = true;
    this.backoffMs = 1000;
    void this.loop(++this.generation);
  }

  stop(): void {
    this.running = false;
    this.generation++;
    this.abort?.abort();
    this.abort = null;
    this.setState('down');
  }

  private setState(s: StreamState): void {
    if (this.state === s) return;
    this.state = s;
    for (const f of this.stateListeners) f(s);
  }

  private emit(m: StreamMessage): void {
    for (const f of this.listeners) {
      try {
        f(m);
      } catch (e) {
        console.error('stream listener', e);
      }
    }
  }

  private async loop(gen: number): Promise<void> {
    const current = () => this.running && gen === this.generation;
    while (current()) {
      const ac = new AbortController();
      this.abort = ac;
      this.setState('connecting');
      let gotSomething = false;
      try {
        const headers: Record<string, string> = { 'X-API-Key': this.key, Accept: 'text/event-stream' };
        if (this.lastId) headers['Last-Event-ID'] = this.lastId;
        const url = '/api/v1/stream' + (this.team ? `?team_id=${encodeURIComponent(this.team)}` : '');
        const res = await fetch(url, { headers, signal: ac.signal, cache: 'no-store' });
        if (!current()) return;
        if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
        this.setState('live');
        this.backoffMs = 1000;
        const parser = new SseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done || !current()) break;
          for (const ev of parser.push(value)) {
            gotSomething = true;
            if (ev.id) this.lastId = ev.id;
            if (ev.event === 'overflow') break; // the server closes; reconnect with lastId
            let data: unknown = null;
            try {
              data = ev.data ? parseJsonExact(ev.data) : null;
            } catch {
              continue;
            }
            if (current()) this.emit({ event: ev.event as StreamKind, id: ev.id, data });
          }
        }
      } catch (e) {
        if (!current()) return;
        console.warn('live stream:', e);
      }
      if (!current()) return;
      this.setState('down');
      await new Promise((r) => setTimeout(r, gotSomething ? 250 : this.backoffMs));
      if (!gotSomething) this.backoffMs = Math.min(15_000, this.backoffMs * 2);
    }
  }
}

export const live = new LiveStream();
