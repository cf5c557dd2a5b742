/** Named bounds of the FSM: past them a command is refused, never grown into. */

/** Longest id or name the FSM accepts (a DNS name's length). */
export const ID_LENGTH_MAX = 253;
/** Most allocs one `AllocsPurged` may name. */
export const PURGE_ALLOCS_MAX = 10_000;
/**
 * Most placements one `AllocsScheduled` may hold: at a few hundred bytes
 * each, an entry stays well under `COMMAND_BYTES_MAX`. A bigger wave is
 * committed as several entries.
 */
export const SCHEDULE_PLACEMENTS_MAX = 4_096;
/** Most alloc reports one heartbeat may carry. */
export const HEARTBEAT_REPORTS_MAX = 10_000;
/** Most labels a node may register with. */
export const NODE_LABELS_MAX = 64;
/** Largest secret ciphertext accepted, in base64 characters (64 KiB of data). */
export const SECRET_CIPHERTEXT_MAX = 87_384;
/** Most HTTP-01 challenges pending at once (one order runs at a time). */
export const ACME_CHALLENGES_MAX = 100;
/** Most hosts with a certificate record. */
export const ACME_HOSTS_MAX = 1_000;
/** Longest certificate chain or CA bundle, in characters. */
export const ACME_PEM_MAX = 64 * 1024;
/** Finished deploy records kept; older ones are dropped. */
export const DEPLOYS_KEPT = 50;
/** Largest encoded command accepted (a Deploy carries a whole config). */
export const COMMAND_BYTES_MAX = 4 * 1024 * 1024;
