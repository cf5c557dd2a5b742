/** mill-cli: one file per command under commands/, run through runCli. */

import type { CommandSpec } from "./command.ts";
import { runCommander } from "./_commander.ts";
import { consoleOutput, type Output } from "./output.ts";
import { MILL_VERSION } from "./version.ts";
import { agentCommand } from "./commands/agent.ts";
import { deployCommand } from "./commands/deploy.ts";
import { downCommand } from "./commands/down.ts";
import { drainCommand } from "./commands/drain.ts";
import { fmtCommand } from "./commands/fmt.ts";
import { initCommand } from "./commands/init.ts";
import { joinCommand } from "./commands/join.ts";
import { logsCommand } from "./commands/logs.ts";
import { nodesCommand } from "./commands/nodes.ts";
import { psCommand } from "./commands/ps.ts";
import { removeCommand } from "./commands/remove.ts";
import { secretCommand } from "./commands/secret.ts";
import { tokenCommand } from "./commands/token.ts";
import { certsCommand } from "./commands/certs.ts";
import { spawnCommand } from "./commands/spawn.ts";
import { statusCommand } from "./commands/status.ts";
import { stopCommand } from "./commands/stop.ts";
import { upCommand } from "./commands/up.ts";
import { validateCommand } from "./commands/validate.ts";
import { versionCommand } from "./commands/version.ts";
import { volumeCommand } from "./commands/volume.ts";

export { EXIT } from "./exit_codes.ts";
export { type BufferOutput, bufferOutput, type Output } from "./output.ts";

/** Every command of `mill`, in the order `mill --help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  initCommand,
  upCommand,
  agentCommand,
  joinCommand,
  validateCommand,
  fmtCommand,
  deployCommand,
  stopCommand,
  downCommand,
  statusCommand,
  nodesCommand,
  psCommand,
  logsCommand,
  spawnCommand,
  drainCommand,
  removeCommand,
  volumeCommand,
  secretCommand,
  tokenCommand,
  certsCommand,
  versionCommand,
];

const ROOT: CommandSpec = {
  name: "mill",
  summary: "a container orchestrator for small fleets",
  details:
    "mill: one binary per machine running containers with embedded Raft,\n" +
    "a WireGuard mesh, DNS, a reverse proxy with TLS, secrets and volumes.\n" +
    "Exit status: 0 ok, 1 failure, 2 invalid usage or config, 3 no cluster reachable.",
  subcommands: COMMANDS,
};

/** Runs the CLI on `args` and returns the process exit code. */
export function runCli(
  args: readonly string[],
  output: Output = consoleOutput(),
): Promise<number> {
  return runCommander(ROOT, MILL_VERSION, args, output);
}
