/** The scheduler: placements from a state snapshot, as an ordered plan. */
export { schedule, type ScheduleRequest } from "./scheduler.ts";
export * from "./plan.ts";
export { replayDeploy } from "./replay.ts";
