/**
 * The service the cluster tests deploy: busybox httpd from the test
 * images, one replica per node when spread, and how to read its allocs.
 */
import type { Bed, BedNode } from "./bed.ts";

export interface AllocView {
  readonly id: string;
  readonly workload: string;
  readonly nodeName: string | null;
  readonly status: string;
  readonly address: string | null;
  readonly hostPort: number | null;
}

/** A `.mill` config of `replicas` httpd replicas named `name`. */
export function webConfig(
  image: string,
  replicas: number,
  name = "web",
): string {
  return `service "${name}" {
  image    = "${image}"
  port     = 8080
  replicas = ${replicas}
  cpu      = 0.1
  memory   = "32M"
  health {
    path     = "/health"
    interval = "1s"
  }
}
`;
}

/** Writes `text` into the bed's dir and returns the path (the CLI reads it from there). */
export async function writeConfig(
  bed: Bed,
  file: string,
  text: string,
): Promise<string> {
  const path = `${bed.dir}/${file}`;
  await Deno.writeTextFile(path, text);
  return path;
}

/** The allocs of `service` that are healthy, as the API says through `via`. */
export async function healthyAllocs(
  bed: Bed,
  service: string,
  via?: BedNode,
): Promise<AllocView[]> {
  const node = via ?? (await bed.leader());
  const { allocs } = await bed.api<{ allocs: AllocView[] }>(
    node,
    `/v1/allocs?service=${service}`,
  );
  return allocs.filter((a) => a.status === "healthy");
}

/** What the replica on `node` answers on its host port, from inside that node. */
export async function fetchOnNode(
  bed: Bed,
  node: BedNode,
  port: number,
  path = "/health",
): Promise<string> {
  const result = await bed.exec(node, [
    "curl",
    "-fsS",
    "--max-time",
    "5",
    `http://${node.address}:${port}${path}`,
  ]);
  if (result.code !== 0) {
    throw new Error(`curl on ${node.name}:${port}${path}: ${result.stderr}`);
  }
  return result.stdout;
}
