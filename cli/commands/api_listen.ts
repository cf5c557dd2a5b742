/**
 * Where `mill init`'s first primary serves the API, and the address its CLI
 * context names (pure). The two must agree: a context that points at an
 * address the API does not listen on would make every command exit 3.
 */
import { apiUrl, isIpAddress } from "../../node/cluster_init/mod.ts";
import { type HostPort, OptionError, parseHostPort } from "./agent_options.ts";

const WILDCARDS = ["0.0.0.0", "::"];

export interface ApiEndpoint {
  /** Where the API listens (`mill agent --api-listen`). */
  readonly listen: HostPort;
  /** The port the cluster records and the context's URL uses. */
  readonly port: number;
  /** `--api-address`, plus the listen host when it is a specific IP not named. */
  readonly addresses: readonly string[];
  /** The CLI context's API URL. */
  readonly url: string;
}

/**
 * From `--api-address` (in order), `--api-port` (undefined when not given)
 * and `--api-listen` (undefined when not given):
 * - no `--api-listen`: the API listens on the first address when it is an
 *   IP, on every interface (0.0.0.0) when it is a DNS name, on 127.0.0.1
 *   when none is given;
 * - `--api-listen HOST:PORT`: its port is the API port (a different
 *   `--api-port` is refused); a specific HOST must be the first address (or
 *   becomes it when none is given); 0.0.0.0 and :: serve them all.
 */
export function resolveApiEndpoint(
  addresses: readonly string[],
  apiPortText: string | undefined,
  apiListenText: string | undefined,
): ApiEndpoint {
  const givenPort = apiPortText === undefined
    ? undefined
    : parsePort(apiPortText);
  if (apiListenText === undefined) {
    const port = givenPort ?? 7443;
    const first = addresses[0];
    const hostname = first === undefined
      ? "127.0.0.1"
      : isIpAddress(first)
      ? first
      : "0.0.0.0";
    return {
      listen: { hostname, port },
      port,
      addresses,
      url: apiUrl(first ?? "127.0.0.1", port),
    };
  }
  const listen = parseHostPort(apiListenText, "--api-listen");
  if (listen.port === 0) {
    throw new OptionError(
      "--api-listen needs a fixed port: the CLI context records it",
    );
  }
  if (givenPort !== undefined && givenPort !== listen.port) {
    throw new OptionError(
      `--api-port ${givenPort} and --api-listen ${apiListenText} name different ports; give one of them`,
    );
  }
  const first = addresses[0];
  if (WILDCARDS.includes(listen.hostname)) {
    return {
      listen,
      port: listen.port,
      addresses,
      url: apiUrl(first ?? "127.0.0.1", listen.port),
    };
  }
  if (first !== undefined && first !== listen.hostname) {
    throw new OptionError(
      `The CLI context would point at ${
        apiUrl(first, listen.port)
      } (the first --api-address) but --api-listen ${apiListenText} does not serve it; ` +
        `listen on ${first} or on 0.0.0.0, or put ${listen.hostname} first in --api-address`,
    );
  }
  return {
    listen,
    port: listen.port,
    addresses: first === undefined ? [listen.hostname] : addresses,
    url: apiUrl(listen.hostname, listen.port),
  };
}

/** `HOST:PORT` as `--api-listen` takes it (IPv6 in brackets). */
export function formatHostPort(address: HostPort): string {
  const host = address.hostname.includes(":")
    ? `[${address.hostname}]`
    : address.hostname;
  return `${host}:${address.port}`;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) {
    throw new OptionError(`--api-port "${text}" is not a port number`);
  }
  return port;
}
