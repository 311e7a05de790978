/**
 * D16: mod_cloud_notify's two hooks (`cloud_notify/registration` veto, `cloud_notify/push`
 * veto-and-rewrite, B7/B28) as a typed, in-process pipeline: filter → build → send.
 * Extensions are plain objects compiled in; the configuration picks which run. No plug-ins are
 * loaded at run time.
 * @module
 */
import type { CoreConfig, Registration, Summary, Trigger, XmlNode } from "./types.ts";
import { encryptExtension } from "./extensions/encrypt.ts";
import { FILTERS_EXTENSION } from "./extensions/filters.ts";
import { type RandomBytes, seededRandom } from "./extensions/random.ts";

/** A push before it becomes a publish: what every stage sees. */
export interface PushDraft {
  registration: Registration;
  /** The stanza that caused the push; null for a ping (B39). */
  stanza: XmlNode | null;
  trigger: Trigger;
  important: boolean;
  summary: Summary;
  /** Children of `<notification>` after the summary form, added by extensions. */
  payload: XmlNode[];
  /** E1: leave the summary form out (set by the encryption stage). */
  omitSummary?: boolean;
  /** E3.1: the server's word on whether the sender is a subscribed contact (undefined: not known). */
  contact?: boolean;
}

export interface PushExtension {
  name: string;
  /** Account disco features it adds (B2). */
  features: readonly string[];
  /** A reason to veto this push (B28), or null to let it through. */
  filter?(draft: Readonly<PushDraft>, config: CoreConfig): string | null;
  /** Returns the draft, extended or rewritten (B28's mutable payload). */
  build?(draft: PushDraft, config: CoreConfig): PushDraft;
  /**
   * What this extension reads later of a child element of a stanza that waits in a session queue
   * (B30 keeps only a slim copy): a reduced copy of the child, or null for nothing.
   */
  keep?(child: XmlNode, stanza: XmlNode, config: CoreConfig): XmlNode | null;
}

export type PipelineResult = { ok: true; draft: PushDraft } | { ok: false; extension: string; reason: string };

/** Runs every filter, then every build stage, in the order the extensions are listed. */
export function runPipeline(extensions: readonly PushExtension[], draft: PushDraft, config: CoreConfig): PipelineResult {
  for (const ext of extensions) {
    const reason = ext.filter?.(draft, config) ?? null;
    if (reason !== null) return { ok: false, extension: ext.name, reason };
  }
  let built = draft;
  for (const ext of extensions) if (ext.build !== undefined) built = ext.build(built, config);
  return { ok: true, draft: built };
}

export const NS_PUSH_PRIORITY = "tigase:push:priority:0";

/**
 * E2 (Tigase "Priority of notifications", as mod_cloud_notify_priority_tag): an important push
 * carries `<priority xmlns='tigase:push:priority:0'>high</priority>` inside `<notification>`, so
 * the app service can ask APNs/FCM for immediate delivery.
 */
export const PRIORITY_EXTENSION: PushExtension = Object.freeze({
  name: "priority",
  features: Object.freeze([NS_PUSH_PRIORITY]),
  build(draft: PushDraft): PushDraft {
    if (!draft.important) return draft;
    const priority: XmlNode = { name: "priority", attrs: { xmlns: NS_PUSH_PRIORITY }, children: ["high"] };
    return { ...draft, payload: [...draft.payload, priority] };
  },
});

/**
 * The extensions the configuration turns on, in pipeline order: E3 filters, E1 encryption (its
 * IVs from `random`, by default a keystream keyed by `idSeed`), E2 priority.
 */
export function extensionsFor(config: CoreConfig, opts: { idSeed?: string; random?: RandomBytes } = {}): readonly PushExtension[] {
  const list: PushExtension[] = [];
  if (config.pushFilters === true) list.push(FILTERS_EXTENSION);
  if (config.pushEncryption === true) list.push(encryptExtension(opts.random ?? seededRandom(opts.idSeed ?? "")));
  if (config.pushPriority) list.push(PRIORITY_EXTENSION);
  return list;
}
