/**
 * The pure notification core: `step(state, event) → { state, actions }` (architecture.md).
 *
 * Deterministic: no I/O, no clock (time comes in as `event.now`), no randomness (publish ids are
 * derived from the seed given to `initState`), and no imports from xmpp/, store/ or http/.
 * For speed, `step` MUTATES `state` in place and returns the same object: callers must not keep
 * using an old reference as a snapshot. Action objects are never mutated after being returned.
 * @module
 */
import { assertNever } from "../assert-never.ts";
import type { CoreState } from "./state.ts";
import type { Action, Event } from "./types.ts";
import { handleDisable, handleEnable, handleStoreDone } from "./requests.ts";
import { archived, groupchatBare, offline, offlinePending } from "./triggers.ts";
import { ackDelayed, batchTimer, hibernationEnded, hibernationStarted, sessionEnded, sessionStarted, stanzaQueued } from "./sessions.ts";
import { publishError, publishResult } from "./replies.ts";
import { expirePending, publishTimedOut, resendInterrupted, retryDue, settleAll, shutdown, SHUTDOWN_KEY } from "./publish.ts";
import { purgeDedupe } from "./dedupe.ts";
import { userDeleted, userDisabled, userEnabled, userLoaded } from "./users.ts";
import { sessionsSnapshot } from "./snapshot.ts";
import { adminDeleteRequest, adminQuery, pingRequest } from "./admin-requests.ts";

export interface StepResult {
  state: CoreState;
  actions: Action[];
}

/** Applies one event. See the module header: `state` is mutated and returned. */
export function step(state: CoreState, event: Event): StepResult {
  const actions: Action[] = [];
  switch (event.type) {
    case "enable":
      handleEnable(state, event, actions);
      break;
    case "disable":
      handleDisable(state, event, actions);
      break;
    case "store-done":
      handleStoreDone(state, event, actions);
      break;
    case "user-loaded":
      userLoaded(state, event);
      break;
    case "offline":
      offline(state, event, actions);
      break;
    case "offline-pending":
      offlinePending(state, event, actions);
      break;
    case "archived":
      archived(state, event, actions);
      break;
    case "groupchat-bare":
      groupchatBare(state, event, actions);
      break;
    case "session-started":
      sessionStarted(state, event);
      break;
    case "session-ended":
      sessionEnded(state, event, actions);
      break;
    case "hibernation-started":
      hibernationStarted(state, event, actions);
      break;
    case "stanza-queued":
      stanzaQueued(state, event, actions);
      break;
    case "ack-delayed":
      ackDelayed(state, event, actions);
      break;
    case "hibernation-ended":
      hibernationEnded(state, event, actions);
      break;
    case "user-deleted":
      userDeleted(state, event, actions);
      break;
    case "user-disabled":
      userDisabled(state, event, actions);
      break;
    case "user-enabled":
      userEnabled(state, event, actions);
      break;
    case "publish-result":
      publishResult(state, event, actions);
      break;
    case "publish-error":
      publishError(state, event, actions);
      break;
    case "timer":
      if (event.key === SHUTDOWN_KEY) {
        if (state.stopping) settleAll(state, event.now, actions); // the grace period is over
      } else if (!retryDue(state, event, actions)) batchTimer(state, event, actions); // D19 retry, else B30 batch
      break;
    case "tick":
      expirePending(state, event.now, actions);
      purgeDedupe(state, event.now);
      break;
    case "ping":
      pingRequest(state, event, actions);
      break;
    case "sessions-snapshot":
      sessionsSnapshot(state, event, actions);
      break;
    case "publish-timeout":
      publishTimedOut(state, event, actions);
      break;
    case "link-restored":
      resendInterrupted(state, event, actions);
      break;
    case "admin-delete":
      adminDeleteRequest(state, event, actions);
      break;
    case "admin-query":
      adminQuery(state, event, actions);
      break;
    case "shutdown":
      shutdown(state, event, actions);
      break;
    default:
      return assertNever(event, "handle event");
  }
  // Stopping: the last publish in flight was answered (or forgotten).
  if (state.stopping && state.pending.size === 0) {
    state.stopping = false;
    actions.push({ type: "cancel-timer", key: SHUTDOWN_KEY }, { type: "settled" });
  }
  return { state, actions };
}
