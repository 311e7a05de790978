/**
 * Upgrade of a single-host store (issue 13). Migration 0004 gave registrations, push_history and
 * removals a `host` column, '' in every row written before it; SQL alone cannot know the host, so
 * at open the store assigns those rows, and the old `user-disabled:<local>` marks, to the FIRST
 * configured host, in one transaction. On an upgraded store this costs one index probe per table
 * (every `host` index has `host` leftmost) and finds nothing.
 * @module
 */
import { eq } from "drizzle-orm";
import type { AnyDb, WriteQuery } from "./registrations.ts";
import { pushHistory, registrations, removals } from "./schema.ts";
import { hostlessFlagWrites } from "./user-flags.ts";

export interface HostAssignment {
  registrations: number;
  history: number;
  removals: number;
  disabled: number;
}

/** Assigns every host-less row and disabled mark to `host`; returns how many of each. */
export async function assignHostless(db: AnyDb, write: (writes: WriteQuery[]) => Promise<number[]>, host: string): Promise<HostAssignment> {
  const [regs = 0, history = 0, rem = 0, , disabled = 0] = await write([
    db.update(registrations).set({ host }).where(eq(registrations.host, "")),
    db.update(pushHistory).set({ host }).where(eq(pushHistory.host, "")),
    db.update(removals).set({ host }).where(eq(removals.host, "")),
    ...hostlessFlagWrites(db, host),
  ]);
  return { registrations: regs, history, removals: rem, disabled };
}
