/** How long ago, in one unit: "45s", "3m", "2h", "4d" (seconds up to 2 min, minutes up to 2 h, hours up to 2 days). @module */

/** `now - atMs` as "45s", "3m", "2h" or "4d"; a time in the future counts as 0 s. */
export function agoText(atMs: number, now: number): string {
  const s = Math.max(0, Math.round((now - atMs) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
