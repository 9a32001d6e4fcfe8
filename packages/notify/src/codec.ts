import type { RunAppended } from '@runstream/domain';

/**
 * The NOTIFY payload of run-appended signals: `<runId>:<lastSeq>`, several joined by commas. Ids only, never
 * event bodies (NOTIFY payloads are capped at 8000 bytes and every listener receives every one).
 */
export function encodeRunAppended({ runId, lastSeq }: RunAppended): string {
  return `${runId}:${lastSeq}`;
}

/** Returns null for a payload this version does not understand, so a newer writer cannot crash an older reader. */
export function decodeRunAppended(payload: string): RunAppended | null {
  const separator = payload.lastIndexOf(':');
  const lastSeq = Number(payload.slice(separator + 1));
  if (separator <= 0 || !Number.isSafeInteger(lastSeq) || lastSeq < 1) return null;
  return { runId: payload.slice(0, separator), lastSeq };
}

/** NOTIFY payloads are capped at 8000 bytes; batches stay under this. */
export const maxNotificationBytes = 7_900;

/**
 * Packs signals into as few payloads as fit (`<runId>:<lastSeq>,…`), so one NOTIFY announces many appends.
 * Signals are ASCII, so string length is byte length.
 */
export function encodeRunAppendedBatches(signals: Iterable<RunAppended>): string[] {
  const payloads: string[] = [];
  let current = '';
  for (const signal of signals) {
    const item = encodeRunAppended(signal);
    if (current !== '' && current.length + 1 + item.length > maxNotificationBytes) {
      payloads.push(current);
      current = '';
    }
    current = current === '' ? item : `${current},${item}`;
  }
  if (current !== '') payloads.push(current);
  return payloads;
}

/** The signals of one payload; items this version does not understand are skipped. */
export function decodeRunAppendedBatch(payload: string): RunAppended[] {
  return payload.split(',').flatMap((item) => decodeRunAppended(item) ?? []);
}
