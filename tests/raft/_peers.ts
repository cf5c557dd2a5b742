/** `--peers n1=http://…,n2=http://…` as the raft test processes take it. */
export function parsePeerList(text: string): Map<string, string> {
  const peers = new Map<string, string>();
  for (const pair of text.split(",")) {
    const [member, url] = pair.split("=");
    if (member === undefined || url === undefined) {
      throw new Error(`Bad --peers entry "${pair}"`);
    }
    peers.set(member, url);
  }
  return peers;
}
