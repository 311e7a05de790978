/**
 * Which user an event belongs to, so the shell can load that user's registrations first.
 * Publish outcomes and time events carry no user: the core finds it from its own records.
 * @module
 */
import type { Event } from "../core/types.ts";

export function userOf(event: Event): string | null {
  switch (event.type) {
    case "enable":
    case "disable":
      return event.req.session.user;
    case "session-started":
      return event.session.user;
    case "offline":
    case "offline-pending":
    case "archived":
    case "groupchat-bare":
    case "session-ended":
    case "hibernation-started":
    case "stanza-queued":
    case "ack-delayed":
    case "hibernation-ended":
    case "user-deleted":
    case "ping":
    case "admin-delete":
      return event.user;
    default:
      return null;
  }
}
