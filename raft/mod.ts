/** mill-raft: the cluster state machine (pure) and, later, the consensus engine. */
export * from "./fsm/mod.ts";
