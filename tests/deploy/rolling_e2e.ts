/**
 * Rolling updates on one real node with no room for twice the service
 * (1 core, three replicas of 0.3): a change rolls stop-first one replica at
 * a time while the others answer; a broken image rolls back and the
 * replicas it had stopped come back; a service replacing another on the
 * full node starts once the dropped one made room; a cancelled deploy rolls
 * back and is recorded cancelled. Run by rolling_test.ts in a network
 * namespace of its own.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type AgentBed, startAgentBed, waitFor } from "../agent/_bed.ts";
import { type ReadEvent, readEvents } from "./_sse.ts";
import { answers, liveAllocs } from "./_allocs.ts";

function web(
  bed: AgentBed,
  options: { image?: string; env?: string; name?: string; port?: string } = {},
): string {
  return `
service "${options.name ?? "web"}" {
  image = "${options.image ?? bed.bed.images.http}"
  port = 8080
  replicas = 3
  cpu = 0.3
  memory = "32M"
  stop_grace_period = "2s"
  env {
    MODE = "${options.env ?? "a"}"
${options.port === undefined ? "" : `    PORT = "${options.port}"\n`}  }
  health {
    path = "/health"
    interval = "100ms"
    timeout = "100ms"
    deadline = "${options.port === undefined ? "3s" : "60s"}"
  }
}
`;
}

async function deploy(
  bed: AgentBed,
  text: string,
  onEvent?: (event: ReadEvent) => void,
): Promise<ReadEvent[]> {
  const response = await bed.api("/v1/deploy?file=web.mill", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: text,
  });
  if (response.status !== 200) {
    throw new Error(
      `deploy answered ${response.status}: ${await response.text()}`,
    );
  }
  return await readEvents(response, onEvent);
}

/**
 * Probes the service's healthy allocs (as DNS would hand them out) until
 * stopped; counts the rounds in which none answered.
 */
