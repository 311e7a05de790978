/**
 * Prosody's mod_cloud_notify file storage → our `Registration`s (pure).
 *
 * Layout (Prosody 0.12 util/datamanager.lua, storage "internal"): the keyval store
 * `cloud_notify` of user U on host H is `<data_path>/<encode H>/cloud_notify/<encode U>.dat`,
 * where `encode` percent-encodes every byte outside [A-Za-z0-9] as `%xx` (lower-case hex).
 * The value maps identifier → push_info (mod_cloud_notify.lua `push_enable`):
 * `jid`, `node`, `include_payload`, `options` (st.preserialize of the x-data form: a table
 * `{ name = "x", attr = {…}, <children…> }`), `timestamp` (unix seconds), `client_id`,
 * `resource`, `language`; with prosody-modules' extensions also `encryption = { algorithm,
 * key_base64 }` (mod_cloud_notify_encrypted) and `filter_unknown`, `muted_jids = { [jid] = true }`,
 * `groupchat_rules = { [room] = { when, nick } }` (mod_cloud_notify_filters), imported as E1/E3.
 * @module
 */
import { identifierOf, NS_DATA_FORMS } from "../core/enable.ts";
import { nodeTooLong, publishOptionsTooLarge, pushJidProblem } from "../core/push-target.ts";
import type { CoreConfig, PushEncryption, PushFilters, Registration, XmlNode } from "../core/types.ts";
import { parseEncrypt } from "../core/extensions/encrypt.ts";
import { bareOf } from "../core/extensions/payload.ts";
import { MAX_FILTER_ITEMS } from "../core/extensions/filters.ts";
import { serialize } from "../core/xml.ts";
import { joinUser } from "../store/user-key.ts";
import type { LuaTable, LuaValue } from "./lua-table.ts";
import { field, isTable, sequenceOf } from "./lua-table.ts";

/** The fields of a push_info we understand; others (extensions) are reported as ignored. */
const KNOWN_FIELDS = new Set([
  "jid",
  "node",
  "include_payload",
  "options",
  "timestamp",
  "client_id",
  "resource",
  "language",
  "encryption",
  "filter_unknown",
  "muted_jids",
  "groupchat_rules",
]);
const XML_NS = "http://www.w3.org/XML/1998/namespace";
/** Deepest element nesting accepted in publish options (an x-data form is 3 levels). */
const MAX_ELEMENT_DEPTH = 16;

/** One stored registration that could not be converted, with why. */
export interface InvalidEntry {
  identifier: string;
  error: string;
}

export interface ConvertedUser {
  registrations: Registration[];
  invalid: InvalidEntry[];
  /** Fields present but not imported (extensions of other modules), sorted. */
  ignoredFields: string[];
  /** Entries whose stored key differs from `jid<node` (imported under the computed identifier). */
  renamed: Array<{ stored: string; identifier: string }>;
}

export type ConvertResult = { ok: true; value: ConvertedUser } | { ok: false; error: string };

