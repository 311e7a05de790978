/**
 * How a node (often a device token of the app service) is shown to people: shortened to its
 * first 6 and last 4 characters, so two devices can be told apart without showing the token.
 * Nodes of 10 characters or fewer are shown as they are (they are ids, not tokens).
 * @module
 */

export function shortNode(node: string | null): string {
  if (node === null || node === "") return "(no node)";
  const chars = [...node];
  return chars.length <= 10 ? node : `${chars.slice(0, 6).join("")}…${chars.slice(-4).join("")}`;
}

/** An identifier `jid<node` as `jid node…`, never the whole node. */
export function shortIdentifier(identifier: string): string {
  const lt = identifier.indexOf("<");
  if (lt < 0) return identifier;
  return `${identifier.slice(0, lt)} ${shortNode(identifier.slice(lt + 1))}`;
}
