/**
 * What Runstream logs through: the subset of pino's interface it uses, so an app can pass its own pino (or a
 * compatible) logger. Messages come with a details object first, as in pino.
 */
export interface LogMethod {
  (details: object, message?: string): void;
  (message: string): void;
}

export interface RunstreamLogger {
  error: LogMethod;
  warn: LogMethod;
  info: LogMethod;
  debug: LogMethod;
  child(bindings: Record<string, unknown>): RunstreamLogger;
}

/** The default for an embedding app: warnings and errors on stderr, the rest dropped. */
export function consoleLogger(bindings: Record<string, unknown> = {}): RunstreamLogger {
  const line = (level: string, details: object | string, message?: string) =>
    typeof details === 'string'
      ? console.error(`[runstream] ${level}: ${details}`, bindings)
      : console.error(`[runstream] ${level}: ${message ?? ''}`, { ...bindings, ...details });
  return {
    error: (details: object | string, message?: string) => line('error', details, message),
    warn: (details: object | string, message?: string) => line('warn', details, message),
    info: () => {},
    debug: () => {},
    child: (more) => consoleLogger({ ...bindings, ...more }),
  };
}
