import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import {
  baseCommands,
  scheduled,
  toHealthy,
} from "../../raft/fsm/fixtures_testing.ts";
import {
  type Command,
  decodeSnapshot,
  encodeCommand,
  encodeSnapshot,
  encodeStatePayload,
} from "../../raft/mod.ts";
import { decodeWatchMessage, WATCH_PATH } from "./_watch_wire.ts";
import { FsmMachine } from "./fsm_machine.ts";
import { PeerServer } from "./peer_server.ts";
import { readLines, StateReplica } from "./state_replica.ts";
import { StateWatchHub, WATCH_BACKLOG_ENTRIES } from "./state_watch.ts";
import { testPki } from "./pki_testing.ts";

const pki = await testPki();
const primaryTls = await pki.nodeTls("n-primary");
const replicaTls = await pki.nodeTls("n-replica");
const replicaClient = pki.client(replicaTls);

/** A primary's side: an FSM fed by hand, its hub on a real peer port. */
async function startPrimary(fsm = new FsmMachine(), port = 0) {
  const hub = new StateWatchHub({ fsm, encodeSnapshot, pingMs: 200 });
  const server = new PeerServer({
    listen: { hostname: "127.0.0.1", port },
    tls: () => ({ ...primaryTls, clientCaPem: pki.ca.certPem }),
    log: () => {},
  });
  await hub.start();
  await server.start();
  const unmount = server.router.mount(
    "GET",
    WATCH_PATH,
    (_request, context) => hub.handle(context.url),
    { scope: "node" },
  );
  let index = fsm.index;
  return {
    fsm,
    hub,
    server,
    apply(commands: readonly Command[]) {
      for (const command of commands) {
        fsm.apply({
          index: ++index,
          term: 1,
          kind: "command",
          data: encodeCommand(command),
        });
      }
    },
    async stop() {
      unmount();
      await hub.stop();
      await server.stop();
    },
  };
}

/** A replica that follows the primary at `endpoint`. */
function replicaOf(endpoint: string): StateReplica {
  return new StateReplica({
    primaries: () => [endpoint],
    peerClient: () => replicaClient,
    decodeSnapshot,
    pingMs: 200,
    log: () => {},
  });
}

async function firstMessageType(url: string): Promise<string> {
  return decodeWatchMessage(await firstLine(url)).type;
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("a replica follows the primary's state from a snapshot, then entry by entry", async () => {
  const primary = await startPrimary();
  primary.apply(baseCommands);
  const replica = replicaOf(primary.server.endpoint);
  try {
    await replica.start();
    await waitFor("the snapshot", () => replica.index === primary.fsm.index);
    primary.apply([
      scheduled("a1", "n1"),
      ...toHealthy("a1", "10.0.0.1:20000"),
    ]);
    await waitFor("the entries", () => replica.index === primary.fsm.index);
    assertEquals(
      encodeStatePayload(replica.state),
      encodeStatePayload(primary.fsm.state),
    );
    assertEquals(replica.state.allocs.get("a1")?.status, "healthy");
  } finally {
    await replica.stop();
    await primary.stop();
  }
});

Deno.test("a replica resumes after the primary goes away and comes back", async () => {
  let primary = await startPrimary();
  primary.apply(baseCommands);
  const port = primary.server.port;
  const replica = replicaOf(`127.0.0.1:${port}`);
  try {
    await replica.start();
    await waitFor("the first sync", () => replica.index === primary.fsm.index);
    const fsm = primary.fsm;
    await primary.stop();
    primary = await startPrimary(fsm, port);
    primary.apply([scheduled("a1", "n1")]);
    await waitFor("the resumed sync", () => replica.index === fsm.index);
    assertEquals(replica.state.allocs.get("a1")?.status, "pulling");
  } finally {
    await replica.stop();
    await primary.stop();
  }
});

Deno.test("the hub resumes from its backlog and sends a snapshot to a replica too far behind", async () => {
  const primary = await startPrimary();
  try {
    primary.apply(baseCommands);
    const url = `https://${primary.server.endpoint}${WATCH_PATH}`;
    assertEquals(await firstMessageType(`${url}?from=2`), "entry");
    assertEquals(await firstMessageType(`${url}?from=0`), "snapshot");
    const filler = Array.from(
      { length: WATCH_BACKLOG_ENTRIES + 1 },
      (_, i) => ({ type: "NodeUp", nodeId: "n1", atMs: 10_000 + i }) as const,
    );
    primary.apply(filler);
    assertEquals(await firstMessageType(`${url}?from=2`), "snapshot");
    const snapshot = decodeWatchMessage(
      await firstLine(`${url}?from=0`),
    );
    assertTrue(snapshot.type === "snapshot");
    if (snapshot.type === "snapshot") {
      assertEquals(snapshot.index, primary.fsm.index);
      assertEquals(
        encodeStatePayload(decodeSnapshot(snapshot.data)),
        encodeStatePayload(primary.fsm.state),
      );
    }
  } finally {
    await primary.stop();
  }
});

async function firstLine(url: string): Promise<string> {
  const response = await fetch(url, { client: replicaClient });
  for await (const line of readLines(response.body!, 1 << 26)) {
    await response.body?.cancel().catch(() => {});
    return line;
  }
  return "";
}

Deno.test("the watch stream refuses callers without a node certificate of the cluster, and bad indices", async () => {
  const primary = await startPrimary();
  const anonymousClient = pki.client();
  const other = await testPki();
  const foreignClient = other.client(await other.nodeTls("n-replica"));
  // Trusts our CA for the server, presents another CA's certificate.
  const strangerClient = Deno.createHttpClient({
    caCerts: [pki.ca.certPem],
    ...(await other.nodeTls("n-stranger")),
  });
  try {
    const url = `https://${primary.server.endpoint}${WATCH_PATH}`;
    const anonymous = await fetch(url, { client: anonymousClient });
    assertEquals(
      [anonymous.status, (await anonymous.json()).code],
      [401, "api.unauthenticated"],
    );
    const stranger = await fetch(url, { client: strangerClient });
    assertEquals(stranger.status, 401);
    await stranger.body?.cancel();
    // A client that trusts another CA does not even accept our server.
    const foreign = await fetch(url, { client: foreignClient }).then(
      () => "connected",
      () => "refused",
    );
    assertEquals(foreign, "refused");
    const bad = await fetch(`${url}?from=-1`, { client: replicaClient });
    assertEquals([bad.status, (await bad.json()).code], [
      400,
      "api.bad_request",
    ]);
  } finally {
    anonymousClient.close();
    foreignClient.close();
    strangerClient.close();
    await primary.stop();
  }
});