function watchService(bed: AgentBed, workload: string) {
  let running = true;
  let rounds = 0;
  let dark = 0;
  const loop = (async () => {
    while (running) {
      rounds++;
      const ports = liveAllocs(bed, workload)
        .filter((a) => a.status === "healthy" && !a.stopRequested)
        .map((a) => a.hostPort!);
      const up = await Promise.all(ports.map(answers));
      if (!up.some(Boolean)) dark++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { rounds, dark };
    },
  };
}

const phases = (events: ReadEvent[], phase: string) =>
  events.filter((e) => e.event === "phase" && e.data.phase === phase);

Deno.test("rolling updates on a node without room for twice the service", async (t) => {
  const bed = await startAgentBed({
    resources: { cpuMillis: 1000, memoryBytes: 1024 ** 3 },
  });
  try {
    await waitFor(
      "a leader with a coordinator",
      () =>
        (bed.agent.leader?.coordinator ?? null) !== null &&
        bed.agent.state().nodes.size === 1,
    );
    const first = await deploy(bed, web(bed));
    assertEquals(first.at(-1)?.event, "done", JSON.stringify(first.slice(-3)));
    assertEquals(
      bed.agent.state().nodes.get(liveAllocs(bed, "web")[0]!.nodeId)
        ?.cpuMillisReserved,
      900,
    );

    await t.step(
      "an env change rolls stop-first, one replica at a time, the service never dark",
      async () => {
        const before = liveAllocs(bed, "web").map((a) => a.id);
        const watch = watchService(bed, "web");
        const events = await deploy(bed, web(bed, { env: "b" }));
        const seen = await watch.stop();
        assertEquals(
          events.at(-1)?.event,
          "done",
          JSON.stringify(events.slice(-3)),
        );
        assertTrue(seen.rounds > 5, JSON.stringify(seen));
        assertEquals(seen.dark, 0);
        const after = liveAllocs(bed, "web");
        assertEquals(after.length, 3);
        assertTrue(after.every((a) => !before.includes(a.id)));
        assertTrue(after.every((a) => a.status === "healthy"));
        // Each old replica stopped before the next new one was scheduled.
        const order = events.filter((e) =>
          e.event === "phase" &&
          (e.data.phase === "stopped" || e.data.phase === "scheduled")
        ).map((e) => `${e.data.phase} ${e.data.allocId}`);
        assertEquals(order.length, 6, JSON.stringify(order));
        for (let i = 0; i < 6; i += 2) {
          assertTrue(order[i]!.startsWith("stopped "), JSON.stringify(order));
          assertTrue(order[i + 1]!.startsWith("scheduled "));
        }
      },
    );

    await t.step(
      "a broken image fails the stop-first roll; the rollback brings the stopped replica back",
      async () => {
        const before = liveAllocs(bed, "web").map((a) => a.id);
        const events = await deploy(
          bed,
          web(bed, { image: bed.bed.images.crash, env: "b" }),
        );
        const failed = events.at(-1);
        assertEquals(failed?.event, "failed", JSON.stringify(events.slice(-3)));
        assertEquals(failed?.data.code, "deploy.failed");
        assertEquals(failed?.data.previousServing, true);
        await waitFor("three healthy replicas again", () => {
          const now = liveAllocs(bed, "web");
          return now.length === 3 && now.every((a) => a.status === "healthy");
        });
        const now = liveAllocs(bed, "web");
        assertTrue(now.every((a) => a.image === bed.bed.images.http));
        // Two untouched, one restored in place of the one the roll stopped.
        assertEquals(now.filter((a) => before.includes(a.id)).length, 2);
        assertEquals(bed.agent.state().deploys.at(-1)?.status, "rolled_back");
        assertEquals(
          bed.agent.state().config.services.web?.env.MODE,
          "b",
          "the config before the failed deploy is back",
        );
        for (const port of now.map((a) => a.hostPort!)) {
          assertTrue(await answers(port));
        }
      },
    );

    await t.step(
      "a deploy in flight is cancelled: rolled back, recorded cancelled, the old version serving",
      async () => {
        const before = liveAllocs(bed, "web").map((a) => a.id).sort();
        let cancelled: Response | null = null;
        const events = await deploy(
          bed,
          // Listens where nothing probes: it never turns healthy by itself.
          web(bed, { env: "c", port: "65001" }),
          (event) => {
            if (
              cancelled === null && event.event === "phase" &&
              event.data.phase === "checking"
            ) {
              cancelled = {} as Response;
              void bed.api("/v1/deploys/cancel", { method: "POST" })
                .then((response) => cancelled = response);
            }
          },
        );
        const failed = events.at(-1);
        const answer = cancelled as unknown as Response;
        assertEquals(answer.status, 200);
        assertEquals(failed?.event, "failed", JSON.stringify(events.slice(-3)));
        assertEquals(failed?.data.code, "deploy.cancelled");
        // The progress showed why it was not healthy yet, with the URL.
        const checking = phases(events, "checking")[0];
        assertTrue(
          /GET http:\/\/[^ ]+\/health: connection refused/.test(
            String(checking?.data.message),
          ),
          JSON.stringify(checking),
        );
        assertEquals(
          ((await answer.json()) as { status: string }).status,
          "cancelling",
        );
        assertEquals(bed.agent.state().deploys.at(-1)?.status, "cancelled");
        await waitFor("three healthy replicas of the old version", () => {
          const now = liveAllocs(bed, "web");
          return now.length === 3 && now.every((a) => a.status === "healthy");
        });
        assertTrue(
          liveAllocs(bed, "web").every((a) =>
            bed.agent.state().config.services.web?.env.MODE === "b" &&
            a.image === bed.bed.images.http
          ),
        );
        assertTrue(before.length === 3);
        const none = await bed.api("/v1/deploys/cancel", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        assertEquals(none.status, 409);
        assertEquals(
          ((await none.json()) as { code: string }).code,
          "deploy.not_running",
        );
      },
    );

    await t.step(
      "a service replacing another on the full node starts once the dropped one made room",
      async () => {
        const events = await deploy(bed, web(bed, { name: "shop" }));
        assertEquals(
          events.at(-1)?.event,
          "done",
          JSON.stringify(events.slice(-3)),
        );
        assertEquals(liveAllocs(bed, "web").length, 0);
        const shop = liveAllocs(bed, "shop");
        assertEquals(shop.length, 3);
        assertTrue(shop.every((a) => a.status === "healthy"));
        assertTrue(phases(events, "stopped").length >= 3);
      },
    );
  } finally {
    await bed.stop();
  }
});
