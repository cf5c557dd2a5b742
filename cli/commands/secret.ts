/** `mill secret set|list|delete`: the cluster's encrypted secrets. */

import {
  type CommandSpec,
  flag,
  JSON_OPTION,
  type RunContext,
  stringOption,
} from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import type { Output } from "../output.ts";
import { withApi } from "../_api.ts";
import {
  describeSecretUsers,
  SecretError,
  type SecretUsers,
  validateSecretName,
} from "../../node/secrets/mod.ts";
import { table } from "./status_tables.ts";

/** Largest value read from stdin or a file (the API refuses more anyway). */
const SECRET_INPUT_BYTES_MAX = 65_520;

async function readValue(context: RunContext): Promise<
  { ok: true; value: string } | { ok: false; code: number }
> {
  const fromArgv = context.args[1];
  if (fromArgv !== undefined) {
    if (!flag(context, "insecureValueInArgv")) {
      context.output.error(
        "error: a secret value on the command line ends up in shell history and `ps`; pipe it on stdin or use --from-file (or pass --insecure-value-in-argv)",
      );
      return { ok: false, code: EXIT.usage };
    }
    return { ok: true, value: fromArgv };
  }
  const file = stringOption(context, "fromFile");
  let bytes: Uint8Array;
  try {
    bytes = file === undefined
      ? await readAll(Deno.stdin.readable)
      : await Deno.readFile(file);
  } catch (error) {
    context.output.error(
      `error: cannot read the value from ${
        file === undefined ? "stdin" : `"${file}"`
      }: ${(error as Error).message}`,
    );
    return { ok: false, code: EXIT.usage };
  }
  if (bytes.length > SECRET_INPUT_BYTES_MAX) {
    context.output.error(
      `error: the value is ${bytes.length} bytes; secrets hold at most ${SECRET_INPUT_BYTES_MAX}`,
    );
    return { ok: false, code: EXIT.usage };
  }
  let value = new TextDecoder().decode(bytes);
  // A value typed, echoed or saved by an editor ends with one newline that
  // is not part of it; --keep-newline keeps it.
  if (!flag(context, "keepNewline")) value = value.replace(/\r?\n$/, "");
  return { ok: true, value };
}

/** Checks `name` against the secret-name rule before anything is sent. */
function checkName(name: string, output: Output, json: boolean): boolean {
  try {
    validateSecretName(name);
    return true;
  } catch (error) {
    if (!(error instanceof SecretError)) throw error;
    if (json) {
      output.line(JSON.stringify({ code: error.code, message: error.message }));
    } else output.error(`error[${error.code}]: ${error.message}`);
    return false;
  }
}

async function readAll(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > SECRET_INPUT_BYTES_MAX) break;
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

const setCommand: CommandSpec = {
  name: "set",
  summary: "store a secret (the value comes from stdin or --from-file)",
  details: "The value comes from stdin or --from-file (argv only with\n" +
    "--insecure-value-in-argv). One trailing newline (\\n or \\r\\n), the one an\n" +
    "editor or echo adds, is dropped unless --keep-newline. An empty value is\n" +
    "refused unless --allow-empty. Names: 1 to 128 ASCII letters, digits, '.',\n" +
    "'_' or '-', starting with a letter or digit; any other name is refused\n" +
    "(secret.invalid_name, exit 2) before anything is sent.",
  arguments: [
    { name: "name", description: "secret name, e.g. db.url", required: true },
    {
      name: "value",
      description: "refused unless --insecure-value-in-argv: argv leaks",
      required: false,
    },
  ],
  options: [
    {
      flags: "--from-file <path>",
      description: "read the value from this file",
    },
    {
      flags: "--keep-newline",
      description:
        "keep the value's trailing newline (one \\n or \\r\\n is dropped by default)",
    },
    {
      flags: "--allow-empty",
      description: "store an empty value (refused by default)",
    },
    {
      flags: "--insecure-value-in-argv",
      description: "accept the value as an argument",
    },
    JSON_OPTION,
  ],
  run: async (context) => {
    const json = flag(context, "json");
    const name = context.args[0] ?? "";
    if (!checkName(name, context.output, json)) return EXIT.usage;
    const read = await readValue(context);
    if (!read.ok) return read.code;
    const allowEmpty = flag(context, "allowEmpty");
    if (read.value === "" && !allowEmpty) {
      context.output.error(
        `error[secret.empty_value]: the value of secret "${name}" is empty${
          flag(context, "keepNewline") ? "" : " (after its trailing newline)"
        }; give a value, or pass --allow-empty to store an empty one`,
      );
      return EXIT.usage;
    }
    return withApi(context.output, json, async (client) => {
      const response = await client.request(
        "PUT",
        `/v1/secrets/${encodeURIComponent(name)}${
          allowEmpty ? "?allow_empty=true" : ""
        }`,
        { body: read.value, contentType: "text/plain; charset=utf-8" },
      );
      await response.body?.cancel();
      if (json) context.output.line(JSON.stringify({ name, set: true }));
      else context.output.line(`secret "${name}" set`);
      return EXIT.ok;
    });
  },
};

