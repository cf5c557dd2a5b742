/** The reverse proxy of mill's ingress: the public API. */
export {
  type ChallengeResponder,
  type ListenAddress,
  type LogLevel,
  type Proxy,
  type ProxyOptions,
  type ProxyStats,
  startProxy,
} from "./server.ts";
export {
  type BalancePolicy,
  buildRouteTable,
  type Endpoint,
  type Route,
  type RouteLookup,
  type RouteTable,
  RouteTableError,
} from "./route_table.ts";
export {
  CertificateError,
  type CertificateMap,
  type HostCertificate,
} from "./certificates.ts";
export { PROXY_LIMITS_DEFAULT, type ProxyLimits } from "./limits.ts";
export { PASSIVE_HEALTH_DEFAULT, type PassiveHealth } from "./balancer.ts";
export { type AccessLogEntry, formatAccessLog } from "./access_log.ts";
