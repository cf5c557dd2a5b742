/**
 * An ACME CA on the bed: Debian's pebble in the underlay namespace, on the
 * bridge address every node reaches, with pebble-challtestsrv as its DNS
 * (every name resolves to one node, so the CA's HTTP-01 requests reach that
 * node's proxy on port 80). Its directory's TLS comes from a throwaway CA
 * made with openssl, trusted only by the cluster (`mill certs settings
 * --ca-file`) and the test's own clients. The bed's stop kills both, and
 * their files live in the bed's dir.
 */
import type { Bed } from "./bed.ts";
import { makeDirectoryTls } from "../../proxy/acme/pebble_testing.ts";
import { inNetns, run, spawnLogged } from "./_run.ts";

export interface BedPebble {
  readonly directoryUrl: string;
  /** The CA file of the directory's TLS (for `--ca-file`). */
  readonly caFile: string;
  /** The root pebble signs certificates with (fetched once it listens). */
  readonly issuingRootFile: string;
  /** Makes `host` resolve to `address` for the CA (another node, or nothing). */
  resolve(host: string, address: string): Promise<void>;
  /** pebble's log so far. */
  log(): Promise<string>;
}

const DIRECTORY_PORT = 14000;
const MANAGEMENT_PORT = 15000;
const DNS_PORT = 8053;
const DNS_MANAGEMENT_PORT = 8055;

export async function startBedPebble(
  bed: Bed,
  options: {
    /** The node address every name resolves to by default. */
    readonly defaultAddress: string;
    /** Certificate lifetime; pebble's 5 years unless told. */
    readonly validitySeconds?: number;
  },
): Promise<BedPebble> {
  const dir = `${bed.dir}/pebble`;
  await Deno.mkdir(dir, { recursive: true });
  const host = bed.registry.host.split(":")[0]!;
  await makeDirectoryTls(dir, `IP:${host}`);
  const netns = bed.underlayNetns;
  spawnLogged(
    inNetns(netns, [
      "pebble-challtestsrv",
      "-dns01",
      `${host}:${DNS_PORT}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      `${host}:${DNS_MANAGEMENT_PORT}`,
      "-defaultIPv4",
      options.defaultAddress,
      "-defaultIPv6",
      "",
    ]),
    { stdout: `${dir}/challtestsrv.log`, stderr: `${dir}/challtestsrv.log` },
  );
  await Deno.writeTextFile(
    `${dir}/pebble.json`,
    JSON.stringify({
      pebble: {
        listenAddress: `${host}:${DIRECTORY_PORT}`,
        managementListenAddress: `${host}:${MANAGEMENT_PORT}`,
        certificate: `${dir}/cert.pem`,
        privateKey: `${dir}/key.pem`,
        httpPort: 80,
        tlsPort: 5001,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        ...(options.validitySeconds === undefined
          ? {}
          : { certificateValidityPeriod: options.validitySeconds }),
      },
    }),
  );
  spawnLogged(
    inNetns(netns, [
      "pebble",
      "-config",
      `${dir}/pebble.json`,
      "-dnsserver",
      `${host}:${DNS_PORT}`,
    ]),
    { stdout: `${dir}/pebble.log`, stderr: `${dir}/pebble.log` },
    // No random sleep before validations; authorizations never reused, so
    // every order is validated for real.
    { env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_AUTHZREUSE: "0" } },
  );
  const curl = (url: string, extra: string[] = []) =>
    run(inNetns(netns, [
      "curl",
      "-sS",
      "--max-time",
      "3",
      "--cacert",
      `${dir}/ca.pem`,
      ...extra,
      url,
    ]));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const root = await curl(`https://${host}:${MANAGEMENT_PORT}/roots/0`);
    if (root.code === 0 && root.stdout.includes("BEGIN CERTIFICATE")) {
      await Deno.writeTextFile(`${dir}/root.pem`, root.stdout);
      break;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `pebble did not start: ${root.stderr}\n${await Deno.readTextFile(
          `${dir}/pebble.log`,
        ).catch(() => "")}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    directoryUrl: `https://${host}:${DIRECTORY_PORT}/dir`,
    caFile: `${dir}/ca.pem`,
    issuingRootFile: `${dir}/root.pem`,
    async resolve(name, address) {
      // add-a appends to what the name had: clear it first.
      for (
        const [path, body] of [
          ["clear-a", { host: name }],
          ["add-a", { host: name, addresses: [address] }],
        ] as const
      ) {
        const done = await run(inNetns(netns, [
          "curl",
          "-sS",
          "--fail",
          "--max-time",
          "3",
          "-d",
          JSON.stringify(body),
          `http://${host}:${DNS_MANAGEMENT_PORT}/${path}`,
        ]));
        if (done.code !== 0) throw new Error(`${path}: ${done.stderr}`);
      }
    },
    log: () => Deno.readTextFile(`${dir}/pebble.log`).catch(() => ""),
  };
}