/** Prosody's datamanager `encode` (for host and user names): `%xx` for every byte outside [A-Za-z0-9]. */
export function encodeStoreName(name: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(name)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9]/.test(c) ? c : `%${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** Prosody's datamanager `decode`; null when the result is not valid UTF-8. */
export function decodeStoreName(encoded: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const hex = encoded.slice(i + 1, i + 3);
    if (encoded[i] === "%" && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...new TextEncoder().encode(encoded[i]));
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

/**
 * Converts one user's stored `cloud_notify` value. `user` is the local part (the file's name);
 * the registrations carry the bare JID `user@host` (issue 13). Bad entries are returned in
 * `invalid`; only a value that is not a table of entries fails as a whole.
 */
export function convertUserStore(
  user: string,
  value: LuaValue,
  ctx: { host: string; config: Pick<CoreConfig, "maxNodeLength" | "maxPublishOptionsBytes">; now: number },
): ConvertResult {
  if (!isTable(value)) return { ok: false, error: `Cannot convert ${user}: the stored value is not a table` };
  const out: ConvertedUser = { registrations: [], invalid: [], ignoredFields: [], renamed: [] };
  const ignored = new Set<string>();
  for (const [key, entry] of value.fields) {
    const stored = String(key);
    if (typeof key !== "string") {
      out.invalid.push({ identifier: stored, error: "the identifier is not a string" });
      continue;
    }
    if (!isTable(entry)) {
      out.invalid.push({ identifier: stored, error: "the entry is not a table" });
      continue;
    }
    for (const k of entry.fields.keys()) if (typeof k !== "string" || !KNOWN_FIELDS.has(k)) ignored.add(String(k));
    const converted = convertEntry(user, entry, ctx);
    if (!converted.ok) {
      out.invalid.push({ identifier: stored, error: converted.error });
      continue;
    }
    if (converted.value.identifier !== stored) out.renamed.push({ stored, identifier: converted.value.identifier });
    out.registrations.push(converted.value);
  }
  out.ignoredFields = [...ignored].sort();
  return { ok: true, value: out };
}

type Converted<T> = { ok: true; value: T } | { ok: false; error: string };

function convertEntry(
  user: string,
  entry: LuaTable,
  ctx: { host: string; config: Pick<CoreConfig, "maxNodeLength" | "maxPublishOptionsBytes">; now: number },
): Converted<Registration> {
  const jid = field(entry, "jid");
  if (typeof jid !== "string" || jid === "") return { ok: false, error: "jid is missing or not a string" };
  const problem = pushJidProblem(jid, { user, host: ctx.host });
  if (problem === "malformed") return { ok: false, error: `jid ${JSON.stringify(jid)} is not a valid JID (D1)` };
  if (problem === "own") return { ok: false, error: `jid ${jid} is the user's own account or server (D1)` };
  const rawNode = field(entry, "node");
  if (rawNode !== undefined && typeof rawNode !== "string") return { ok: false, error: "node is not a string" };
  const node = rawNode === undefined || rawNode === "" ? null : rawNode;
  if (node !== null && nodeTooLong(node, ctx.config)) {
    return { ok: false, error: `node is longer than ${ctx.config.maxNodeLength} characters (D2)` };
  }
  const options = field(entry, "options");
  let publishOptions: string | null = null;
  if (options !== undefined) {
    const element = elementOf(options, undefined, 1);
    if (!element.ok) return { ok: false, error: `options: ${element.error}` };
    if (element.value.name !== "x" || element.value.attrs.xmlns !== NS_DATA_FORMS) {
      return { ok: false, error: "options is not a jabber:x:data form" };
    }
    publishOptions = serialize(element.value);
    if (publishOptionsTooLarge(publishOptions, ctx.config)) {
      return { ok: false, error: `options are larger than ${ctx.config.maxPublishOptionsBytes} bytes (D2)` };
    }
  }
  const timestamp = field(entry, "timestamp");
  if (timestamp !== undefined && (typeof timestamp !== "number" || !Number.isFinite(timestamp) || timestamp < 0)) {
    return { ok: false, error: "timestamp is not a number of seconds" };
  }
  const at = timestamp === undefined ? ctx.now : Math.round(timestamp * 1000);
  const flag = field(entry, "include_payload");
  const texts: Record<"client_id" | "resource" | "language", string | null> = { client_id: null, resource: null, language: null };
  for (const name of ["client_id", "resource", "language"] as const) {
    const v = field(entry, name);
    if (v === undefined) continue;
    if (typeof v !== "string") return { ok: false, error: `${name} is not a string` };
    texts[name] = v;
  }
  const encryption = encryptionOf(field(entry, "encryption"));
  if (!encryption.ok) return encryption;
  const filters = filtersOf(entry);
  return {
    ok: true,
    value: {
      ...(encryption.value === null ? {} : { encryption: encryption.value }),
      ...(filters === null ? {} : { filters }),
      user: joinUser(user, ctx.host),
      identifier: identifierOf(jid, node),
      jid,
      node,
      includePayload: flag === true || flag === "true" || flag === "1",
      publishOptions,
      clientId: texts.client_id,
      resource: texts.resource,
      language: texts.language,
      createdAt: at,
      updatedAt: at,
      errorCount: 0,
      lastError: null,
      lastErrorAt: null,
    },
  };
}

/** mod_cloud_notify_encrypted's `encryption = { algorithm, key_base64 }`, checked as an `<encrypt>` would be. */
function encryptionOf(value: LuaValue | undefined): Converted<PushEncryption | null> {
  if (value === undefined) return { ok: true, value: null };
  if (!isTable(value)) return { ok: false, error: "encryption is not a table" };
  const algorithm = field(value, "algorithm");
  const key = field(value, "key_base64");
  if (typeof algorithm !== "string" || typeof key !== "string") return { ok: false, error: "encryption has no algorithm or key_base64" };
  const parsed = parseEncrypt({
    name: "enable",
    attrs: {},
    children: [{ name: "encrypt", attrs: { xmlns: "tigase:push:encrypt:0", alg: algorithm }, children: [key] }],
  });
  if (!parsed.ok) return { ok: false, error: `encryption: ${parsed.error.text ?? parsed.error.condition}` };
  return { ok: true, value: parsed.value };
}

