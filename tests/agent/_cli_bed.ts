/**
 * A one-node agent bed for CLI tests: the CLI context points at it, a work
 * directory for files, and `mill(...args)` runs the CLI in-process. `stop`
 * puts the environment back and removes everything.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { bufferOutput, runCli } from "../../cli/mod.ts";
import { ContainerdClient } from "../../containerd/mod.ts";
import { containerIdOf } from "../../node/secondary/exits.ts";
import { CONTEXT_PATH_ENV } from "../../cli/_api.ts";
import { type AgentBed, startAgentBed, waitFor } from "./_bed.ts";

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliBed {
  readonly bed: AgentBed;
  /** A temporary directory for the test's files. */
  readonly work: string;
  mill(...args: string[]): Promise<CliRun>;
  stop(): Promise<void>;
}

/** The CLI run in-process, with its output buffered. */
export async function mill(...args: string[]): Promise<CliRun> {
  const output = bufferOutput();
  const code = await runCli(args, output);
  return { code, stdout: output.stdout(), stderr: output.stderr() };
}

/** Starts the bed and waits until its node is registered and leads. */
export async function startCliBed(workPrefix: string): Promise<CliBed> {
  const bed = await startAgentBed();
  const previous = Deno.env.get(CONTEXT_PATH_ENV);
  Deno.env.set(CONTEXT_PATH_ENV, bed.contextPath);
  const work = await Deno.makeTempDir({ prefix: workPrefix });
  const stop = async () => {
    if (previous === undefined) Deno.env.delete(CONTEXT_PATH_ENV);
    else Deno.env.set(CONTEXT_PATH_ENV, previous);
    await Deno.remove(work, { recursive: true });
    await bed.stop();
  };
  try {
    await waitFor(
      "the node registered and leading",
      () =>
        bed.agent.state().nodes.size === 1 &&
        bed.agent.leader?.isLeader === true,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { bed, work, mill, stop };
}

/** The env of the running container of `workload`'s healthy alloc. */
export async function containerEnv(
  bed: AgentBed,
  workload: string,
): Promise<string[]> {
  const alloc = [...bed.agent.state().allocs.values()].find((a) =>
    a.workload === workload && a.status === "healthy"
  );
  assertTrue(alloc !== undefined, `a healthy ${workload} alloc`);
  const containerd = new ContainerdClient(bed.bed.containerd.socketPath, {
    namespace: "mill",
  });
  const task = await containerd.getTask(containerIdOf(alloc!.id))
    .finally(() => containerd.close());
  return (await Deno.readTextFile(`/proc/${task!.pid}/environ`)).split("\0");
}
