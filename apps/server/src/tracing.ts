import { context, propagation, trace, type TracerProvider } from '@opentelemetry/api';

export interface Tracing {
  /** The provider the SDK registered, for the engine. */
  tracerProvider: TracerProvider;
  /** Exports the spans still buffered, then unregisters the SDK (so a later start in this process can register). */
  shutdown(): Promise<void>;
}

/**
 * Registers the OpenTelemetry Node SDK for traces, configured by the standard `OTEL_*` variables of the process
 * environment (exporter, endpoint, headers, sampler, resource). Metrics are Runstream's own (`/metrics`), and no
 * instrumentation is loaded: the spans are the engine's runs and steps. Loaded only when called, so a server
 * without tracing never loads the SDK.
 */
export async function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: 'runstream' }),
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return {
    tracerProvider: trace.getTracerProvider(),
    async shutdown() {
      try {
        await sdk.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}
