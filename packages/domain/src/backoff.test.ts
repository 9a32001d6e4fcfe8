import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay } from './backoff.js';
import { defaults } from './defaults.js';

// backoffDelay(attempt): the delay before the attempt after `attempt` failed. Its ceiling is baseMs doubled per
// attempt, capped at maxMs; the delay is drawn from [ceiling/2, ceiling] ("equal jitter").

function withRandom(value: number, fn: () => void) {
  const spy = vi.spyOn(Math, 'random').mockReturnValue(value);
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
}

describe('backoffDelay', () => {
  afterEach(() => vi.restoreAllMocks());

  it('spans exactly [ceiling/2, ceiling] at the extremes of the jitter', () => {
    const options = { baseMs: 100, maxMs: 10_000 };
    withRandom(0, () => {
      expect([1, 2, 3, 4].map((attempt) => backoffDelay(attempt, options))).toEqual([50, 100, 200, 400]);
    });
    withRandom(0.999_999_9, () => {
      expect([1, 2, 3, 4].map((attempt) => backoffDelay(attempt, options))).toEqual([100, 200, 400, 800]);
    });
    withRandom(0.5, () => {
      expect(backoffDelay(3, options)).toBe(300);
    });
  });

  it('stays within [ceiling/2, ceiling] for real random draws, and actually varies', () => {
    const options = { baseMs: 40, maxMs: 5_000 };
    for (let attempt = 1; attempt <= 10; attempt++) {
      const ceiling = Math.min(5_000, 40 * 2 ** (attempt - 1));
      const samples = Array.from({ length: 500 }, () => backoffDelay(attempt, options));
      for (const delay of samples) {
        expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
        expect(delay).toBeLessThanOrEqual(ceiling);
        expect(Number.isInteger(delay)).toBe(true);
      }
      expect(new Set(samples).size).toBeGreaterThan(1);
    }
  });

  it('grows exponentially: each attempt doubles the ceiling', () => {
    withRandom(0.999_999_9, () => {
      const delays = Array.from({ length: 8 }, (_, i) => backoffDelay(i + 1, { baseMs: 10, maxMs: 1_000_000 }));
      expect(delays).toEqual([10, 20, 40, 80, 160, 320, 640, 1_280]);
      for (let i = 1; i < delays.length; i++) expect(delays[i]).toBe(2 * delays[i - 1]!);
    });
  });

  it('is capped by maxMs, however many attempts failed', () => {
    const options = { baseMs: 100, maxMs: 1_000 };
    withRandom(0.999_999_9, () => {
      expect([4, 5, 6, 20, 60, 2_000].map((attempt) => backoffDelay(attempt, options))).toEqual([
        800, 1_000, 1_000, 1_000, 1_000, 1_000,
      ]);
    });
    withRandom(0, () => {
      expect(backoffDelay(60, options)).toBe(500);
    });
    for (let i = 0; i < 200; i++) expect(backoffDelay(1_000, options)).toBeLessThanOrEqual(1_000);
  });

  it('steps default to 1 s doubling up to 60 s, and attempts below 1 count as the first', () => {
    const steps = defaults.stepBackoff;
    withRandom(0.999_999_9, () => {
      expect(backoffDelay(1, steps)).toBe(1_000);
      expect(backoffDelay(2, steps)).toBe(2_000);
      expect(backoffDelay(7, steps)).toBe(60_000);
      expect(backoffDelay(30, steps)).toBe(60_000);
      expect(backoffDelay(0, { ...steps, baseMs: 100 })).toBe(100);
      expect(backoffDelay(-3, { ...steps, baseMs: 100 })).toBe(100);
    });
  });
});
