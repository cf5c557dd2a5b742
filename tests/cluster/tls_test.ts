/**
 * Automatic TLS on the bed, against a real ACME CA (pebble, trusted only by
 * the cluster and this test): a host routed to a two-replica service gets a
 * certificate, answered HTTP-01 by whichever node the CA reaches (not the
 * leader), and every node serves it over HTTPS (HTTP/2 by ALPN) and
 * redirects HTTP; a host whose challenge cannot be reached fails, is
 * reported with the CA's reason and stays on HTTP, then is retried after
 * its backoff; a short-lived certificate is renewed and the new one served.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Bed, withBed } from "./bed.ts";
import { startBedPebble } from "./_pebble.ts";
import { healthyAllocs, writeConfig } from "./_web.ts";

function appConfig(image: string, hosts: readonly string[]): string {
  return `service "web" {
  image    = "${image}"
  port     = 8080
  replicas = 2
  cpu      = 0.1
  memory   = "32M"
  health {
    path     = "/health"
    interval = "1s"
  }
${hosts.map((h) => `  route "${h}" {}\n`).join("")}}
`;
}

interface CertView {
  readonly host: string;
  readonly state: string;
  readonly issuer: string | null;
  readonly notAfter: string | null;
  readonly failures: number;
  readonly lastError: { kind: string; message: string } | null;
}

async function certs(bed: Bed): Promise<CertView[]> {
  const listed = await bed.mill(0, "certs", "--json");
  assertEquals(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout).certificates as CertView[];
}

/** HTTPS to node `to`'s proxy for `host`, from node `from`, trusting pebble's root. */
function https(
  bed: Bed,
  from: number,
  to: number,
  host: string,
  root: string,
  extra: string[] = [],
) {
  return bed.exec(from, [
    "curl",
    "-sS",
    "--max-time",
    "5",
    "--cacert",
    root,
    "--resolve",
    `${host}:443:${bed.nodes[to]!.address}`,
    ...extra,
    `https://${host}/health`,
  ]);
}

/** The notAfter of the certificate node `to` serves for `host`. */
async function servedNotAfter(
  bed: Bed,
  to: number,
  host: string,
): Promise<string> {
  const shown = await bed.exec(to, [
    "sh",
    "-c",
    `openssl s_client -connect ${
      bed.nodes[to]!.address
    }:443 -servername ${host} </dev/null 2>/dev/null | openssl x509 -noout -enddate`,
  ]);
  assertEquals(shown.code, 0, shown.stderr);
  return shown.stdout.trim().replace(/^notAfter=/, "");
}

