import { ok, strictEqual, throws } from "node:assert/strict";
import { CertificateError } from "./certificates.ts";
import {
  endpointOf,
  LOOPBACK,
  request,
  startUpstream,
  withProxy,
} from "./proxy_testing.ts";

interface Pem {
  readonly certPem: string;
  readonly keyPem: string;
  readonly certFile: string;
}

/** A self-signed certificate for `host`, made by openssl in `dir`. */
async function selfSigned(dir: string, host: string): Promise<Pem> {
  const certFile = `${dir}/${host}.crt`;
  const keyFile = `${dir}/${host}.key`;
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${host}`,
      "-addext",
      `subjectAltName=DNS:${host}`,
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return {
    certPem: await Deno.readTextFile(certFile),
    keyPem: await Deno.readTextFile(keyFile),
    certFile,
  };
}

/** curl over HTTPS with the host resolved to loopback: "VERSION STATUS BODY", or "failed". */
async function curl(
  port: number,
  host: string,
  caFile: string,
  ...args: string[]
): Promise<string> {
  const out = await new Deno.Command("curl", {
    args: [
      "-s",
      "--max-time",
      "5",
      "--cacert",
      caFile,
      "--resolve",
      `${host}:${port}:${LOOPBACK}`,
      "-w",
      " %{http_version} %{http_code}",
      ...args,
      `https://${host}:${port}/hello`,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.success ? new TextDecoder().decode(out.stdout) : "failed";
}

Deno.test("HTTPS: HTTP/2 by ALPN, SNI picks each host's certificate, hosts without one are not served", async () => {
  const dir = await Deno.makeTempDir();
  const web = startUpstream(
    "web",
    (req) =>
      new Response(
        `web ${req.headers.get("x-forwarded-proto")} ${
          req.headers.get("host")
        }`,
      ),
  );
  try {
    const a = await selfSigned(dir, "a.test");
    const b = await selfSigned(dir, "b.test");
    const c = await selfSigned(dir, "c.test");
    const routes = ["a.test", "b.test", "c.test"].map((host) => ({
      host,
      pathPrefix: "/",
      service: "web",
      endpoints: [endpointOf(web)],
    }));
    await withProxy(routes, {
      httpsListen: { hostname: LOOPBACK, port: 0 },
      certificates: { "a.test": a, "b.test": b },
    }, async ({ proxy, log }) => {
      const port = proxy.httpsPort!;
      strictEqual(
        await curl(port, "a.test", a.certFile, "--http2"),
        `web https a.test:${port} 2 200`,
      );
      strictEqual(
        await curl(port, "a.test", a.certFile, "--http1.1"),
        `web https a.test:${port} 1.1 200`,
      );
      strictEqual(
        await curl(port, "b.test", b.certFile, "--http2"),
        `web https b.test:${port} 2 200`,
      );
      // b.test's certificate is not a.test's: SNI chose.
      strictEqual(await curl(port, "b.test", a.certFile), "failed");
      // No certificate for c.test yet: HTTP only.
      strictEqual(await curl(port, "c.test", c.certFile), "failed");
      ok(proxy.stats().tlsErrors >= 1);
      ok(
        log.some((e) => e.protocol === "HTTP/2.0" && e.tls && e.status === 200),
      );
      // A certificate arrives: served at once.
      proxy.setCertificates({ "a.test": a, "b.test": b, "c.test": c });
      strictEqual(
        await curl(port, "c.test", c.certFile, "--http2"),
        `web https c.test:${port} 2 200`,
      );
      strictEqual(proxy.stats().certificates, 3);
      // A bad one is refused whole, the old set kept: not PEM, a key of
      // another certificate, a certificate of another host.
      for (
        const bad of [
          { "a.test": { certPem: "nope", keyPem: "nope" } },
          { "a.test": { certPem: a.certPem, keyPem: b.keyPem } },
          { "b.test": a },
        ]
      ) {
        throws(() => proxy.setCertificates(bad), CertificateError);
      }
      strictEqual(
        await curl(port, "a.test", a.certFile),
        `web https a.test:${port} 2 200`,
      );
    });
  } finally {
    await web.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HTTP: redirected to HTTPS only for hosts with a certificate; ACME challenges answered on HTTP for every host", async () => {
  const dir = await Deno.makeTempDir();
  const web = startUpstream("web");
  try {
    const a = await selfSigned(dir, "a.test");
    const routes = ["a.test", "plain.test"].map((host) => ({
      host,
      pathPrefix: "/",
      service: "web",
      endpoints: [endpointOf(web)],
    }));
    const tokens = new Map([["tok-123_abc", "tok-123_abc.thumbprint"]]);
    await withProxy(routes, {
      httpsListen: { hostname: LOOPBACK, port: 0 },
      certificates: { "a.test": a },
      challenges: (token) => tokens.get(token),
    }, async ({ proxy }) => {
      const http = proxy.httpPort;
      const moved = await request(http, "A.test", "/shop?item=1");
      strictEqual(moved.status, 308);
      strictEqual(
        moved.headers.location,
        `https://a.test:${proxy.httpsPort}/shop?item=1`,
      );
      strictEqual((await request(http, "plain.test", "/x")).text, "web GET /x");
      for (const host of ["a.test", "plain.test", "unrouted.test"]) {
        const answer = await request(
          http,
          host,
          "/.well-known/acme-challenge/tok-123_abc",
        );
        strictEqual(answer.status, 200, host);
        strictEqual(answer.text, "tok-123_abc.thumbprint");
      }
      strictEqual(
        (await request(http, "a.test", "/.well-known/acme-challenge/other"))
          .status,
        404,
      );
      strictEqual(
        (await request(
          http,
          "a.test",
          "/.well-known/acme-challenge/bad%2Ftoken",
        )).status,
        404,
      );
      strictEqual(web.seen.length, 1);
    });
  } finally {
    await web.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HTTPS: a request for a host without a certificate on another host's connection is 421", async () => {
  const dir = await Deno.makeTempDir();
  const web = startUpstream("web");
  try {
    const a = await selfSigned(dir, "a.test");
    await withProxy([
      {
        host: "a.test",
        pathPrefix: "/",
        service: "web",
        endpoints: [endpointOf(web)],
      },
      {
        host: "plain.test",
        pathPrefix: "/",
        service: "web",
        endpoints: [endpointOf(web)],
      },
    ], {
      httpsListen: { hostname: LOOPBACK, port: 0 },
      certificates: { "a.test": a },
    }, async ({ proxy }) => {
      const answer = await curl(
        proxy.httpsPort!,
        "a.test",
        a.certFile,
        "-H",
        "host: plain.test",
      );
      ok(answer.endsWith(" 421"), answer);
      strictEqual(web.seen.length, 0);
    });
  } finally {
    await web.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
