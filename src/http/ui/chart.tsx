/**
 * The last hour's pushes by outcome as a small stacked bar chart: inline SVG rendered on the
 * server (12 bars of 5 minutes), plus the totals as text so it reads without the picture.
 * @module
 */
import type { PushTimeline } from "../deps.ts";

/** Outcome groups, in stacking order (bottom first), with their colour. */
export const GROUPS = [
  { name: "ok", color: "#2e7d32", outcomes: ["ok"] },
  { name: "error", color: "#c62828", outcomes: ["error", "retry-scheduled", "superseded"] },
  { name: "timeout", color: "#ef6c00", outcomes: ["timeout"] },
  { name: "other", color: "#757575", outcomes: ["vetoed", "retried"] },
] as const;

/** Swatch colours for the legend (CSS, no inline style attributes: the page's CSP forbids them). */
export const CHART_CSS = GROUPS.map((g) => `.sw-${g.name}{background:${g.color}}`).join("");

const BARS = 12;
const W = 480;
const H = 120;
const PAD = 18;

function groupOf(outcome: string): string {
  return GROUPS.find((g) => (g.outcomes as readonly string[]).includes(outcome))?.name ?? "other";
}

/** Sums the timeline into `BARS` bars of grouped counts. */
export function barsOf(t: PushTimeline): Array<{ at: number; counts: Record<string, number>; total: number }> {
  const per = Math.max(1, Math.ceil(t.buckets.length / BARS));
  const bars: Array<{ at: number; counts: Record<string, number>; total: number }> = [];
  for (let i = 0; i < t.buckets.length; i += per) {
    const slice = t.buckets.slice(i, i + per);
    const counts: Record<string, number> = {};
    let total = 0;
    for (const b of slice) {
      for (const [outcome, n] of Object.entries(b.counts)) {
        const g = groupOf(outcome);
        counts[g] = (counts[g] ?? 0) + n;
        total += n;
      }
    }
    bars.push({ at: slice[0]?.at ?? 0, counts, total });
  }
  return bars;
}

function hhmm(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

export function PushChart(props: { timeline: PushTimeline }) {
  const bars = barsOf(props.timeline);
  const max = Math.max(1, ...bars.map((b) => b.total));
  const slot = (W - PAD) / Math.max(1, bars.length);
  const totals: Record<string, number> = {};
  for (const b of bars) for (const [g, n] of Object.entries(b.counts)) totals[g] = (totals[g] ?? 0) + n;
  return (
    <figure class="chart">
      <svg width={W} height={H + PAD} viewBox={`0 0 ${W} ${H + PAD}`} role="img" aria-label="Pushes in the last hour by outcome">
        <line x1={PAD} y1={H} x2={W} y2={H} stroke="#999" />
        <text x={0} y={10} font-size="10">
          {max}
        </text>
        <text x={0} y={H} font-size="10">
          0
        </text>
        {bars.map((b, i) => {
          let y = H;
          const x = PAD + i * slot + 2;
          return (
            <g>
              {GROUPS.map((g) => {
                const n = b.counts[g.name] ?? 0;
                if (n === 0) return null;
                const h = (n / max) * (H - 4);
                y -= h;
                return (
                  <rect x={x} y={y} width={slot - 4} height={h} fill={g.color} data-outcome={g.name}>
                    <title>{`${hhmm(b.at)}: ${n} ${g.name}`}</title>
                  </rect>
                );
              })}
              {i % 3 === 0 ? (
                <text x={x} y={H + 13} font-size="10">
                  {hhmm(b.at)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>
        Last hour (UTC, 5-minute bars):{" "}
        {GROUPS.map((g) => (
          <span class="legend" data-outcome={g.name}>
            <span class={`swatch sw-${g.name}`}></span>
            {g.name} {totals[g.name] ?? 0}{" "}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
