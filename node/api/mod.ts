/**
 * The API frame: HTTPS server, bearer auth, router, JSON errors, bounded
 * bodies, server-sent events and follower → leader forwarding. The
 * conventions are documented in node/API.md.
 */
export {
  Authenticator,
  AUTHORIZATION_LENGTH_MAX,
  authorize,
  bearerToken,
  type Caller,
  type CallerAuthenticator,
  CertificateAuthenticator,
  type RotatedTokens,
  type RouteScope,
  type ScopedToken,
  sha256Hex,
  type TokenScope,
} from "./auth.ts";
export {
  type BodyOptions,
  JSON_BODY_BYTES_MAX,
  readBodyBytes,
  readJsonBody,
  readTextBody,
} from "./body.ts";
export {
  API_ERROR_STATUSES,
  ApiError,
  type ApiErrorBody,
  type ApiErrorStatus,
  errorResponse,
  internalErrorResponse,
  JSON_HEADERS,
  jsonResponse,
} from "./errors.ts";
export {
  FORWARD_HEADERS_TIMEOUT_MS,
  FORWARDED_BY_HEADER,
  type ForwardOptions,
  forwardToLeader,
  isForwarded,
} from "./forward.ts";
export {
  type Handler,
  type Method,
  PATH_LENGTH_MAX,
  type Route,
  type RouteContext,
  type RouteMatch,
  Router,
} from "./router.ts";
export {
  addSecretRoutes,
  SECRET_VALUE_CONTENT_TYPES,
  type SecretEntry,
  type SecretRoutesOptions,
  type SecretStore,
} from "./secret_routes.ts";
export {
  type Connection,
  listen,
  type Listener,
  LISTENER_LIMITS_DEFAULT,
  type ListenerLimits,
  type ListenerTls,
} from "./listener.ts";
export {
  type ApiServer,
  type ApiServerOptions,
  handleApiRequest,
  startApiServer,
} from "./server.ts";
export {
  formatSseEvent,
  SSE_HEARTBEAT_MS,
  SSE_QUEUE_EVENTS_MAX,
  SSE_SUBSCRIBERS_MAX,
  type SseEvent,
  SseHub,
  SseStream,
  type SseStreamOptions,
} from "./sse.ts";
