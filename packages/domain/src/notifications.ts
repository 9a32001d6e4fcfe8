/**
 * The wake-up signal sent with NOTIFY when a transaction appends to a run: ids only, never event bodies
 * (NOTIFY payloads are capped at 8000 bytes and every listener receives every one).
 */
export interface RunAppended {
  runId: string;
  lastSeq: number;
}

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
