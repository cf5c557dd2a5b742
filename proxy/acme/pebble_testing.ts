/**
 * A real ACME server for tests: Debian's pebble, with pebble-challtestsrv as
 * its DNS (every name is 127.0.0.1), its directory's TLS from a throwaway CA
 * made with openssl (trusted only by the clients given `caBundle`), and an
 * HTTP-01 server on 127.0.0.1 answering the tokens a test publishes. Each
 * call starts its own processes in its own temp dir; stop() ends both and
 * removes the dir.
 */

import { challengeResponse } from "./challenge.ts";

export interface PebbleOptions {
  /** Where pebble fetches HTTP-01 challenges on 127.0.0.1. */
  readonly httpPort: number;
  /** Lifetime of issued certificates; pebble's default (5 years) unless told. */
  readonly validitySeconds?: number;
  /** PEBBLE_AUTHZREUSE: percent of valid authorizations reused; 0 unless told. */
  readonly authzReusePercent?: number;
}

export interface Pebble {
  readonly directoryUrl: string;
  /** The CA of the directory's TLS certificate (not the issuing CA). */
  readonly caBundle: string;
  /** The root that signs issued certificates (regenerated per start). */
  issuingRoot(): Promise<string>;
  /** pebble's and its DNS server's output so far (the last 64 KiB of each). */
  log(): string;
  stop(): Promise<void>;
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/**
 * A CA and a leaf signed by it, for an ACME directory's TLS, in `dir`
 * (`ca.pem`, `cert.pem`, `key.pem`): the leaf names `altNames` (an openssl
 * subjectAltName; localhost and 127.0.0.1 by default). rustls refuses a
 * self-signed leaf as its own anchor, hence the CA.
 */
export async function makeDirectoryTls(
  dir: string,
  altNames = "DNS:localhost,IP:127.0.0.1",
): Promise<void> {
  const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  await run("openssl", [
    "req",
    "-x509",
    ...curve,
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=pebble directory test CA",
  ], dir);
  await run("openssl", [
    "req",
    ...curve,
    "-nodes",
    "-keyout",
    "key.pem",
    "-out",
    "leaf.csr",
    "-subj",
    "/CN=pebble directory",
  ], dir);
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    `basicConstraints=CA:FALSE\nsubjectAltName=${altNames}\n` +
      "extendedKeyUsage=serverAuth\n",
  );
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "cert.pem",
    "-days",
    "2",
    "-extfile",
    "leaf.ext",
  ], dir);
}

/** A process whose output (stdout and stderr) is kept, its last 64 KiB. */
interface Spawned {
  readonly child: Deno.ChildProcess;
  output(): string;
}

function spawn(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Spawned {
  const child = new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const keep = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      output = (output + text).slice(-65_536);
    }
  };
  keep(child.stdout).catch(() => {});
  keep(child.stderr).catch(() => {});
  return { child, output: () => output };
}

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  await child.status;
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const dir = await Deno.makeTempDir({ prefix: "mill-pebble-" });
  const children: Spawned[] = [];
  const pebbleLog = () =>
    children.map((c) => c.output()).join("\n-- next process --\n");
  const stop = async () => {
    for (const { child } of children) await stopChild(child);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await makeDirectoryTls(dir);
    const caBundle = await Deno.readTextFile(`${dir}/ca.pem`);
    const dnsPort = freePort();
    children.push(
      spawn("pebble-challtestsrv", [
        "-dns01",
        `127.0.0.1:${dnsPort}`,
        "-http01",
        "",
        "-https01",
        "",
        "-tlsalpn01",
        "",
        "-management",
        `127.0.0.1:${freePort()}`,
        "-defaultIPv4",
        "127.0.0.1",
        "-defaultIPv6",
        "",
      ]),
    );
    const listenPort = freePort();
    const managementPort = freePort();
    await Deno.writeTextFile(
      `${dir}/pebble.json`,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${listenPort}`,
          managementListenAddress: `127.0.0.1:${managementPort}`,
          certificate: `${dir}/cert.pem`,
          privateKey: `${dir}/key.pem`,
          httpPort: options.httpPort,
          tlsPort: freePort(),
          ocspResponderURL: "",
          externalAccountBindingRequired: false,
          ...(options.validitySeconds === undefined
            ? {}
            : { certificateValidityPeriod: options.validitySeconds }),
        },
      }),
    );
    children.push(
      spawn(
        "pebble",
        [
          "-config",
          `${dir}/pebble.json`,
          "-dnsserver",
          `127.0.0.1:${dnsPort}`,
        ],
        {
          // No random 0-15 s sleep before each validation.
          PEBBLE_VA_NOSLEEP: "1",
          PEBBLE_AUTHZREUSE: String(options.authzReusePercent ?? 0),
          // PEBBLE_WFE_NONCEREJECT stays at pebble's default (5 % of nonces
          // rejected): it exercises the badNonce answers the adapter must
          // hand back to acme-client for a re-signed retry.
        },
      ),
    );
    const client = Deno.createHttpClient({ caCerts: [caBundle] });
    const directoryUrl = `https://127.0.0.1:${listenPort}/dir`;
    const managementUrl = `https://127.0.0.1:${managementPort}`;
    try {
      await waitFor(directoryUrl, client);
      await waitFor(`${managementUrl}/roots/0`, client);
    } finally {
      client.close();
    }
    return {
      directoryUrl,
      caBundle,
      async issuingRoot() {
        const client = Deno.createHttpClient({ caCerts: [caBundle] });
        try {
          const response = await fetch(`${managementUrl}/roots/0`, { client });
          if (!response.ok) throw new Error(`roots/0: ${response.status}`);
          return await response.text();
        } finally {
          client.close();
        }
      },
      log: pebbleLog,
      stop,
    };
  } catch (error) {
    const log = pebbleLog();
    await stop();
    throw new Error(`pebble did not start: ${error}\n${log}`);
  }
}

async function waitFor(url: string, client: Deno.HttpClient): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const response = await fetch(url, {
        client,
        signal: AbortSignal.timeout(2000),
      });
      await response.body?.cancel();
      if (response.ok) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`${url} never answered`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** An HTTP-01 responder on 127.0.0.1, the tokens in a map the test fills. */
export interface ChallengeServer {
  readonly port: number;
  readonly tokens: Map<string, string>;
  /** Paths the CA asked for, in order. */
  readonly requests: string[];
  stop(): Promise<void>;
}

export function serveChallenges(port = 0): ChallengeServer {
  const tokens = new Map<string, string>();
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      requests.push(path);
      const answer = challengeResponse(path, (token) => tokens.get(token));
      return new Response(answer.body, {
        status: answer.status,
        headers: { "content-type": "text/plain" },
      });
    },
  );
  return {
    port: server.addr.port,
    tokens,
    requests,
    stop: () => server.shutdown(),
  };
}
