/**
 * Cancelling a deploy from the CLI, against a one-node cluster on a private
 * containerd and registry: `mill deploy --cancel` with nothing running, a
 * SIGINT that detaches `scripts/mill deploy` (no terminal) while the deploy
 * goes on, `mill deploy --cancel` that stops it, and an attached deploy
 * whose user answers `y` to the prompt and follows the rollback to its end.
 * Also `mill ps` and `mill logs` on a name the cluster does not know. Run by
 * deploy_cancel_test.ts in a network namespace of its own.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { bufferOutput } from "../../cli/mod.ts";
import { ApiClient, CONTEXT_PATH_ENV } from "../../cli/_api.ts";
import { deployConfigText } from "../../cli/commands/deploy.ts";
import type { DeployAttach } from "../../cli/deploy_attach.ts";
import { waitFor } from "./_bed.ts";
import { mill, startCliBed } from "./_cli_bed.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("mill deploy --cancel, SIGINT detaches, y at the prompt cancels; unknown names are not found", async (t) => {
  const cli = await startCliBed("mill-cancel-");
  const { bed, work } = cli;
  const lastDeploy = async () =>
    (await (await bed.api("/v1/status")).json()).lastDeploy as {
      id: string;
      status: string;
    } | null;
  // Never healthy (404): the deploy runs until its deadline or a cancel.
  const slow = (replicas: number) =>
    `service "web" {
  image = "${bed.bed.images.http}"
  port = 8080
  replicas = ${replicas}
  cpu = 0.1
  memory = "64M"
  health {
    path = "/never"
    interval = "1s"
    deadline = "120s"
  }
}
`;
  try {
    await t.step(
      "unknown names: ps and logs both say not found, exit 1",
      async () => {
        for (const command of ["ps", "logs"]) {
          const result = await mill(command, "nosuch");
          assertEquals(result.code, 1, `${command}: ${result.stderr}`);
          assertTrue(
            /not_found\]: No service, task or alloc named "nosuch"/.test(
              result.stderr,
            ),
            `${command}: ${result.stderr}`,
          );
        }
      },
    );

    await t.step(
      "--cancel with no deploy running: deploy.not_running, exit 1",
      async () => {
        const result = await mill("deploy", "--cancel");
        assertEquals(result.code, 1, result.stderr);
        assertTrue(result.stderr.includes("deploy.not_running"), result.stderr);
        const both = await mill("deploy", "--cancel", "-f", "x.mill");
        assertEquals(both.code, 2);
        const neither = await mill("deploy");
        assertEquals(neither.code, 2);
      },
    );

    let detachedId = "";
    await t.step(
      "SIGINT without a terminal detaches; the deploy goes on",
      async () => {
        await Deno.writeTextFile(`${work}/slow.mill`, slow(1));
        const child = new Deno.Command(`${ROOT}scripts/mill`, {
          args: ["deploy", "-f", `${work}/slow.mill`],
          cwd: ROOT,
          env: { NO_COLOR: "1", [CONTEXT_PATH_ENV]: bed.contextPath },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const output = child.output();
        await waitFor(
          "the deploy running",
          async () => (await lastDeploy())?.status === "running",
        );
        detachedId = (await lastDeploy())!.id;
        child.kill("SIGINT");
        const { code, stderr } = await output;
        const text = new TextDecoder().decode(stderr);
        assertEquals(code, 130, text);
        assertTrue(
          text.includes(`detached: deploy ${detachedId} goes on`),
          text,
        );
        assertTrue(text.includes("mill deploy --cancel"), text);
        assertTrue(!text.includes("    at "), text);
        assertEquals((await lastDeploy())?.status, "running");
      },
    );

    await t.step(
      "mill deploy --cancel prints the deploy it cancelled",
      async () => {
        const result = await mill("deploy", "--cancel");
        assertEquals(result.code, 0, result.stderr);
        assertTrue(
          result.stdout.includes(`cancelling deploy ${detachedId}`),
          result.stdout,
        );
        await waitFor(
          "the deploy cancelled",
          async () => (await lastDeploy())?.status === "cancelled",
        );
      },
    );

    await t.step(
      "y at the prompt cancels and follows the rollback to its end",
      async () => {
        let interrupt = () => {};
        const prompts: string[] = [];
        const attach: DeployAttach = {
          terminal: true,
          onInterrupt(handler) {
            interrupt = handler;
            return () => interrupt = () => {};
          },
          readAnswer: () => Promise.resolve("y"),
        };
        const output = bufferOutput();
        const writeErr = output.writeErr;
        const watched = {
          ...output,
          writeErr: (text: string) => {
            prompts.push(text);
            writeErr(text);
          },
        };
        const client = await ApiClient.fromContextFile();
        try {
          const deploying = deployConfigText(
            client,
            slow(2),
            "slow.mill",
            watched,
            false,
            { attach },
          );
          await waitFor(
            "the second deploy running",
            async () => {
              const last = await lastDeploy();
              return last?.status === "running" && last.id !== detachedId;
            },
          );
          // The start event names the deploy before the prompt asks.
          await waitFor(
            "the start event",
            () => Promise.resolve(output.stdout() !== ""),
          );
          const id = (await lastDeploy())!.id;
          interrupt();
          const code = await deploying;
          assertEquals(code, 1, output.stdout() + output.stderr());
          assertTrue(
            prompts.some((p) => p.includes(`Cancel deploy ${id}? [y/N]`)),
            prompts.join(""),
          );
          assertTrue(
            output.stderr().includes(`cancelling deploy ${id}: rolling back`),
            output.stderr(),
          );
          assertTrue(
            output.stderr().includes("deploy.cancelled"),
            output.stderr(),
          );
          assertEquals((await lastDeploy())?.status, "cancelled");
        } finally {
          client.close();
        }
      },
    );
  } finally {
    await cli.stop();
  }
});
