import { assertEquals, assertThrows } from "./_assert_test.ts";
import {
  chainIds,
  type IndexManifest,
  parseImageConfig,
  parseManifest,
  selectPlatform,
  sha256Hex,
} from "./oci.ts";
import { ContainerdError } from "./errors.ts";
import { parseChallenge } from "./registry.ts";
import { packTar, parseTarHeader } from "./tar.ts";

const D = (c: string) => `sha256:${c.repeat(64)}`;
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

Deno.test("chainIds() follows the OCI chain id definition", () => {
  const [a, b, c] = [D("a"), D("b"), D("c")];
  const ab = `sha256:${sha256Hex(`${a} ${b}`)}`;
  assertEquals(chainIds([a]), [a]);
  assertEquals(chainIds([a, b, c]), [
    a,
    ab,
    `sha256:${sha256Hex(`${ab} ${c}`)}`,
  ]);
  assertEquals(chainIds([]), []);
});

Deno.test("selectPlatform() picks os and architecture, preferring the matching variant", async (t) => {
  const m = (arch: string, variant?: string) => ({
    mediaType: "m",
    digest: D(arch === "amd64" ? "1" : variant === "v7" ? "2" : "3"),
    size: 1,
    platform: {
      os: "linux",
      architecture: arch,
      ...(variant ? { variant } : {}),
    },
  });
  const index: IndexManifest = {
    kind: "index",
    manifests: [m("arm", "v7"), m("arm64", "v8"), m("amd64")],
  };
  await t.step(
    "amd64",
    () =>
      assertEquals(
        selectPlatform(index, { os: "linux", architecture: "amd64" })?.digest,
        D("1"),
      ),
  );
  await t.step(
    "arm64 v8 by default",
    () =>
      assertEquals(
        selectPlatform(index, { os: "linux", architecture: "arm64" })?.digest,
        D("3"),
      ),
  );
  await t.step(
    "absent platform",
    () =>
      assertEquals(
        selectPlatform(index, { os: "windows", architecture: "amd64" }),
        undefined,
      ),
  );
});

Deno.test("parseManifest() accepts indexes and manifests and rejects bad ones", async (t) => {
  const layer = {
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    digest: D("c"),
    size: 3,
  };
  const config = {
    mediaType: "application/vnd.oci.image.config.v1+json",
    digest: D("d"),
    size: 2,
  };
  await t.step("manifest", () => {
    const m = parseManifest(
      "r",
      "application/vnd.oci.image.manifest.v1+json",
      enc({ config, layers: [layer] }),
    );
    assertEquals(m.kind, "manifest");
  });
  await t.step("docker list", () => {
    const m = parseManifest(
      "r",
      "application/vnd.docker.distribution.manifest.list.v2+json",
      enc({ manifests: [] }),
    );
    assertEquals(m.kind, "index");
  });
  const bad: [string, Uint8Array][] = [
    ["not json", new TextEncoder().encode("{")],
    ["bad digest", enc({ config: { ...config, digest: "md5:x" }, layers: [] })],
    ["negative size", enc({ config: { ...config, size: -1 }, layers: [] })],
    [
      "unknown layer type",
      enc({ config, layers: [{ ...layer, mediaType: "text/plain" }] }),
    ],
    ["no layers", enc({ config })],
  ];
  for (const [name, bytes] of bad) {
    await t.step(name, () => {
      const error = assertThrows(
        () =>
          parseManifest(
            "r",
            "application/vnd.oci.image.manifest.v1+json",
            bytes,
          ),
        ContainerdError,
      );
      assertEquals(error.code, "image.manifest_invalid");
    });
  }
});

Deno.test("parseImageConfig() reads the runtime fields and tolerates missing ones", () => {
  const c = parseImageConfig(
    "r",
    enc({
      config: { Cmd: ["a"], Env: ["X=1"] },
      rootfs: { diff_ids: [D("e")] },
    }),
  );
  assertEquals(c.cmd, ["a"]);
  assertEquals(c.entrypoint, []);
  assertEquals(c.diffIds, [D("e")]);
});

Deno.test("parseChallenge() reads bearer and basic challenges", async (t) => {
  await t.step(
    "bearer",
    () =>
      assertEquals(
        parseChallenge(
          'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"',
        ),
        {
          scheme: "bearer",
          params: {
            realm: "https://auth.example/token",
            service: "reg",
            scope: "repository:a/b:pull",
          },
        },
      ),
  );
  await t.step(
    "basic",
    () => assertEquals(parseChallenge('Basic realm="x"')?.scheme, "basic"),
  );
  await t.step(
    "unknown scheme",
    () => assertEquals(parseChallenge("Negotiate abc"), undefined),
  );
  await t.step("empty", () => assertEquals(parseChallenge(""), undefined));
});

Deno.test("packTar() writes headers parseTarHeader() reads back", () => {
  const tar = packTar([{
    name: "a/b.txt",
    type: "file",
    data: new Uint8Array([1, 2, 3]),
  }]);
  assertEquals(tar.byteLength % 512, 0);
  assertEquals(parseTarHeader(tar.subarray(0, 512)), {
    name: "a/b.txt",
    size: 3,
    type: "0",
  });
  assertEquals(parseTarHeader(tar.subarray(1024, 1536)), null);
  const corrupt = tar.slice(0, 512);
  corrupt[0] = 0x7a;
  assertThrows(() => parseTarHeader(corrupt), Error);
});
