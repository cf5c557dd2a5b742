/**
 * The proxy's own answers, pure: small HTML pages with the status and a
 * sentence that helps the visitor, never an internal address, a service's
 * name or anything the request carried (nothing to escape, nothing to leak).
 */

export type ProxyErrorReason =
  | "bad-request"
  | "unknown-host"
  | "no-route"
  | "misdirected"
  | "headers-too-large"
  | "body-too-large"
  | "no-endpoint"
  | "upstream-failed"
  | "upstream-timeout";

const PAGES: Record<
  ProxyErrorReason,
  { status: number; title: string; text: string }
> = {
  "bad-request": {
    status: 400,
    title: "Bad Request",
    text: "The request is not well-formed HTTP.",
  },
  "unknown-host": {
    status: 404,
    title: "Not Found",
    text: "No site is served under this host name here.",
  },
  "no-route": {
    status: 404,
    title: "Not Found",
    text: "Nothing is served at this path for this host.",
  },
  "misdirected": {
    status: 421,
    title: "Misdirected Request",
    text: "This host is not served over HTTPS here.",
  },
  "headers-too-large": {
    status: 431,
    title: "Request Header Fields Too Large",
    text: "The request's headers are larger than this server accepts.",
  },
  "body-too-large": {
    status: 413,
    title: "Content Too Large",
    text: "The request's body is larger than this server accepts.",
  },
  "no-endpoint": {
    status: 503,
    title: "Service Unavailable",
    text: "The service has no healthy instance right now. Try again shortly.",
  },
  "upstream-failed": {
    status: 502,
    title: "Bad Gateway",
    text: "The service could not be reached or failed to answer.",
  },
  "upstream-timeout": {
    status: 504,
    title: "Gateway Timeout",
    text: "The service took too long to answer.",
  },
};

export interface Page {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

const encoder = new TextEncoder();

export function errorPage(reason: ProxyErrorReason): Page {
  const { status, title, text } = PAGES[reason];
  const body = encoder.encode(
    `<!doctype html>\n<html><head><meta charset="utf-8"><title>${status} ${title}</title></head>\n` +
      `<body><h1>${status} ${title}</h1>\n<p>${text}</p></body></html>\n`,
  );
  const headers: Record<string, string> = {
    "content-type": "text/html; charset=utf-8",
    "content-length": String(body.length),
    "cache-control": "no-store",
  };
  if (status === 503) headers["retry-after"] = "5";
  return { status, headers, body };
}

/** The same page as raw HTTP/1.1 bytes, for a connection the parser gave up on. */
export function rawErrorResponse(reason: ProxyErrorReason): string {
  const page = errorPage(reason);
  const { title } = PAGES[reason];
  const head = Object.entries(page.headers).map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return `HTTP/1.1 ${page.status} ${title}\r\n${head}connection: close\r\n\r\n${
    new TextDecoder().decode(page.body)
  }`;
}

/** The permanent redirect of an HTTP request to its HTTPS address. */
export function httpsRedirect(
  host: string,
  httpsPort: number,
  pathAndQuery: string,
): Page {
  const location = `https://${host}${
    httpsPort === 443 ? "" : `:${httpsPort}`
  }${pathAndQuery}`;
  const body = encoder.encode(`Moved to ${location}\n`);
  return {
    status: 308,
    headers: {
      location,
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(body.length),
    },
    body,
  };
}
