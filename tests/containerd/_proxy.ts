/**
 * A loopback HTTP server in front of a test registry that misbehaves on
 * purpose: it demands bearer tokens (with its own token endpoint), or it
 * corrupts large blobs on the way through. The registry behind it is real.
 */
export interface ProxyHandle {
  readonly host: string;
  stop(): Promise<void>;
}

export type ProxyMode =
  | {
    readonly kind: "bearer";
    readonly username: string;
    readonly password: string;
  }
  | { readonly kind: "corrupt"; readonly blobBytesMin: number };

const TOKEN = "mill-test-token";

export function startRegistryProxy(
  upstreamHost: string,
  mode: ProxyMode,
): ProxyHandle {
  const controller = new AbortController();
  let host = "";
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      signal: controller.signal,
      onListen: () => {},
    },
    async (request) => {
      const url = new URL(request.url);
      if (mode.kind === "bearer") {
        if (url.pathname === "/token") {
          const expected = `Basic ${btoa(`${mode.username}:${mode.password}`)}`;
          if (request.headers.get("authorization") !== expected) {
            return new Response("denied", { status: 401 });
          }
          if (
            !(url.searchParams.get("scope") ?? "").startsWith("repository:")
          ) {
            return new Response("no scope", { status: 400 });
          }
          return Response.json({ token: TOKEN });
        }
        if (request.headers.get("authorization") !== `Bearer ${TOKEN}`) {
          return new Response("{}", {
            status: 401,
            headers: {
              "www-authenticate":
                `Bearer realm="http://${host}/token",service="mill-test",scope="repository:${
                  url.pathname.split("/").slice(2, -2).join("/")
                }:pull"`,
            },
          });
        }
      }
      const upstream = await fetch(
        `http://${upstreamHost}${url.pathname}${url.search}`,
        {
          headers: { accept: request.headers.get("accept") ?? "*/*" },
        },
      );
      const headers = new Headers(upstream.headers);
      if (
        mode.kind === "corrupt" && url.pathname.includes("/blobs/") &&
        upstream.ok
      ) {
        const bytes = new Uint8Array(await upstream.arrayBuffer());
        if (bytes.byteLength >= mode.blobBytesMin) {
          bytes[bytes.byteLength >> 1]! ^= 0xff;
        }
        return new Response(bytes, { status: upstream.status, headers });
      }
      return new Response(upstream.body, { status: upstream.status, headers });
    },
  );
  host = `127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return {
    host,
    async stop() {
      controller.abort();
      await server.finished;
    },
  };
}
