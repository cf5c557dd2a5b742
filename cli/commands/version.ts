/** `mill version`: the version of mill and of the runtime. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { MILL_VERSION } from "../version.ts";

export const versionCommand: CommandSpec = {
  name: "version",
  summary: "print the version of mill",
  options: [JSON_OPTION],
  run: (context) => {
    const versions = {
      mill: MILL_VERSION,
      deno: Deno.version.deno,
      typescript: Deno.version.typescript,
    };
    if (flag(context, "json")) context.output.line(JSON.stringify(versions));
    else context.output.line(`mill ${MILL_VERSION} (deno ${versions.deno})`);
    return Promise.resolve(EXIT.ok);
  },
};
