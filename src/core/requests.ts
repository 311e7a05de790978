/**
 * Client `<enable>`/`<disable>` requests and the store's answers (B3–B16 with D1–D6).
 * D4: the core asks the store first and changes nothing until `store-done` says ok.
 * @module
 */
import { configFor } from "./host-config.ts";
import type { CoreState, PendingOp, UserState } from "./state.ts";
import type { Action, Event, Identifier, Registration, StoreOp } from "./types.ts";
import { evictUsers, nextOpId, touchUser } from "./state.ts";
import { validateEnable } from "./enable.ts";
import { matchDisable, validateDisable } from "./disable.ts";
import { ensureSession, removeRegistration } from "./session-batch.ts";
import { resourceOf } from "./jid.ts";

type EnableEvent = Extract<Event, { type: "enable" }>;
type DisableEvent = Extract<Event, { type: "disable" }>;
type StoreDoneEvent = Extract<Event, { type: "store-done" }>;

/** D3: identifiers to evict so that adding a new one keeps the user within `pushMaxDevices`. */
function evictionsFor(state: CoreState, u: UserState, identifier: Identifier): Identifier[] {
  if (u.regs.has(identifier)) return [];
  const excess = u.regs.size - configFor(state.config, u.user).pushMaxDevices + 1;
  if (excess <= 0) return [];
  const byAge = [...u.regs.values()].sort((a, b) => a.reg.updatedAt - b.reg.updatedAt);
  return byAge.slice(0, excess).map((e) => e.reg.identifier);
}

function request(state: CoreState, u: UserState, op: PendingOp, ops: StoreOp[], actions: Action[]): void {
  const opId = nextOpId(state);
  state.ops.set(opId, op);
  u.pendingOps++;
  actions.push({ type: "store", opId, ops });
}

export function handleEnable(state: CoreState, event: EnableEvent, actions: Action[]): void {
  const { req } = event;
  const u = touchUser(state, req.session.user);
  const checked = validateEnable(event.element, { user: u.user, fullJid: req.session.fullJid, config: state.config });
  if (!checked.ok) {
    actions.push({ type: "reply", requestId: req.requestId, error: checked.error });
    return;
  }
  const { value } = checked;
  const existing = u.regs.get(value.identifier)?.reg;
  const clientId = req.session.clientId ?? null;
  const registration: Registration = {
    user: u.user,
    identifier: value.identifier,
    jid: value.jid,
    node: value.node,
    includePayload: value.includePayload,
    publishOptions: value.publishOptions,
    clientId,
    resource: clientId === null ? resourceOf(req.session.fullJid) : null,
    language: req.lang,
    createdAt: existing?.createdAt ?? event.now,
    updatedAt: event.now,
    errorCount: 0, // D5
    lastError: null,
    lastErrorAt: null,
    ...(value.encryption === null ? {} : { encryption: value.encryption }), // E1
    ...(value.filters === null ? {} : { filters: value.filters }), // E3
  };
  const evicted = evictionsFor(state, u, value.identifier);
  const ops: StoreOp[] = [{ op: "upsert", registration }];
  if (evicted.length > 0) ops.push({ op: "delete", user: u.user, identifiers: evicted });
  request(state, u, { kind: "enable", user: u.user, requestId: req.requestId, session: req.session, registration, evicted }, ops, actions);
}

export function handleDisable(state: CoreState, event: DisableEvent, actions: Action[]): void {
  const { req } = event;
  const u = touchUser(state, req.session.user);
  const checked = validateDisable(event.element);
  if (!checked.ok) {
    actions.push({ type: "reply", requestId: req.requestId, error: checked.error });
    return;
  }
  const identifiers = matchDisable(u.regs, checked.value);
  if (identifiers.length === 0) {
    // B16: result even when nothing matched; no store op needed.
    actions.push({ type: "reply", requestId: req.requestId, bound: u.sessions.get(req.session.sessionId)?.bound ?? null });
    return;
  }
  const ops: StoreOp[] = [{ op: "delete", user: u.user, identifiers }];
  request(state, u, { kind: "disable", user: u.user, requestId: req.requestId, session: req.session, identifiers }, ops, actions);
}

function applyEnable(_state: CoreState, u: UserState, op: Extract<PendingOp, { kind: "enable" }>, now: number, actions: Action[]): void {
  const { registration } = op;
  for (const identifier of op.evicted) removeRegistration(u, identifier, { reason: "evicted", now }, actions); // D3
  const previous = u.regs.get(registration.identifier);
  if (previous !== undefined) {
    previous.reg = registration; // B11: same registration, new fields; outstanding ids stay valid
    previous.count = 0;
  } else u.regs.set(registration.identifier, { reg: registration, count: 0, seen: null });
  const session = ensureSession(u, op.session);
  session.bound = registration.identifier; // B10, B12
  session.firstHibernatedPush = null;
  actions.push(
    { type: "reply", requestId: op.requestId, bound: registration.identifier },
    { type: "metric", name: "registrations_enabled_total" },
  );
}

function applyDisable(u: UserState, op: Extract<PendingOp, { kind: "disable" }>, now: number, actions: Action[]): void {
  for (const identifier of op.identifiers) removeRegistration(u, identifier, { reason: "disabled", now }, actions); // B15, D6
  actions.push({ type: "reply", requestId: op.requestId, bound: u.sessions.get(op.session.sessionId)?.bound ?? null });
}

export function handleStoreDone(state: CoreState, event: StoreDoneEvent, actions: Action[]): void {
  const op = state.ops.get(event.opId);
  if (op === undefined) return;
  state.ops.delete(event.opId);
  const u = state.users.get(op.user);
  if (u === undefined) return;
  u.pendingOps = Math.max(0, u.pendingOps - 1);
  if (!event.ok) {
    // D4: nothing changes, in memory or on disk.
    actions.push(
      { type: "reply", requestId: op.requestId, error: { type: "wait", condition: "internal-server-error" } },
      {
        type: "log",
        level: "warn",
        msg: `Cannot ${op.kind} push registration: store failed`,
        fields: { user: op.user, error: event.error ?? null },
      },
    );
    evictUsers(state);
    return;
  }
  if (op.kind === "enable") applyEnable(state, u, op, event.now, actions);
  else applyDisable(u, op, event.now, actions);
}
