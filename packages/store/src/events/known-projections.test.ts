import { initialRunState } from '@runstream/domain';
import { describe, expect, it } from 'vitest';
import { KnownProjections } from './known-projections.js';

const running = { ...initialRunState(), status: 'running' as const, attempts: 1 };

describe('KnownProjections', () => {
  it('keeps the latest projection per run and forgets a finished run', () => {
    const known = new KnownProjections();
    known.remember('a', 1, initialRunState());
    known.remember('a', 2, running);
    expect(known.get('a')).toEqual({ lastSeq: 2, state: running });
    known.remember('a', 3, { ...running, status: 'succeeded' });
    expect(known.get('a')).toBeUndefined();
  });

  it('drops the least recently written run beyond its capacity', () => {
    const known = new KnownProjections(2);
    known.remember('a', 1, running);
    known.remember('b', 1, running);
    known.remember('a', 2, running);
    known.remember('c', 1, running);
    expect([known.get('a')?.lastSeq, known.get('b'), known.get('c')?.lastSeq]).toEqual([2, undefined, 1]);
    known.forget('a');
    expect(known.get('a')).toBeUndefined();
  });
});
