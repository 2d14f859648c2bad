import { createRequire } from 'node:module';
import type * as OtlpHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as Instrumentation from '@opentelemetry/instrumentation';
import type * as ExpressModule from '@opentelemetry/instrumentation-express';
import type * as HttpModule from '@opentelemetry/instrumentation-http';
import type * as PgModule from '@opentelemetry/instrumentation-pg';
import type * as Resources from '@opentelemetry/resources';
import type * as TraceNode from '@opentelemetry/sdk-trace-node';

/**
 * Optional OpenTelemetry tracing. `main.ts` imports this module before anything else, so the
 * instrumentations are in place before express, pg and node:http are loaded. Without
 * OTEL_EXPORTER_OTLP_ENDPOINT (or its traces-only form) nothing below runs and no OpenTelemetry
 * package is even loaded: requests pay nothing.
 *
 * The packages are required synchronously: module evaluation must not yield here, or the rest of
 * the application would load (unpatched) while this waits. Spans go to the collector over
 * OTLP/HTTP in batches (OTEL_BSP_* tune them); the exporter reads the standard OTEL_EXPORTER_OTLP_*
 * variables itself, and incoming W3C `traceparent` headers continue the caller's trace.
 */
const endpoint =
  process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
if (endpoint !== undefined && endpoint !== '') startTracing();

function startTracing(): void {
  const require = createRequire(import.meta.url);
  const { NodeTracerProvider, BatchSpanProcessor } =
    require('@opentelemetry/sdk-trace-node') as typeof TraceNode;
  const { OTLPTraceExporter } =
    require('@opentelemetry/exporter-trace-otlp-http') as typeof OtlpHttp;
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof Resources;
  const { registerInstrumentations } =
    require('@opentelemetry/instrumentation') as typeof Instrumentation;
  const { HttpInstrumentation } =
    require('@opentelemetry/instrumentation-http') as typeof HttpModule;
  const { ExpressInstrumentation } =
    require('@opentelemetry/instrumentation-express') as typeof ExpressModule;
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof PgModule;

  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': process.env.OTEL_SERVICE_NAME ?? 'latchkey',
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // Health probes and scrapes would drown the traces that matter.
        ignoreIncomingRequestHook: (req) => isOperational(req.url),
      }),
      new ExpressInstrumentation(),
      // Statement text only, never the parameters: they carry token hashes and user data.
      new PgInstrumentation({ enhancedDatabaseReporting: false }),
    ],
  });
  // express reaches the application through an ES import (Nest's adapter), which the require
  // hooks above do not see. Loading it here, through require, patches the one module instance
  // that the later import is served from.
  require('express');
  // A clean stop writes the spans still batched.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void provider.shutdown().catch(() => undefined));
  }
}

function isOperational(url: string | undefined): boolean {
  return url !== undefined && (url.startsWith('/health/') || url.startsWith('/metrics'));
}
