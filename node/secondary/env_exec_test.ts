import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ENV_EXEC_BINARIES } from "./_env_exec_binaries.ts";
import { type EnvExecArch, envExecBinary } from "./env_exec.ts";
import { buildEnvExec, envExecCompilerVersion } from "./env_exec_build.ts";

const ARCHES: readonly EnvExecArch[] = ["x86_64", "aarch64"];
const ELF_MACHINE: Readonly<Record<EnvExecArch, number>> = {
  x86_64: 62,
  aarch64: 183,
};
const PT_INTERP = 3;

Deno.test("the embedded env-exec binaries are static 64-bit executables of their machine", async (t) => {
  for (const arch of ARCHES) {
    await t.step(arch, () => {
      const bytes = envExecBinary(arch);
      if (bytes === null) throw new Error(`no env-exec for ${arch}`);
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      assertEquals([...bytes.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
      assertEquals([bytes[4], bytes[5]], [2, 1]); // 64-bit, little-endian
      assertEquals(view.getUint16(16, true), 2); // ET_EXEC
      assertEquals(view.getUint16(18, true), ELF_MACHINE[arch]);
      const phoff = Number(view.getBigUint64(32, true));
      const phentsize = view.getUint16(54, true);
      const phnum = view.getUint16(56, true);
      for (let i = 0; i < phnum; i++) {
        const type = view.getUint32(phoff + i * phentsize, true);
        assertEquals(type === PT_INTERP, false, "no dynamic loader");
      }
    });
  }
  assertEquals(envExecBinary("riscv64"), null);
});

Deno.test("the embedded env-exec is what env_exec.c builds to with the same compiler", async (t) => {
  for (const arch of ARCHES) {
    const version = await envExecCompilerVersion(arch);
    await t.step({
      name: arch,
      // Other compilers emit other (equally good) bytes: nothing to compare.
      ignore: version !== ENV_EXEC_BINARIES[arch].compiler,
      fn: async () => {
        const built = await buildEnvExec(arch);
        assertEquals(built.toBase64(), ENV_EXEC_BINARIES[arch].base64);
      },
    });
  }
});

/** How to run a binary: directly (`null`) or under an emulator. */
type Runner = { readonly arch: EnvExecArch; readonly emulator: string | null };

/** Runs env-exec with `entries` in its env file: stdout, stderr and code. */
async function runEnvExec(
  runner: Runner,
  run: {
    entries: string;
    /** `{dir}` stands for a directory holding a file `not-executable`. */
    args: readonly string[];
    env?: Record<string, string>;
    /** Passed instead of the file written with `entries`. */
    filePath?: string;
  },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "mill-env-exec-test-" });
  try {
    const binary = `${dir}/env-exec`;
    await Deno.writeFile(binary, envExecBinary(runner.arch)!, { mode: 0o755 });
    const file = `${dir}/secret-env`;
    await Deno.writeTextFile(file, run.entries);
    await Deno.writeTextFile(`${dir}/not-executable`, "#!/bin/sh\n", {
      mode: 0o644,
    });
    const command = runner.emulator === null
      ? [binary]
      : [runner.emulator, binary];
    const args = run.args.length === 0 && run.filePath === undefined
      ? []
      : [run.filePath ?? file, ...run.args.map((a) => a.replace("{dir}", dir))];
    const result = await new Deno.Command(command[0]!, {
      args: [...command.slice(1), ...args],
      env: { PATH: "/usr/bin:/bin", ...run.env },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return {
      code: result.code,
      stdout: decode(result.stdout),
      stderr: decode(result.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function hasProgram(name: string): Promise<boolean> {
  try {
    return (await new Deno.Command(name, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output()).success;
  } catch {
    return false;
  }
}

for (const arch of ARCHES) {
  // The host's own binary runs directly; the other one under qemu, if present.
  const runner: Runner = {
    arch,
    emulator: arch === Deno.build.arch ? null : `qemu-${arch}`,
  };
  const runnable = runner.emulator === null ||
    await hasProgram(runner.emulator);
  Deno.test({
    name: `env-exec (${arch}) sets the file's variables and execs the command`,
    ignore: !runnable,
    fn: async (t) => {
      const cases: {
        name: string;
        entries: string;
        args: string[];
        env?: Record<string, string>;
        code: number;
        stdout?: string;
        stderr?: RegExp;
      }[] = [
        {
          name: "the file's variables replace and join the inherited ones",
          entries: "DB_URL=pg://u:s3cr3t@db\0NEW=a=b c\nd\0",
          args: ["sh", "-c", 'printf "%s|%s|%s" "$DB_URL" "$NEW" "$KEEP"'],
          env: { DB_URL: "placeholder", KEEP: "kept" },
          code: 0,
          stdout: "pg://u:s3cr3t@db|a=b c\nd|kept",
        },
        {
          name: "a replaced variable appears once",
          entries: "A=new\0",
          args: ["/usr/bin/env"],
          env: { A: "old" },
          code: 0,
          stdout: "PATH=/usr/bin:/bin\nA=new\n",
        },
        {
          name: "an empty file changes nothing",
          entries: "",
          args: ["sh", "-c", 'printf "%s" "$B"'],
          env: { B: "1" },
          code: 0,
          stdout: "1",
        },
        {
          name: "the command is looked up in the file's PATH",
          entries: "PATH=/nowhere:/bin\0",
          args: ["sh", "-c", 'printf "%s" "$PATH"'],
          code: 0,
          stdout: "/nowhere:/bin",
        },
        {
          name: "a command not found exits 127",
          entries: "",
          args: ["no-such-command-here"],
          code: 127,
          stderr: /cannot run "no-such-command-here": not found/,
        },
        {
          name: "a file that is not executable exits 126",
          entries: "",
          args: ["{dir}/not-executable"],
          code: 126,
          stderr: /permission denied/,
        },
        {
          name: "an entry without a trailing NUL is refused",
          entries: "A=x",
          args: ["true"],
          code: 127,
          stderr: /does not end with a NUL byte/,
        },
        {
          name: "an entry without a name is refused",
          entries: "=x\0",
          args: ["true"],
          code: 127,
          stderr: /has an entry without NAME=/,
        },
        {
          name: "no env file and no command is a usage error",
          entries: "",
          args: [],
          code: 127,
          stderr: /usage: env-exec ENV_FILE COMMAND/,
        },
      ];
      for (const c of cases) {
        await t.step(c.name, async () => {
          const result = await runEnvExec(runner, c);
          assertEquals(result.code, c.code, result.stderr);
          if (c.stdout !== undefined) assertEquals(result.stdout, c.stdout);
          if (c.stderr !== undefined) {
            assertEquals(c.stderr.test(result.stderr), true, result.stderr);
          }
        });
      }
      await t.step("a missing env file exits 127", async () => {
        const result = await runEnvExec(runner, {
          entries: "",
          args: ["true"],
          filePath: "/nonexistent/secret-env",
        });
        assertEquals(result.code, 127);
        assertEquals(/cannot open env file/.test(result.stderr), true);
      });
    },
  });
}
