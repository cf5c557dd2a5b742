import { assertEquals, rejection } from "./_assert_test.ts";
import { parseWgDump } from "./wg_dump.ts";

const PRIVATE = "cHJpdmF0ZXByaXZhdGVwcml2YXRlcHJpdmF0ZXByaXY=";
const OWN = "b3dub3dub3dub3dub3dub3dub3dub3dub3dub3dub3c=";
const B = "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=";
const C = "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2M=";

Deno.test("parseWgDump reads peers and drops the private key", () => {
  const dump = [
    [PRIVATE, OWN, "51820", "off"],
    [
      B,
      "(none)",
      "192.0.2.2:51820",
      "10.210.2.1/32,10.210.2.0/24",
      "1700000000",
      "1234",
      "5678",
      "25",
    ],
    [C, "(none)", "(none)", "(none)", "0", "0", "148", "off"],
  ].map((f) => f.join("\t")).join("\n") + "\n";
  const parsed = parseWgDump(dump);
  assertEquals(parsed.iface, { publicKey: OWN, listenPort: 51820 });
  assertEquals(JSON.stringify(parsed).includes(PRIVATE), false);
  assertEquals(parsed.peers, [
    {
      publicKey: B,
      endpoint: "192.0.2.2:51820",
      allowedIps: ["10.210.2.0/24", "10.210.2.1/32"],
      latestHandshakeMs: 1_700_000_000_000,
      rxBytes: 1234,
      txBytes: 5678,
      persistentKeepaliveS: 25,
    },
    {
      publicKey: C,
      endpoint: null,
      allowedIps: [],
      latestHandshakeMs: null,
      rxBytes: 0,
      txBytes: 148,
      persistentKeepaliveS: null,
    },
  ]);
  assertEquals(parseWgDump("(none)\t(none)\t0\toff\n").iface.publicKey, null);
});

Deno.test("parseWgDump refuses what it cannot read, never echoing it", async () => {
  for (
    const text of [
      "",
      `${PRIVATE}\t${OWN}\n`,
      `${PRIVATE}\t${OWN}\tx\toff\n`,
      `${PRIVATE}\t${OWN}\t1\toff\n${B}\tshort\n`,
    ]
  ) {
    const error = await rejection(() => parseWgDump(text));
    assertEquals(error.message.includes(PRIVATE), false);
  }
});