/** mod_cloud_notify_filters' fields; JIDs that do not parse are skipped (as that module does), null when there are none. */
function filtersOf(entry: LuaTable): PushFilters | null {
  const unknown = field(entry, "filter_unknown");
  const mutedTable = field(entry, "muted_jids");
  const rulesTable = field(entry, "groupchat_rules");
  if (unknown === undefined && mutedTable === undefined && rulesTable === undefined) return null;
  const muted: string[] = [];
  if (mutedTable !== undefined && isTable(mutedTable)) {
    for (const [k, v] of mutedTable.fields) {
      const jid = typeof k === "string" && v === true ? bareOf(k) : null;
      if (jid !== null && !muted.includes(jid) && muted.length < MAX_FILTER_ITEMS) muted.push(jid);
    }
  }
  const groupchat: PushFilters["groupchat"] = [];
  if (rulesTable !== undefined && isTable(rulesTable)) {
    for (const [k, v] of rulesTable.fields) {
      const room = typeof k === "string" ? bareOf(k) : null;
      if (room === null || !isTable(v) || groupchat.length >= MAX_FILTER_ITEMS) continue;
      const allow = field(v, "when");
      const nick = field(v, "nick");
      if (allow !== "always" && allow !== "mentioned" && allow !== "never") continue;
      groupchat.push({ room, allow, nick: typeof nick === "string" && nick !== "" ? nick : null });
    }
  }
  return { ignoreUnknown: unknown === true, muted: muted.sort(), groupchat: groupchat.sort((a, b) => (a.room < b.room ? -1 : 1)) };
}

/**
 * A preserialized stanza (util/stanza.lua `preserialize`: `{ name, attr, <children> }`) → XmlNode,
 * written the way Prosody's own `tostring` writes it: `xmlns` only where it differs from the
 * parent's, and namespaced attributes (`"<ns>\1<name>"`) with an `xmlns:nsN` declaration.
 */
function elementOf(value: LuaValue, parentNs: string | undefined, depth: number): Converted<XmlNode> {
  if (depth > MAX_ELEMENT_DEPTH) return { ok: false, error: `elements nested deeper than ${MAX_ELEMENT_DEPTH}` };
  if (!isTable(value)) return { ok: false, error: "an element is not a table" };
  const name = field(value, "name");
  if (typeof name !== "string" || !/^[A-Za-z_][\w.-]*(:[A-Za-z_][\w.-]*)?$/.test(name)) {
    return { ok: false, error: "an element has no valid name" };
  }
  const rawAttrs = field(value, "attr") ?? { kind: "table", fields: new Map() };
  if (!isTable(rawAttrs)) return { ok: false, error: `<${name}> attr is not a table` };
  const attrs: Record<string, string> = {};
  let nsId = 0;
  let ownNs: string | undefined = parentNs;
  for (const [key, v] of rawAttrs.fields) {
    if (typeof key !== "string" || typeof v !== "string") return { ok: false, error: `<${name}> has a non-string attribute` };
    const sep = key.indexOf("\u0001");
    if (sep !== -1) {
      const ns = key.slice(0, sep);
      const local = key.slice(sep + 1);
      if (!validAttrName(local)) return { ok: false, error: `<${name}> has an invalid attribute name` };
      if (ns === XML_NS) {
        attrs[`xml:${local}`] = v;
      } else {
        nsId++;
        attrs[`xmlns:ns${nsId}`] = ns;
        attrs[`ns${nsId}:${local}`] = v;
      }
      continue;
    }
    if (!validAttrName(key)) return { ok: false, error: `<${name}> has an invalid attribute name` };
    if (key === "xmlns") {
      ownNs = v;
      if (v === parentNs) continue;
    }
    attrs[key] = v;
  }
  const children: Array<XmlNode | string> = [];
  for (const child of sequenceOf(value)) {
    if (typeof child === "string") {
      children.push(child);
      continue;
    }
    const element = elementOf(child, ownNs, depth + 1);
    if (!element.ok) return element;
    children.push(element.value);
  }
  // The outermost element always carries its namespace.
  if (depth === 1 && ownNs !== undefined) attrs.xmlns = ownNs;
  return { ok: true, value: { name, attrs: depth === 1 ? withXmlnsFirst(attrs) : attrs, children } };
}

function validAttrName(name: string): boolean {
  return /^[A-Za-z_][\w.-]*(:[A-Za-z_][\w.-]*)?$/.test(name);
}

function withXmlnsFirst(attrs: Record<string, string>): Record<string, string> {
  const { xmlns, ...rest } = attrs;
  return xmlns === undefined ? rest : { xmlns, ...rest };
}
