// An incremental parser of Server-Sent Events text (the WHATWG event-stream format), fed the
// decoded chunks of a fetch() body as they arrive. Pure; one parser per connection.

export interface SseEvent {
  id: string | null; // the last `id:` seen (as EventSource's lastEventId)
  event: string; // `event:`, default "message"
  data: string; // the `data:` lines joined by "\n"
}

export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private sawData = false;
  lastId: string | null = null;

  // Feeds one chunk; returns the events it completed.
  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone "\r" at the end may be the first half of "\r\n": wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      if (!this.sawData) {
        this.event = '';
        return null;
      }
      const ev: SseEvent = {
        id: this.lastId,
        event: this.event || 'message',
        data: this.data.join('\n'),
      };
      this.data = [];
      this.event = '';
      this.sawData = false;
      return ev;
    }
    if (line.startsWith(':')) return null; // a comment (": ping")
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        this.sawData = true;
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        break; // retry and unknown fields are ignored
    }
    return null;
  }
}