const listCommand: CommandSpec = {
  name: "list",
  summary: "list secret names and when they were set (never values)",
  options: [JSON_OPTION],
  run: (context) => {
    const json = flag(context, "json");
    return withApi(context.output, json, async (client) => {
      const answer = await client.json("GET", "/v1/secrets") as {
        secrets: { name: string; updatedAt: string }[];
      };
      if (json) context.output.line(JSON.stringify(answer));
      else if (answer.secrets.length === 0) context.output.line("no secrets");
      else {
        const rows = answer.secrets.map((s) => [s.name, s.updatedAt]);
        for (const line of table([["NAME", "UPDATED"], ...rows])) {
          context.output.line(line);
        }
      }
      return EXIT.ok;
    });
  },
};

const deleteCommand: CommandSpec = {
  name: "delete",
  summary: "delete a secret (refused while a deployed service uses it)",
  details:
    "Refused (secret.in_use, exit 1) while the deployed config references the\n" +
    "secret; the error names the services and tasks that do. With --force it is\n" +
    "deleted anyway and they are named again: each fails to start the next time\n" +
    "the leader starts it (a deploy, a reschedule, a spawn) until the secret is\n" +
    "set again; a container its node restarts keeps the values it had.",
  arguments: [{
    name: "name",
    description: "the secret to delete",
    required: true,
  }],
  options: [
    {
      flags: "--force",
      description: "delete it even though deployed services use it",
    },
    JSON_OPTION,
  ],
  run: (context) => {
    const json = flag(context, "json");
    const name = context.args[0] ?? "";
    if (!checkName(name, context.output, json)) {
      return Promise.resolve(EXIT.usage);
    }
    const force = flag(context, "force");
    return withApi(context.output, json, async (client) => {
      const answer = await client.json(
        "DELETE",
        `/v1/secrets/${encodeURIComponent(name)}${force ? "?force=true" : ""}`,
      ) as { usedBy?: SecretUsers } | null;
      const usedBy = answer?.usedBy ?? { services: [], tasks: [] };
      if (json) {
        context.output.line(JSON.stringify({ name, deleted: true, usedBy }));
        return EXIT.ok;
      }
      context.output.line(`secret "${name}" deleted`);
      if (usedBy.services.length + usedBy.tasks.length > 0) {
        context.output.error(
          `warning: ${
            describeSecretUsers(usedBy)
          } still reference it: they fail to start the next time the leader starts them (a deploy, a reschedule, a spawn) until "mill secret set ${name}" or a deploy without it`,
        );
      }
      return EXIT.ok;
    });
  },
};

export const secretCommand: CommandSpec = {
  name: "secret",
  summary: "set, list or delete secrets referenced as ${secret(name)}",
  subcommands: [setCommand, listCommand, deleteCommand],
};
