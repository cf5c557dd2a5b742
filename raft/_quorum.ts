/** Majority arithmetic over a voter set. */

/** Votes needed to win among `voterCount` voters. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** The highest index a majority of voters hold (`matchOf` gives each voter's match). */
export function committedIndex(
  voters: readonly string[],
  matchOf: (id: string) => number,
): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[quorumSize(voters.length) - 1]!;
}

export type VoteOutcome = "won" | "lost" | "pending";

/** Tally votes from voters only: `granted`/`rejected` may hold non-voters, which do not count. */
export function voteOutcome(
  voters: readonly string[],
  votes: ReadonlyMap<string, boolean>,
): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const needed = quorumSize(voters.length);
  if (granted >= needed) return "won";
  if (voters.length - rejected < needed) return "lost";
  return "pending";
}

/** Is `count` of `voterCount` a majority? */
export function isQuorum(count: number, voterCount: number): boolean {
  return voterCount > 0 && count >= quorumSize(voterCount);
}
