import { assertEquals, assertThrows } from "./_assert_test.ts";
import { apiHost, parseReference } from "./reference.ts";
import { ContainerdError } from "./errors.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;

Deno.test("parseReference() normalizes references the way docker does", async (t) => {
  const cases: [string, string][] = [
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36"],
    ["library/busybox", "docker.io/library/busybox:latest"],
    ["user/app:v1", "docker.io/user/app:v1"],
    ["index.docker.io/user/app", "docker.io/user/app:latest"],
    ["docker.io/busybox", "docker.io/library/busybox:latest"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app:v2", "localhost:5000/app:v2"],
    ["127.0.0.1:5000/mill-test/http:1", "127.0.0.1:5000/mill-test/http:1"],
    ["registry.example.com/a/b/c", "registry.example.com/a/b/c:latest"],
    [`busybox@${DIGEST}`, `docker.io/library/busybox@${DIGEST}`],
    [`app:v1@${DIGEST}`, `docker.io/library/app:v1@${DIGEST}`],
    ["my_app-x.y", "docker.io/library/my_app-x.y:latest"],
  ];
  for (const [input, expected] of cases) {
    await t.step(`${input} → ${expected}`, () => {
      assertEquals(parseReference(input).canonical, expected);
    });
  }
});

Deno.test("parseReference() rejects malformed references with image.reference_invalid", async (t) => {
  const cases = [
    "",
    "UPPER/case",
    "app:",
    "app:bad tag",
    "app@sha256:short",
    "app@md5:" + "a".repeat(32),
    "-leading/dash",
    "a//b",
    "x".repeat(600),
    "reg.example.com/",
  ];
  for (const input of cases) {
    await t.step(JSON.stringify(input.slice(0, 40)), () => {
      const error = assertThrows(() => parseReference(input), ContainerdError);
      assertEquals(error.code, "image.reference_invalid");
    });
  }
});

Deno.test("parseReference() keeps the tag and digest apart", () => {
  const r = parseReference(`127.0.0.1:5000/x/y:t@${DIGEST}`);
  assertEquals(r.domain, "127.0.0.1:5000");
  assertEquals(r.path, "x/y");
  assertEquals(r.tag, "t");
  assertEquals(r.digest, DIGEST);
});

Deno.test("apiHost() sends docker.io to registry-1.docker.io", () => {
  assertEquals(apiHost("docker.io"), "registry-1.docker.io");
  assertEquals(apiHost("127.0.0.1:5000"), "127.0.0.1:5000");
});
