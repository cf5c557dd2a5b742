/** Restart backoff for services; tasks are never restarted. */
export {
  decideRestart,
  type ExitCause,
  recordHealthy,
  recordUnhealthy,
  RESTART_BACKOFF_MS,
  RESTART_BACKOFF_MS_MAX,
  RESTART_RESET_AFTER_HEALTHY_MS,
  RESTART_STATE_INITIAL,
  type RestartDecision,
  restartDelayMs,
  type RestartInput,
  type RestartOptions,
  type RestartState,
} from "./policy.ts";
