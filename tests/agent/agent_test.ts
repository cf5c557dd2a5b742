/**
 * One node, the real thing: `mill init`, the agent on a private containerd
 * and registry, the API over HTTPS, a service started through the FSM and
 * the secondary runtime, killed from outside and restarted with backoff.
 */
import {
  assertEquals,
  assertRejects,
  assertTrue,
} from "../../containerd/_assert_test.ts";
import { ServiceStartError, startAgent } from "../../node/agent/mod.ts";
import { parseConfig } from "../../config/mod.ts";
import { ContainerdClient } from "../../containerd/mod.ts";
import { containerIdOf } from "../../node/secondary/exits.ts";
import { placeByHand, startAgentBed, waitFor } from "./_bed.ts";

const HOST_PORT = 20_000 + Math.floor(Math.random() * 9_000);

Deno.test("a one-node agent registers, serves the API, runs a service and restarts it after a kill", async (t) => {
  const bed = await startAgentBed();
  const containerd = new ContainerdClient(bed.bed.containerd.socketPath, {
    namespace: "mill",
  });
  try {
    const nodeId = bed.agent.identity.nodeId;
    await t.step(
      "a second agent on the same data dir refuses at once, naming the first one's pid",
      async () => {
        const error = await assertRejects(
          () => startAgent(bed.agentOptions),
          ServiceStartError,
        );
        assertTrue(error.message.includes(`pid ${Deno.pid}`), error.message);
        assertEquals(error.service, "data-dir-lock");
      },
    );

    await t.step(
      "nothing in the data dir can be read by other users (files 0600 or tighter, dirs 0700)",
      async () => {
        const loose: string[] = [];
        const walk = async (dir: string): Promise<void> => {
          for await (const entry of Deno.readDir(dir)) {
            const path = `${dir}/${entry.name}`;
            const info = await Deno.lstat(path);
            // Only env-exec may be run (never read) by a container's user.
            const allowed = entry.name === "env-exec" ? 0o011 : 0;
            if ((info.mode! & 0o077 & ~allowed) !== 0) {
              loose.push(`${path} ${(info.mode! & 0o777).toString(8)}`);
            }
            if (info.isDirectory) await walk(path);
          }
        };
        await waitFor(
          "the runtime's dirs made",
          () => bed.agent.runtime !== null,
        );
        await walk(bed.dataDir);
        assertEquals(loose, []);
        assertEquals((await Deno.stat(bed.dataDir)).mode! & 0o777, 0o700);
      },
    );

    await t.step("the node registers itself with its resources", async () => {
      await waitFor("registration", () => bed.agent.state().nodes.has(nodeId));
      const node = bed.agent.state().nodes.get(nodeId);
      assertEquals(node?.name, "node-1");
      assertEquals(node?.cpuMillis, 4000);
      assertEquals(node?.status, "ready");
    });

    await t.step(
      "the API answers status and nodes with the admin token only",
      async () => {
        const anonymous = await bed.api("/v1/status", {
          headers: { authorization: "" },
        });
        assertEquals(anonymous.status, 401);
        await anonymous.body?.cancel();
        const status = await bed.api("/v1/status");
        assertEquals(status.status, 200);
        const body = await status.json();
        assertEquals(body.clusterId, bed.cluster.clusterId);
        assertEquals(body.leader.name, "node-1");
        assertEquals(body.nodes, { total: 1, ready: 1, down: 0 });
        const nodes = await (await bed.api("/v1/nodes")).json();
        assertEquals(nodes.nodes.length, 1);
        assertEquals(nodes.nodes[0].leader, true);
      },
    );

    await t.step(
      "secrets are set, listed without values and deleted",
      async () => {
        const put = await bed.api("/v1/secrets/db.url", {
          method: "PUT",
          headers: { "content-type": "text/plain" },
          body: "postgres://user:hunter2@db/app",
        });
        assertEquals(put.status, 204);
        const list = await bed.api("/v1/secrets");
        const text = await list.text();
        assertTrue(text.includes('"db.url"'));
        assertTrue(!text.includes("hunter2"));
        const stored = bed.agent.state().secrets.get("db.url");
        assertTrue(
          stored !== undefined && !stored.ciphertext.includes("hunter2"),
        );
        const missing = await bed.api("/v1/secrets/nope", { method: "DELETE" });
        assertEquals(missing.status, 404);
        assertEquals((await missing.json()).code, "secret.not_found");
      },
    );

    const allocId = "web-a1";
    await t.step(
      "a service alloc starts with its secret resolved on the node",
      async () => {
        const parsed = parseConfig(
          `service "web" {
          image = "${bed.bed.images.http}"
          port = 8080
          env { DB = "\${secret(db.url)}" }
        }
        task "hello" { image = "${bed.bed.images.crash}" }
        task "offline" { image = "${bed.bed.images.sleeper}" }
        service "idle" { image = "${bed.bed.images.sleeper}" }`,
          "web.mill",
        );
        assertTrue(parsed.ok);
        if (!parsed.ok) return;
        const leader = bed.agent.leader!;
        const commit = async (command: Parameters<typeof leader.commit>[0]) => {
          const result = await leader.commit(command);
          assertTrue(result.ok, JSON.stringify(result));
        };
        const atMs = Date.now();
        await commit({
          type: "Deploy",
          deployId: "d1",
          config: parsed.config,
          atMs,
        });
        await commit({
          type: "AllocScheduled",
          allocId,
          nodeId,
          workload: "web",
          kind: "service",
          image: bed.bed.images.http,
          cpuMillis: 100,
          memoryBytes: 64 * 1024 * 1024,
          hostPort: HOST_PORT,
          deployId: "d1",
          atMs,
        });
        // Done by hand: a deploy left running would be a new leader's to recover.
        await commit({
          type: "DeployFinished",
          deployId: "d1",
          outcome: "succeeded",
          message: "placed by the test",
          atMs,
        });
        const runtime = leader.runtime(nodeId);
        const signal = AbortSignal.timeout(30_000);
        const pulled = await runtime.pull(
          { image: bed.bed.images.http },
          signal,
        );
        assertEquals(pulled.cached, false);
        await commit({
          type: "AllocStatus",
          allocId,
          status: "starting",
          atMs,
        });
        await runtime.start({
          allocId,
          name: "web",
          kind: "service",
          image: bed.bed.images.http,
          env: { DB: "${secret(db.url)}" },
          // What the leader decrypts for the node it places the alloc on.
          secretValues: { "db.url": "postgres://user:hunter2@db/app" },
          cpu: 0.1,
          memoryBytes: 64 * 1024 * 1024,
          hostPort: HOST_PORT,
          containerPort: 8080,
          labels: { "mill.restart": "always" },
          stopSignal: "SIGTERM",
          stopGracePeriodMs: 5_000,
        }, signal);
        await commit({
          type: "AllocRunning",
          allocId,
          address: `127.0.0.1:${HOST_PORT}`,
          atMs,
        });
        await waitFor("the service answering on its host port", async () => {
          try {
            const response = await fetch(
              `http://127.0.0.1:${HOST_PORT}/health`,
            );
            return (await response.text()).trim() === "ok";
          } catch {
            return false;
          }
        });
      },
    );

    await t.step(
      "a container killed from outside is restarted and the FSM counts it",
      async () => {
        await containerd.killTask(containerIdOf(allocId), 9);
        // Up again: running, or already healthy once the leader's health
        // keeper has looked (this service has no health block).
        await waitFor("the restart reported in the FSM", () => {
          const alloc = bed.agent.state().allocs.get(allocId);
          return alloc?.restarts === 1 &&
            (alloc.status === "running" || alloc.status === "healthy");
        });
        await waitFor("the restarted service answering", async () => {
          try {
            const response = await fetch(
              `http://127.0.0.1:${HOST_PORT}/health`,
            );
            return response.ok && (await response.text()).trim() === "ok";
          } catch {
            return false;
          }
        });
        assertTrue(
          bed.logs.some((l) =>
            l.includes("killed by SIGKILL; restarting in 1000 ms")
          ),
          bed.logs.join("\n"),
        );
      },
    );

    await t.step(
      "a restarted agent re-attaches to the container it still runs",
      async () => {
        const before = await containerd.getTask(containerIdOf(allocId));
        await bed.restartAgent();
        const runtime = bed.agent.leader!.runtime(nodeId);
        const status = await runtime.status({}, AbortSignal.timeout(10_000));
        assertEquals(
          status.allocs.map((a) => [a.allocId, a.state]),
          [[allocId, "running"]],
        );
        const after = await containerd.getTask(containerIdOf(allocId));
        assertEquals(after?.pid, before?.pid);
        assertTrue(
          bed.logs.some((l) => l.includes(`re-attached to alloc ${allocId}`)),
        );
        // Still supervised: killed again, it is restarted again.
        await containerd.killTask(containerIdOf(allocId), 9);
        await waitFor(
          "the second restart",
          () => bed.agent.state().allocs.get(allocId)?.restarts === 2,
        );
      },
    );

    await t.step(
      "a task that exits at once is reported failed with its code, never restarted",
      async () => {
        const runtime = bed.agent.leader!.runtime(nodeId);
        const signal = AbortSignal.timeout(30_000);
        await placeByHand(bed, {
          allocId: "hello-1",
          nodeId,
          workload: "hello",
          kind: "task",
          image: bed.bed.images.crash,
        }, signal);
        await waitFor("the exit reported", () => {
          const alloc = bed.agent.state().allocs.get("hello-1");
          return alloc?.status === "failed" && alloc.exitCode === 3;
        });
        const status = await runtime.status({ allocIds: ["hello-1"] }, signal);
        assertEquals(status.allocs[0]?.exit, { kind: "exited", code: 3 });
        const logs = await runtime.logs(
          { allocId: "hello-1", tailLines: 10 },
          signal,
        );
        assertEquals(logs.lines.map((l) => l.line).sort(), [
          "about to crash",
          "oops",
        ]);
        assertEquals(bed.agent.state().allocs.get("hello-1")?.restarts, 0);

        await runtime.stop(
          { allocId: "hello-1", signal: "SIGTERM", gracePeriodMs: 1_000 },
          signal,
        );
      },
    );

    await t.step(
      "a task that exits while its agent is stopped is reported with its code once the agent returns",
      async () => {
        const leader = bed.agent.leader!;
        const signal = AbortSignal.timeout(30_000);
        await placeByHand(bed, {
          allocId: "offline-1",
          nodeId,
          workload: "offline",
          kind: "task",
          image: bed.bed.images.sleeper,
        }, signal);
        // Running as far as the cluster knows (what the coordinator commits).
        const running = await leader.commit({
          type: "AllocRunning",
          allocId: "offline-1",
          address: "127.0.0.1:1",
          atMs: Date.now(),
        });
        assertTrue(running.ok, JSON.stringify(running));
        const containerId = containerIdOf("offline-1");
        await bed.restartAgent(async () => {
          // The sleeper exits 0 on SIGTERM: the exit happens with no agent.
          await containerd.killTask(containerId, 15);
          await waitFor(
            "the task to exit",
            async () =>
              (await containerd.getTask(containerId))?.status.toUpperCase() !==
                "RUNNING",
          );
        });
        await waitFor("the exit reported", () => {
          const alloc = bed.agent.state().allocs.get("offline-1");
          return alloc?.status === "stopped" && alloc.exitCode === 0;
        });
        await bed.agent.leader!.runtime(nodeId).stop(
          { allocId: "offline-1", signal: "SIGTERM", gracePeriodMs: 1_000 },
          signal,
        );
      },
    );

    await t.step(
      "mill logs --follow streams the lines a restarted container prints",
      async () => {
        const runtime = bed.agent.leader!.runtime(nodeId);
        const signal = AbortSignal.timeout(30_000);
        await placeByHand(bed, {
          allocId: "idle-1",
          nodeId,
          workload: "idle",
          kind: "service",
          image: bed.bed.images.sleeper,
          labels: { "mill.restart": "always" },
        }, signal);
        await waitFor(
          "the first line",
          async () =>
            (await runtime.logs({ allocId: "idle-1", tailLines: 10 }, signal))
              .lines.length === 1,
        );
        const controller = new AbortController();
        const response = await bed.api("/v1/services/idle/logs?follow=1", {
          signal: controller.signal,
        });
        assertEquals(response.status, 200);
        const decoder = new TextDecoder();
        let text = "";
        let killed = false;
        for await (const chunk of response.body!) {
          text += decoder.decode(chunk, { stream: true });
          const lines = [...text.matchAll(/event: log/g)].length;
          if (lines === 1 && !killed) {
            // The restart prints "ready" again: a line the stream must follow.
            killed = true;
            await containerd.killTask(containerIdOf("idle-1"), 9);
          }
          if (lines >= 2) break;
        }
        controller.abort();
        assertEquals([...text.matchAll(/"line":"ready"/g)].length, 2, text);
        await runtime.stop(
          { allocId: "idle-1", signal: "SIGTERM", gracePeriodMs: 1_000 },
          signal,
        );
      },
    );

    await t.step(
      "a stop by mill is not restarted and leaves no container",
      async () => {
        const result = await bed.agent.leader!.runtime(nodeId).stop(
          { allocId, signal: "SIGTERM", gracePeriodMs: 5_000 },
          AbortSignal.timeout(30_000),
        );
        assertEquals(result.exit, { kind: "stopped" });
        assertEquals(
          await containerd.getContainer(containerIdOf(allocId)),
          undefined,
        );
      },
    );
  } finally {
    containerd.close();
    await bed.stop();
  }
});
