/** `mill certs`: the ingress's certificates, and the cluster's ACME settings. */

import {
  type CommandSpec,
  flag,
  JSON_OPTION,
  stringOption,
} from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { readConfigFile } from "../_files.ts";
import { withApi } from "../_api.ts";
import { renderCertificates } from "./status_tables.ts";

const settingsCommand: CommandSpec = {
  name: "settings",
  summary: "set the cluster's ACME directory and contact",
  details:
    "--directory takes an ACME directory URL, or production / staging for\n" +
    "Let's Encrypt's (production unless set). --ca-file: PEM certificates the\n" +
    "directory's own TLS is checked against, for a private CA; the system's\n" +
    "are used otherwise. An account belongs to one directory: another one\n" +
    "registers a new account at the next order.",
  options: [
    {
      flags: "--directory <url>",
      description: "URL, production or staging",
      required: true,
    },
    { flags: "--email <address>", description: "the account's contact" },
    { flags: "--ca-file <path>", description: "PEM CA of the directory's TLS" },
    JSON_OPTION,
  ],
  run: async (context) => {
    const json = flag(context, "json");
    const caFile = stringOption(context, "caFile");
    let caBundlePem: string | null = null;
    if (caFile !== undefined) {
      const read = await readConfigFile(caFile, context.output);
      if (!read.ok) return read.code;
      caBundlePem = read.text;
    }
    return withApi(context.output, json, async (client) => {
      const answer = await client.json("PUT", "/v1/acme", {
        directoryUrl: stringOption(context, "directory"),
        email: stringOption(context, "email") ?? null,
        caBundlePem,
      }) as { directoryUrl: string; email: string | null };
      if (json) context.output.line(JSON.stringify(answer));
      else {
        context.output.line(
          `certificates now come from ${answer.directoryUrl}${
            answer.email === null ? "" : ` (contact ${answer.email})`
          }`,
        );
      }
      return EXIT.ok;
    });
  },
};

export const certsCommand: CommandSpec = {
  name: "certs",
  summary:
    "show each routed host's certificate: state, issuer, expiry, last error",
  details:
    "Every host a service's route names gets a certificate from the cluster's\n" +
    "ACME CA (Let's Encrypt unless `mill certs settings` says otherwise), and is\n" +
    "served on HTTP only until it has one.",
  options: [JSON_OPTION],
  subcommands: [settingsCommand],
  run: (context) => {
    const json = flag(context, "json");
    return withApi(context.output, json, async (client) => {
      const answer = await client.json("GET", "/v1/certs") as {
        acme: Record<string, unknown>;
        certificates: Record<string, unknown>[];
      };
      if (json) context.output.line(JSON.stringify(answer));
      else {
        context.output.line(`acme     ${String(answer.acme.directoryUrl)}`);
        for (
          const line of renderCertificates(answer.certificates, Date.now())
        ) {
          context.output.line(line);
        }
      }
      return EXIT.ok;
    });
  },
};
