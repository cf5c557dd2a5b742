/**
 * The bed the `do` driver's tests run on: the fake DigitalOcean with three
 * droplets (101 and 102 in nyc1, 201 in fra1), each with a by-id directory
 * of its own, and a driver for it; afterwards the fake is closed and
 * nothing may be left (files, loop devices, links), nor the token in a log
 * line.
 */

import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import { StorageError } from "../../../storage/driver.ts";
import {
  DigitalOceanDriver,
  type DigitalOceanDriverOptions,
} from "../../../storage/do/do_driver.ts";
import {
  type FakeDigitalOcean,
  type FakeDigitalOceanOptions,
  startFakeDigitalOcean,
} from "./mod.ts";

export const TOKEN = "dop_v1_fake0123456789abcdef";
export const GIB = 1024 ** 3;
export const isRoot = Deno.uid() === 0;

export interface Bed {
  readonly fake: FakeDigitalOcean;
  readonly driver: DigitalOceanDriver;
  readonly byId: { 101: string; 102: string; 201: string };
  readonly logs: string[];
  readonly dir: string;
  driverWith(options: Partial<DigitalOceanDriverOptions>): DigitalOceanDriver;
}

export async function withBed(
  fakeOptions: Partial<FakeDigitalOceanOptions>,
  body: (bed: Bed) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "do-driver-test-" });
  const byId = {
    101: `${dir}/a-by-id`,
    102: `${dir}/b-by-id`,
    201: `${dir}/c-by-id`,
  };
  const fake = await startFakeDigitalOcean({
    token: TOKEN,
    regions: ["nyc1", "fra1"],
    droplets: [
      { id: 101, region: "nyc1", byIdDir: byId[101] },
      { id: 102, region: "nyc1", byIdDir: byId[102] },
      { id: 201, region: "fra1", byIdDir: byId[201] },
    ],
    actionDelayMs: { attach: 30, detach: 30 },
    ...fakeOptions,
  });
  const logs: string[] = [];
  const driverWith = (options: Partial<DigitalOceanDriverOptions>) =>
    new DigitalOceanDriver({
      apiBase: fake.url,
      token: () => TOKEN,
      region: "nyc1",
      clusterTag: "mill-cluster-test",
      pollIntervalMs: 10,
      backoffBaseMs: 10,
      byIdDir: byId[101],
      log: (level, message) => logs.push(`${level}: ${message}`),
      ...options,
    });
  try {
    await body({ fake, driver: driverWith({}), byId, logs, dir, driverWith });
    for (const line of logs) assert(!line.includes(TOKEN), line);
  } finally {
    await fake.close();
    const left = await fake.leftovers();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    assertEquals(left, { files: [], loopDevices: [], symlinks: [] });
  }
}

export async function run(command: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `${command} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** Asserts a StorageError of `code` whose message never holds the token. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  includes?: string,
): Promise<StorageError> {
  let error: unknown = null;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert(
    error instanceof StorageError,
    `expected a StorageError, got ${error}`,
  );
  assertEquals(error.code, code, error.message);
  assert(!error.message.includes(TOKEN), error.message);
  if (includes !== undefined) {
    assert(error.message.includes(includes), error.message);
  }
  return error;
}
