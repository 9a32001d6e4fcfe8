import { describe, expect, it } from 'vitest';
import { parseTraceContext, traceContextSchema } from './trace-context.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const spanId = '00f067aa0ba902b7';
const valid = `00-${traceId}-${spanId}-01`;

describe('parseTraceContext', () => {
  it('keeps a valid traceparent and its tracestate', () => {
    expect(parseTraceContext(valid, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7')).toEqual({
      traceparent: valid,
      tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    });
    expect(parseTraceContext(` ${valid} `)).toEqual({ traceparent: valid });
  });

  it('reads a later version as version 00 and drops its extra fields', () => {
    expect(parseTraceContext(`cc-${traceId}-${spanId}-01-what-the-future-holds`)).toEqual({ traceparent: valid });
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['upper-case hex', `00-${traceId.toUpperCase()}-${spanId}-01`],
    ['version ff', `ff-${traceId}-${spanId}-01`],
    ['extra fields on version 00', `${valid}-extra`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${spanId}-01`],
    ['an all-zero parent id', `00-${traceId}-${'0'.repeat(16)}-01`],
    ['a short trace id', `00-${traceId.slice(1)}-${spanId}-01`],
  ])('ignores a traceparent that is %s, and its tracestate with it', (_case, header) => {
    expect(parseTraceContext(header, 'rojo=1')).toBeUndefined();
  });

  it('drops a tracestate that is too long or not printable ASCII, keeping the traceparent', () => {
    expect(parseTraceContext(valid, `a=${'x'.repeat(511)}`)).toEqual({ traceparent: valid });
    expect(parseTraceContext(valid, 'rojo=\u00e9')).toEqual({ traceparent: valid });
    expect(parseTraceContext(valid, '  ')).toEqual({ traceparent: valid });
  });

  it('returns what the event schema accepts', () => {
    const parsed = parseTraceContext(`01-${traceId}-${spanId}-00-x`, 'rojo=1');
    expect(traceContextSchema.parse(parsed)).toEqual({ traceparent: `00-${traceId}-${spanId}-00`, tracestate: 'rojo=1' });
    expect(traceContextSchema.safeParse({ traceparent: `01-${traceId}-${spanId}-00` }).success).toBe(false);
  });
});
