/**
 * The fact that a run's log reached `lastSeq`: what an append announces (in-process, and to other nodes by
 * NOTIFY). Ids only, never event bodies.
 */
export interface RunAppended {
  runId: string;
  lastSeq: number;
}
