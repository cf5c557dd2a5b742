/**
 * A node's order in a process of its own, for tests that kill it mid-order:
 * reads an OrderRequest (without the callbacks) as JSON on stdin, prints
 * `{"published":{token,keyAuthorization}}` when it would publish, then
 * waits there (the test kills it), or prints the result if let through
 * (`"hold": false`).
 */

import { orderCertificate, type OrderRequest } from "./order.ts";

type ChildRequest =
  & Omit<OrderRequest, "publish" | "unpublish" | "signal">
  & { readonly hold: boolean };

const request: ChildRequest = JSON.parse(
  await new Response(Deno.stdin.readable).text(),
);
const print = (value: unknown) => console.log(JSON.stringify(value));
const result = await orderCertificate({
  ...request,
  publish: async (token, keyAuthorization) => {
    print({ published: { token, keyAuthorization } });
    if (request.hold) await new Promise(() => {});
  },
  unpublish: () => Promise.resolve(),
});
print({ result });
