// The Server-Sent Events parser, fed the way fetch() delivers: arbitrary chunk boundaries.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SseParser } from '../../src/sse.js';

const STREAM =
  ': ping\n\n' +
  'id: 17\nevent: usage\ndata: {"cost_nanos":12000000}\n\n' +
  'id: 18\r\nevent: alert\r\ndata: {"level":\r\ndata: "critical"}\r\n\r\n' +
  'event: reset\ndata: {}\n\n' +
  'data:no-space\n\n';

test('events, ids, multi-line data, CRLF and comments', () => {
  const evs = new SseParser().push(STREAM);
  assert.deepEqual(evs, [
    { id: '17', event: 'usage', data: '{"cost_nanos":12000000}' },
    { id: '18', event: 'alert', data: '{"level":\n"critical"}' },
    { id: '18', event: 'reset', data: '{}' },
    { id: '18', event: 'message', data: 'no-space' },
  ]);
});

test('any split of the bytes gives the same events', () => {
  const whole = new SseParser().push(STREAM);
  for (let size = 1; size <= 7; size++) {
    const p = new SseParser();
    const got = [];
    for (let i = 0; i < STREAM.length; i += size) got.push(...p.push(STREAM.slice(i, i + size)));
    assert.deepEqual(got, whole, `chunks of ${size}`);
  }
});

test('an event is only complete at its blank line', () => {
  const p = new SseParser();
  assert.deepEqual(p.push('id: 1\nevent: usage\ndata: {}'), []);
  assert.deepEqual(p.push('\n'), []);
  assert.deepEqual(p.push('\n'), [{ id: '1', event: 'usage', data: '{}' }]);
  assert.equal(p.lastId, '1');
});
