/**
 * What an app service's answer to a publish does to the registration (B41–B44 with D13, D19,
 * D20): one small pure table, used by replies.ts and publish.ts. Only answers whose `from` is
 * the registration's stored `jid` get here (B42: any other sender is ignored).
 *
 * | answer                                                        | verdict  |
 * |---------------------------------------------------------------|----------|
 * | result                                                        | (B43: count := 0) |
 * | `wait` + a request-content condition (bad-request, …)         | record   |
 * | any other `wait` error; a timeout (D11)                       | retry    |
 * | a condition in `pushRemoveConditions` (not `wait`)            | remove   |
 * | any other error (cancel/auth/modify/continue)                 | count    |
 * @module
 */

/**
 * - `retry`: transient (D19): sent again after the next `pushRetryDelaysMs` delay while the
 *   registration has no newer push; never counted. Given up (recorded) when the delays run out.
 * - `record`: recorded in history only (D13: `wait` never counts), not retried: the same bytes
 *   would get the same answer.
 * - `remove`: the app service says the registration is dead: removed at once (D20).
 * - `count`: counts toward `push_max_errors` (B41), the registration is kept until then.
 */
export type ErrorVerdict = "retry" | "record" | "remove" | "count";

/**
 * `wait` errors that name a fault in the request itself, not in the service's state: resending
 * the same publish cannot help. fpush answers `wait/bad-request` ("Invalid push format…") to
 * publish-options with fields other than `pushModule`.
 */
const REQUEST_FAULTS: ReadonlySet<string> = new Set([
  "bad-request",
  "not-acceptable",
  "feature-not-implemented",
  "jid-malformed",
  "bad-format",
]);

/** D20 default: answers that mean "this registration is gone" (p2: unknown node or dead token; wrong secret). */
export const DEFAULT_REMOVE_CONDITIONS: readonly string[] = Object.freeze(["item-not-found", "forbidden", "not-authorized"]);

/** The verdict for an error reply from the registration's jid. */
export function errorVerdict(policy: { pushRemoveConditions: readonly string[] }, errorType: string, condition: string): ErrorVerdict {
  if (errorType === "wait") return REQUEST_FAULTS.has(condition) ? "record" : "retry";
  return policy.pushRemoveConditions.includes(condition) ? "remove" : "count";
}

/** D19: a publish that got no answer in time (our deadline or the bridge's) is retried like a `wait` error. */
export const TIMEOUT_VERDICT: ErrorVerdict = "retry";
