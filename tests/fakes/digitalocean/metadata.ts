/**
 * The droplet metadata service (the reference's "Droplet Metadata API",
 * at 169.254.169.254 on a droplet): plain-text items under `/metadata/v1/`
 * (`id`, `hostname`, `region`, `tags/`), an index for each directory, a 301
 * to the slash for a directory asked without it, and everything at once in
 * `/metadata/v1.json`. No token: a droplet asks about itself.
 */

import type { Answer, IncomingCall } from "./listener.ts";
import type { FakeDroplet } from "./model.ts";

export function metadataAnswer(
  droplet: FakeDroplet,
  call: IncomingCall,
): Answer {
  if (call.method !== "GET" && call.method !== "HEAD") {
    return { status: 405, body: "method not allowed\n" };
  }
  const path = new URL(call.target, call.origin).pathname;
  const hostname = droplet.name ?? `droplet-${droplet.id}`;
  const tags = [...(droplet.tags ?? [])];
  const items: Record<string, string> = {
    "/metadata/v1/":
      "id\nhostname\nuser-data\nvendor-data\npublic-keys\nregion\ntags/\n",
    "/metadata/v1/id": String(droplet.id),
    "/metadata/v1/hostname": hostname,
    "/metadata/v1/region": droplet.region,
    "/metadata/v1/user-data": "",
    "/metadata/v1/vendor-data": "",
    "/metadata/v1/public-keys": "",
    "/metadata/v1/tags/": tags.map((t) => `${t}\n`).join(""),
  };
  const item = items[path];
  if (item !== undefined) return { status: 200, body: item };
  if (items[`${path}/`] !== undefined) {
    return {
      status: 301,
      headers: { location: `${path}/` },
      body: `<a href="${path}/">Moved Permanently</a>.\n`,
    };
  }
  if (path === "/metadata/v1.json") {
    return {
      status: 200,
      body: {
        droplet_id: droplet.id,
        hostname,
        user_data: "",
        vendor_data: "",
        public_keys: [],
        auth_key: "",
        region: droplet.region,
        interfaces: { private: [], public: [] },
        floating_ip: { ipv4: { active: false } },
        reserved_ip: { ipv4: { active: false }, ipv6: { active: false } },
        dns: { nameservers: [] },
        tags,
        features: { dhcp_enabled: false },
      },
    };
  }
  return { status: 404, body: "not found\n" };
}
