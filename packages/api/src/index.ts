export { createApiServer, type ApiServer, type ApiServerConfig } from './server.js';
export {
  createAuthenticator,
  mintReadToken,
  verifyReadToken,
  DEFAULT_READ_TOKEN_TTL_MS,
  type ApiAuthConfig,
  type Authenticator,
  type AuthResult,
  type Credential,
  type Principal,
} from './auth.js';
export { isLoopbackHost, parseOrigin } from './request-guard.js';
export { createRouter, type ApiContext, type ApiRouter } from './router.js';
export { toApiError, type ApiLogger } from './errors.js';
export { createHealthHandler, type ApiQueue, type HealthCheckConfig, type HealthReport } from './health.js';
export { createMetricsHandler, type MetricsHandlerConfig } from './metrics.js';
export type { StreamSettings } from './stream-control.js';
