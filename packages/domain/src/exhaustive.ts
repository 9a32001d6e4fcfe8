/** Compile-time check that a switch over a closed set (event types, statuses) handled every member. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
