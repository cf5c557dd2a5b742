/**
 * A token server for docker-registry's `auth: token` mode: checks basic
 * credentials and issues ES256 JWTs with an x5c header, signed by a
 * self-signed certificate (made with openssl) that the registry trusts as
 * its root bundle. Grants pull and push on any repository.
 */

export const TOKEN_SERVICE = "mill-test";
export const TOKEN_ISSUER = "mill-test-issuer";
const TOKEN_LIFETIME_S = 300;

export interface TokenServer {
  /** The realm URL the registry sends clients to. */
  readonly realm: string;
  /** PEM file for the registry's `rootcertbundle`. */
  readonly certPath: string;
  stop(): Promise<void>;
}

function base64Url(bytes: Uint8Array | string): string {
  const data = typeof bytes === "string"
    ? new TextEncoder().encode(bytes)
    : bytes;
  let binary = "";
  for (const b of data) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Starts the token server; `dir` receives the key and certificate. */
export async function startTokenServer(
  dir: string,
  credentials: { username: string; password: string },
): Promise<TokenServer> {
  const keyPath = `${dir}/token.key`;
  const certPath = `${dir}/token.crt`;
  const result = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "1",
      "-subj",
      "/CN=mill-test-token",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(
      `openssl failed: ${new TextDecoder().decode(result.stderr)}`,
    );
  }
  const key = await crypto.subtle.importKey(
    "pkcs8",
    fromBase64(pemBody(await Deno.readTextFile(keyPath))),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const x5c = [pemBody(await Deno.readTextFile(certPath))];
  const expected = `Basic ${
    btoa(`${credentials.username}:${credentials.password}`)
  }`;

  const controller = new AbortController();
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      signal: controller.signal,
      onListen: () => {},
    },
    async (request) => {
      const url = new URL(request.url);
      if (url.pathname !== "/token") {
        return new Response("not found", { status: 404 });
      }
      if (request.headers.get("authorization") !== expected) {
        return new Response("denied", { status: 401 });
      }
      const access = url.searchParams.getAll("scope").flatMap((scope) => {
        const [type, name, actions] = scope.split(":");
        return type === "repository" && name
          ? [{ type, name, actions: (actions ?? "").split(",") }]
          : [];
      });
      const now = Math.floor(Date.now() / 1000);
      const header = base64Url(
        JSON.stringify({ typ: "JWT", alg: "ES256", x5c }),
      );
      const claims = base64Url(JSON.stringify({
        iss: TOKEN_ISSUER,
        sub: credentials.username,
        aud: url.searchParams.get("service") ?? TOKEN_SERVICE,
        exp: now + TOKEN_LIFETIME_S,
        nbf: now - 10,
        iat: now,
        jti: crypto.randomUUID(),
        access,
      }));
      const signature = new Uint8Array(
        await crypto.subtle.sign(
          { name: "ECDSA", hash: "SHA-256" },
          key,
          new TextEncoder().encode(`${header}.${claims}`),
        ),
      );
      const token = `${header}.${claims}.${base64Url(signature)}`;
      return Response.json({
        token,
        access_token: token,
        expires_in: TOKEN_LIFETIME_S,
      });
    },
  );
  const port = (server.addr as Deno.NetAddr).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certPath,
    async stop() {
      controller.abort();
      await server.finished;
    },
  };
}
