/**
 * The fake DigitalOcean API as a process of its own, for test beds whose
 * nodes live in network namespaces: run it inside the namespace they reach
 * (`nsenter --net=… deno run -A serve.ts CONFIG`), with CONFIG the JSON of
 * `FakeDigitalOceanOptions`. It prints `{"url": …}` once listening, serves
 * until SIGTERM, then closes (detaching its loop devices) and exits.
 */
import { type FakeDigitalOceanOptions, startFakeDigitalOcean } from "./mod.ts";

const config = JSON.parse(Deno.args[0] ?? "{}") as FakeDigitalOceanOptions;
const fake = await startFakeDigitalOcean(config);
console.log(JSON.stringify({ url: fake.url }));
const stop = Promise.withResolvers<void>();
Deno.addSignalListener("SIGTERM", () => stop.resolve());
await stop.promise;
await fake.close();
Deno.exit(0);