Deno.test("tls: a routed host gets a certificate from the CA and every node serves it; an unreachable challenge is reported; renewal", async () => {
  await withBed(
    { nodes: 3, name: "tls", network: "bridge" },
    async (bed) => {
      const leader = await bed.leader();
      // The CA reaches a node that does not lead: its proxy answers.
      const answering = bed.nodes.find((n) => n !== leader)!;
      const pebble = await startBedPebble(bed, {
        defaultAddress: answering.address,
        validitySeconds: 45,
      });
      const set = await bed.mill(
        0,
        "certs",
        "settings",
        "--directory",
        pebble.directoryUrl,
        "--email",
        "ops@shop.test",
        "--ca-file",
        pebble.caFile,
      );
      assertEquals(set.code, 0, `${set.stdout}${set.stderr}`);

      const image = bed.registry.images.http;
      const v1 = await writeConfig(
        bed,
        "v1.mill",
        appConfig(image, ["shop.test"]),
      );
      const deployed = await bed.mill(0, "deploy", "-f", v1);
      assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
      await bed.waitFor(
        async () => (await healthyAllocs(bed, "web")).length === 2,
        {
          what: "2 healthy replicas",
        },
      );
      const issued = await bed.waitFor(async () => {
        const shop = (await certs(bed)).find((c) => c.host === "shop.test");
        return shop?.state === "valid" ? shop : null;
      }, { what: "a certificate for shop.test", timeoutMs: 45_000 })
        .catch(async (error) => {
          throw new Error(
            `${error.message}\n${JSON.stringify(await certs(bed))}\n${
              (await pebble.log()).slice(-3000)
            }`,
          );
        });
      assertTrue(
        issued.issuer !== null && issued.issuer.includes("Pebble"),
        String(issued.issuer),
      );

      // Every node serves it, HTTP/2 by ALPN, and redirects HTTP.
      for (let to = 0; to < 3; to++) {
        const from = (to + 1) % 3;
        await bed.waitFor(async () => {
          const answer = await https(
            bed,
            from,
            to,
            "shop.test",
            pebble.issuingRootFile,
            [
              "-w",
              " %{http_version}",
            ],
          );
          return answer.code === 0 && answer.stdout === "ok\n 2" || null;
        }, { what: `HTTPS/2 for shop.test on node ${to + 1}` });
        const plain = await bed.exec(from, [
          "curl",
          "-sS",
          "-o",
          "/dev/null",
          "--max-time",
          "5",
          "-H",
          "Host: shop.test",
          "-w",
          "%{http_code} %{redirect_url}",
          `http://${bed.nodes[to]!.address}/health`,
        ]);
        assertTrue(
          /^30[178] https:\/\/shop\.test\/health$/.test(plain.stdout),
          `node ${to + 1} on HTTP: ${plain.stdout}`,
        );
      }
      // No certificate for a host the CA never validated.
      const stranger = await https(
        bed,
        0,
        1,
        "other.test",
        pebble.issuingRootFile,
      );
      assertTrue(stranger.code !== 0, "HTTPS for a host without a certificate");

      // A host whose challenge nothing answers: reported, kept on HTTP.
      const nowhere = `${
        bed.registry.host.split(":")[0]!.replace(/\.\d+$/, "")
      }.250`;
      await pebble.resolve("down.test", nowhere);
      const v2 = await writeConfig(
        bed,
        "v2.mill",
        appConfig(image, ["shop.test", "down.test"]),
      );
      const redeployed = await bed.mill(0, "deploy", "-f", v2);
      assertEquals(
        redeployed.code,
        0,
        `${redeployed.stdout}${redeployed.stderr}`,
      );
      const down = await bed.waitFor(async () => {
        const view = (await certs(bed)).find((c) => c.host === "down.test");
        return view !== undefined && view.failures > 0 ? view : null;
      }, { what: "a failed order for down.test", timeoutMs: 45_000 });
      assertEquals(down.state, "none");
      assertEquals(
        down.lastError?.kind,
        "challengeFailed",
        JSON.stringify(down),
      );
      const status = await bed.mill(0, "status");
      assertTrue(status.stdout.includes("down.test"), status.stdout);
      const downHttp = await bed.exec(1, [
        "curl",
        "-sS",
        "--max-time",
        "5",
        "-H",
        "Host: down.test",
        `http://${bed.nodes[2]!.address}/health`,
      ]);
      assertEquals(downHttp.stdout, "ok\n", "down.test is served on HTTP");

      // Renewal: a 45 s certificate is due with 15 s left; the new one is
      // stored and every node serves it.
      const first = issued.notAfter!;
      const renewed = await bed.waitFor(async () => {
        const shop = (await certs(bed)).find((c) => c.host === "shop.test");
        return shop?.notAfter !== undefined && shop.notAfter !== first &&
            shop.state === "valid"
          ? shop
          : null;
      }, { what: "shop.test renewed", timeoutMs: 60_000 });
      for (let to = 0; to < 3; to++) {
        await bed.waitFor(async () => {
          const served = Date.parse(await servedNotAfter(bed, to, "shop.test"));
          return Math.abs(served - Date.parse(renewed.notAfter!)) < 1_000 ||
            null;
        }, { what: `node ${to + 1} serving the renewed certificate` });
      }

      // The failed host is retried after its backoff (a minute after one
      // failure); once the CA can reach a node for it, it gets its own.
      await pebble.resolve("down.test", bed.nodes[2]!.address);
      await bed.waitFor(async () => {
        const view = (await certs(bed)).find((c) => c.host === "down.test");
        return view?.state === "valid" || null;
      }, { what: "down.test issued on a retry", timeoutMs: 90_000 });
      const secured = await https(
        bed,
        0,
        2,
        "down.test",
        pebble.issuingRootFile,
      );
      assertEquals(secured.stdout, "ok\n", secured.stderr);
    },
  );
});
