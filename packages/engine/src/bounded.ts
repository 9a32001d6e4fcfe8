import { DependencyTimeoutError } from '@runstream/domain';

/**
 * `promise`, or DependencyTimeoutError once `timeoutMs` has passed. The call itself is not stopped (a driver
 * query cannot be taken back); its late result or error is dropped.
 */
export function withinBound<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  promise.catch(() => {});
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DependencyTimeoutError(what, timeoutMs)), timeoutMs);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
