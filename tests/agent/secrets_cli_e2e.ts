/**
 * `mill secret` as users hit its defects, on a one-node cluster with a real
 * containerd and registry: a value from a file loses its trailing newline
 * (the container's env shows it) unless --keep-newline; bad names get the
 * secret-name rule, whatever they hold; an empty value is refused unless
 * --allow-empty; deleting a secret a deployed service uses is refused with
 * 409 naming it, unless --force. Run by secrets_cli_test.ts in a network
 * namespace of its own (host ports are shared otherwise).
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { containerEnv, mill, startCliBed } from "./_cli_bed.ts";

async function secretNames(): Promise<string[]> {
  const list = await mill("secret", "list", "--json");
  assertEquals(list.code, 0, list.stderr);
  return JSON.parse(list.stdout).secrets.map((s: { name: string }) => s.name);
}

Deno.test("mill secret strips a file's newline, names the rule for bad names, refuses empty values and deleting a secret in use", async (t) => {
  const cli = await startCliBed("mill-secret-");
  const { bed, work } = cli;
  try {
    await t.step(
      "a value from a file loses one trailing newline, unless --keep-newline",
      async () => {
        await Deno.writeTextFile(`${work}/unix`, "s3cr3t-value\n");
        await Deno.writeTextFile(`${work}/dos`, "dos-value\r\n");
        await Deno.writeTextFile(`${work}/kept`, "kept-value\n");
        await Deno.writeTextFile(`${work}/two`, "two-lines\n\n");
        for (
          const [name, path, extra] of [
            ["unix", "unix", []],
            ["dos", "dos", []],
            ["kept", "kept", ["--keep-newline"]],
            ["two", "two", []],
          ] as const
        ) {
          const set = await mill(
            "secret",
            "set",
            name,
            "--from-file",
            `${work}/${path}`,
            ...extra,
          );
          assertEquals(set.code, 0, set.stderr);
        }
        await Deno.writeTextFile(
          `${work}/app.mill`,
          `service "web" {
  image = "${bed.bed.images.http}"
  port = 8080
  cpu = 0.1
  memory = "64M"
  env {
    UNIX = "\${secret(unix)}"
    DOS = "\${secret(dos)}"
    KEPT = "\${secret(kept)}"
    TWO = "\${secret(two)}"
  }
  health {
    path = "/health"
    interval = "1s"
  }
}
`,
        );
        const deployed = await mill("deploy", "-f", `${work}/app.mill`);
        assertEquals(deployed.code, 0, deployed.stdout + deployed.stderr);
        const env = await containerEnv(bed, "web");
        assertTrue(env.includes("UNIX=s3cr3t-value"), env.join(" | "));
        assertTrue(env.includes("DOS=dos-value"), env.join(" | "));
        assertTrue(env.includes("KEPT=kept-value\n"), env.join(" | "));
        assertTrue(env.includes("TWO=two-lines\n"), env.join(" | "));
      },
    );

    await t.step(
      "bad names get the secret-name rule's code and message, whatever they hold",
      async () => {
        await Deno.writeTextFile(`${work}/value`, "v");
        const names = [
          "bad/name",
          "a/b/c",
          ".",
          "..",
          "../etc",
          ".hidden",
          "has space",
          "café",
          "✓",
          "nul\0byte",
          "x".repeat(129),
          "x".repeat(3000),
        ];
        for (const name of names) {
          for (
            const args of [
              ["secret", "set", name, "--from-file", `${work}/value`],
              ["secret", "delete", name],
            ]
          ) {
            const answer = await mill(...args);
            const what = `${args[1]} ${JSON.stringify(name.slice(0, 20))}`;
            assertEquals(answer.code, 2, `${what}: ${answer.stderr}`);
            assertTrue(
              answer.stderr.includes(
                "error[secret.invalid_name]: Invalid secret name",
              ) &&
                answer.stderr.includes("use 1 to 128 letters, digits"),
              `${what}: ${answer.stderr}`,
            );
          }
        }
        // The API answers the same for names a client sends as they are.
        for (const raw of ["bad%2Fname", "a%00b", "caf%C3%A9", "has%20space"]) {
          const response = await bed.api(`/v1/secrets/${raw}`, {
            method: "PUT",
            body: "v",
            headers: { "content-type": "text/plain" },
          });
          const body = await response.json();
          assertEquals([response.status, body.code], [
            400,
            "secret.invalid_name",
          ]);
        }
        assertEquals(await secretNames(), ["dos", "kept", "two", "unix"]);
      },
    );

    await t.step("an empty value is refused unless --allow-empty", async () => {
      await Deno.writeTextFile(`${work}/empty`, "");
      await Deno.writeTextFile(`${work}/newline`, "\n");
      for (const path of ["empty", "newline"]) {
        const refused = await mill(
          "secret",
          "set",
          "blank",
          "--from-file",
          `${work}/${path}`,
        );
        assertEquals(refused.code, 2, refused.stderr);
        assertTrue(
          refused.stderr.includes("secret.empty_value"),
          refused.stderr,
        );
        assertTrue(refused.stderr.includes("--allow-empty"), refused.stderr);
      }
      const api = await bed.api("/v1/secrets/blank", {
        method: "PUT",
        body: "",
        headers: { "content-type": "text/plain" },
      });
      assertEquals([api.status, (await api.json()).code], [
        400,
        "secret.empty_value",
      ]);
      assertEquals((await secretNames()).includes("blank"), false);
      const allowed = await mill(
        "secret",
        "set",
        "blank",
        "--from-file",
        `${work}/empty`,
        "--allow-empty",
      );
      assertEquals(allowed.code, 0, allowed.stderr);
      assertEquals((await secretNames()).includes("blank"), true);
    });

    await t.step(
      "deleting a secret the deployed service uses is refused with 409 naming it, unless --force",
      async () => {
        const refused = await mill("secret", "delete", "unix");
        assertEquals(refused.code, 1, refused.stderr);
        assertTrue(
          refused.stderr.includes("error[secret.in_use]"),
          refused.stderr,
        );
        assertTrue(refused.stderr.includes('service "web"'), refused.stderr);
        const api = await bed.api("/v1/secrets/unix", { method: "DELETE" });
        const body = await api.json();
        assertEquals([api.status, body.code, body.usedBy], [
          409,
          "secret.in_use",
          { services: ["web"], tasks: [] },
        ]);
        assertTrue((await secretNames()).includes("unix"));

        const unused = await mill("secret", "delete", "blank");
        assertEquals([unused.code, unused.stderr], [0, ""]);

        const forced = await mill("secret", "delete", "unix", "--force");
        assertEquals(forced.code, 0, forced.stderr);
        assertTrue(
          forced.stdout.includes('secret "unix" deleted'),
          forced.stdout,
        );
        assertTrue(
          forced.stderr.includes('service "web"') &&
            forced.stderr.includes("fail to start the next time"),
          forced.stderr,
        );
        assertEquals((await secretNames()).includes("unix"), false);
        const json = await mill("secret", "delete", "dos", "--force", "--json");
        assertEquals(JSON.parse(json.stdout), {
          name: "dos",
          deleted: true,
          usedBy: { services: ["web"], tasks: [] },
        });
      },
    );
  } finally {
    await cli.stop();
  }
});
