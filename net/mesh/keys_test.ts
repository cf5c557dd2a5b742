import {
  assertEquals,
  assertNotEquals,
  assertTrue,
  rejection,
} from "./_assert_test.ts";
import {
  ensureMeshKey,
  generatePrivateKey,
  isWireguardKey,
  KEY_FILE_NAME,
  MeshKeyError,
  publicKeyOf,
  readMeshKey,
} from "./keys.ts";

async function wgPubkey(privateKey: string): Promise<string> {
  // The key goes on stdin, never on argv.
  const child = new Deno.Command("wg", {
    args: ["pubkey"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${privateKey}\n`));
  await writer.close();
  const out = await child.output();
  assertTrue(out.success, "wg pubkey failed");
  return new TextDecoder().decode(out.stdout).trim();
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-mesh-key-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("isWireguardKey takes 44-char base64 of 32 bytes only", async () => {
  const key = await generatePrivateKey();
  assertTrue(isWireguardKey(key));
  assertTrue(isWireguardKey(await publicKeyOf(key)));
  for (
    const bad of [
      "",
      key.slice(0, 43),
      `${key}=`,
      key.replace("=", "A"),
      `${key.slice(0, 42)}B=`, // stray bits in the last character
      `${key.slice(0, 10)}-${key.slice(11)}`, // base64url
      ` ${key.slice(1)}`,
      `${key}\n`,
      42,
      null,
    ]
  ) {
    assertEquals(isWireguardKey(bad), false, JSON.stringify(bad));
  }
});

Deno.test("our public keys are the ones wg computes", async () => {
  for (let i = 0; i < 5; i++) {
    const key = await generatePrivateKey();
    assertEquals(await publicKeyOf(key), await wgPubkey(key));
  }
  const other = await generatePrivateKey();
  assertNotEquals(other, await generatePrivateKey());
});

Deno.test("ensureMeshKey writes a 0600 key once and reads it after", async () => {
  await withDir(async (dir) => {
    const first = await ensureMeshKey(dir);
    const path = `${dir}/${KEY_FILE_NAME}`;
    assertEquals(first.keyPath, path);
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    const text = await Deno.readTextFile(path);
    assertTrue(/^[A-Za-z0-9+/]{43}=\n$/.test(text), "not one key line");
    assertEquals(first.publicKey, await wgPubkey(text.trim()));
    assertEquals((await ensureMeshKey(dir)).publicKey, first.publicKey);
    assertEquals(await Deno.readTextFile(path), text);
    // No temp file left beside it.
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assertEquals(names, [KEY_FILE_NAME]);
  });
});

Deno.test("racing ensureMeshKey calls end with one key", async () => {
  await withDir(async (dir) => {
    const keys = await Promise.all(
      Array.from({ length: 8 }, () => ensureMeshKey(dir)),
    );
    assertEquals(new Set(keys.map((k) => k.publicKey)).size, 1);
  });
});

Deno.test("a key file others can read is refused, without its content", async () => {
  await withDir(async (dir) => {
    await ensureMeshKey(dir);
    const path = `${dir}/${KEY_FILE_NAME}`;
    const secret = (await Deno.readTextFile(path)).trim();
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await Deno.chmod(path, mode);
      const error = await rejection(() => ensureMeshKey(dir));
      assertTrue(error instanceof MeshKeyError, String(error));
      assertTrue(error.message.includes("chmod 600"), error.message);
      assertTrue(!error.message.includes(secret));
    }
    // The file is left as it was: never replaced by a new key.
    assertEquals((await Deno.readTextFile(path)).trim(), secret);
  });
});

Deno.test("a malformed key file or a symlink is refused", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/${KEY_FILE_NAME}`;
    for (
      const content of [
        "",
        "hello\n",
        "x".repeat(5000),
        `${await generatePrivateKey()}\n${await generatePrivateKey()}\n`,
      ]
    ) {
      await Deno.writeTextFile(path, content, { mode: 0o600 });
      await Deno.chmod(path, 0o600);
      const error = await rejection(() => ensureMeshKey(dir));
      assertTrue(error instanceof MeshKeyError, String(error));
      assertTrue(error.message.includes("does not hold"), error.message);
      assertEquals(await Deno.readTextFile(path), content);
    }
    await Deno.remove(path);
    await Deno.writeTextFile(`${dir}/real`, `${await generatePrivateKey()}\n`, {
      mode: 0o600,
    });
    await Deno.symlink(`${dir}/real`, path);
    const error = await rejection(() => readMeshKey(path));
    assertTrue(error.message.includes("not a regular file"), error.message);
    const missing = await rejection(() => readMeshKey(`${dir}/none`));
    assertTrue(missing.message.includes("no WireGuard key"), missing.message);
  });
});
