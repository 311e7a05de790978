/**
 * A tiny Prometheus registry (text exposition format 0.0.4), no package.
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 *
 * Policy for dynamic input (the core emits `metric` actions by name, so nothing here throws):
 * - An unknown name passed to `inc()` defines a counter on the fly. Names are sanitised, not
 *   rejected: every character outside `[a-zA-Z0-9_:]` becomes `_`, and a leading digit (or an
 *   empty name) gets a `_` prefix. Label names likewise (`[a-zA-Z0-9_]`, and a leading `__`,
 *   reserved by Prometheus, becomes `x__`). Labels named `le` or `quantile` are dropped (they
 *   belong to histogram/summary series).
 * - An operation that does not fit the metric is dropped and the call returns `false`:
 *   `set()` on a counter or histogram, `observe()` on a counter or gauge, `inc()` on a
 *   histogram, a negative or non-finite counter increment, a non-finite gauge value, an
 *   unknown name passed to `set()`/`observe()`, or a new label set beyond
 *   `maxSeriesPerMetric` (cardinality guard).
 * @module
 */
import type { CoreMetric } from "./core/types.ts";

export type MetricKind = "counter" | "gauge" | "histogram";
export type Labels = Record<string, string>;

export interface MetricSpec {
  name: string;
  help: string;
  kind: MetricKind;
  /** Documented label names, written first and in this order. A metric without labels is
   *  shown at zero before its first update; one with labels only once a series exists. */
  labelNames?: readonly string[];
  /** Upper bounds, ascending; `+Inf` is added by the registry. Histograms only. */
  buckets?: readonly number[];
}

export interface Metrics {
  /** Defines a metric (idempotent for the same name; the first definition wins). */
  define(spec: MetricSpec): void;
  /** Adds `value` (default 1) to a counter or gauge. */
  inc(name: string, labels?: Labels, value?: number): boolean;
  /** Sets a gauge. */
  set(name: string, value: number): boolean;
  set(name: string, labels: Labels | undefined, value: number): boolean;
  /** Records one observation in a histogram. */
  observe(name: string, value: number): boolean;
  observe(name: string, labels: Labels | undefined, value: number): boolean;
  /** Current value of a counter/gauge series, or a histogram's count; undefined if none. */
  get(name: string, labels?: Labels): number | undefined;
  /** The whole registry in text exposition format 0.0.4 (ends with a newline). */
  render(): string;
}

export interface MetricsOptions {
  /** Label sets kept per metric; further new ones are dropped. Default 1000. */
  maxSeriesPerMetric?: number;
}

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The metric each of the core's counters (`metric` actions) is exposed as: the single mapping.
 * Pushes and removals are counted by the core only, under the product's names; the core's other
 * counters are `cloud_notifyd_core_*`, defined as counters on first use.
 */
export const CORE_METRICS = {
  pushes_total: "cloud_notifyd_pushes_total",
  publish_errors_total: "cloud_notifyd_publish_errors_total",
  publish_latency_seconds: "cloud_notifyd_publish_latency_seconds",
  registrations_removed_total: "cloud_notifyd_removals_total",
  registrations_enabled_total: "cloud_notifyd_core_registrations_enabled_total",
  publish_replies_total: "cloud_notifyd_core_publish_replies_total",
  publish_timeouts_total: "cloud_notifyd_core_publish_timeouts_total",
  publish_retries_total: "cloud_notifyd_core_publish_retries_total",
  pushes_deduplicated_total: "cloud_notifyd_core_pushes_deduplicated_total",
  pushes_vetoed_total: "cloud_notifyd_core_pushes_vetoed_total",
  pushes_suppressed_total: "cloud_notifyd_core_pushes_suppressed_total",
  session_queue_dropped_total: "cloud_notifyd_core_session_queue_dropped_total",
  recovered_skipped_total: "cloud_notifyd_core_recovered_skipped_total",
  accounts_disabled_total: "cloud_notifyd_core_accounts_disabled_total",
} as const satisfies Record<CoreMetric, string>;

/** The core's counters that are histograms: the action's `value` is an observation. */
export const CORE_HISTOGRAMS: ReadonlySet<CoreMetric> = new Set<CoreMetric>(["publish_latency_seconds"]);

/** The metrics the shell counts itself (stream, bridge, store, process), beyond PRODUCT_METRICS. */
type ShellOnlyMetric = "cloud_notifyd_invalid_stanzas_total" | "cloud_notifyd_bridge_duplicate_events_total";

/** Every metric the daemon exposes: a closed set. */
export type MetricName = (typeof PRODUCT_METRICS)[number]["name"] | (typeof CORE_METRICS)[CoreMetric] | ShellOnlyMetric;

/** The product's metrics, defined by `createMetrics()`. */
export const PRODUCT_METRICS = [
  {
    name: "cloud_notifyd_pushes_total",
    kind: "counter",
    labelNames: ["trigger", "outcome"],
    help: "Push notifications published to app push services, by trigger path and outcome.",
  },
  {
    name: "cloud_notifyd_publish_errors_total",
    kind: "counter",
    labelNames: ["type", "condition"],
    help: "Error replies from app push services, by XMPP error type and condition.",
  },
  {
    name: "cloud_notifyd_publish_latency_seconds",
    kind: "histogram",
    help: "Time from sending a publish to the app push service's reply.",
    buckets: LATENCY_BUCKETS,
  },
  { name: "cloud_notifyd_registrations", kind: "gauge", help: "Push registrations currently stored." },
  {
    name: "cloud_notifyd_events_total",
    kind: "counter",
    labelNames: ["type"],
    help: "Bridge events received, by type.",
  },
  {
    name: "cloud_notifyd_bridge_dropped_events",
    kind: "gauge",
    labelNames: ["host"],
    help: "Events the Prosody bridge reports it dropped while the component was disconnected.",
  },
  {
    name: "cloud_notifyd_bridge_quarantined_events",
    kind: "gauge",
    labelNames: ["host"],
    help: "Events the Prosody bridge put aside because the daemon never acknowledged them (D22).",
  },
  {
    name: "cloud_notifyd_bridge_refused_events_total",
    kind: "counter",
    help: "Bridge events the daemon could not use: acknowledged, logged and dropped (D22).",
  },
  {
    name: "cloud_notifyd_bridge_acks_total",
    kind: "counter",
    labelNames: ["how"],
    help: "Acknowledgements sent to the bridges: carried in a publish command (how=carried) or in a stanza of their own (how=own) (D23).",
  },
  {
    name: "cloud_notifyd_bridge_resyncs_total",
    kind: "counter",
    help: "Hellos sent again because the bridge's event sequence had a gap, a jump or an unknown epoch (D22).",
  },
  {
    name: "cloud_notifyd_component_connected",
    kind: "gauge",
    help: "1 while the XEP-0114 component connection is established, else 0.",
  },
  {
    name: "cloud_notifyd_store_errors_total",
    kind: "counter",
    labelNames: ["op"],
    help: "Failed store operations, by operation.",
  },
  {
    name: "cloud_notifyd_history_pruned_total",
    kind: "counter",
    help: "Push history rows deleted for being older than history_retention_days.",
  },
  {
    name: "cloud_notifyd_history_rows_lost_total",
    kind: "counter",
    labelNames: ["table"],
    help: "History or removal rows never written: the store refused them for too long (e.g. a full disk) or for good.",
  },
  {
    name: "cloud_notifyd_removals_pruned_total",
    kind: "counter",
    help: "Removal records deleted: older than history_retention_days, or beyond the newest 100 per user.",
  },
  {
    name: "cloud_notifyd_removals_total",
    kind: "counter",
    labelNames: ["reason"],
    help: "Registrations removed, by reason.",
  },
  {
    name: "cloud_notifyd_client_requests_total",
    kind: "counter",
    labelNames: ["kind", "outcome"],
    help: "enable/disable requests from clients, by kind and outcome.",
  },
  { name: "process_resident_memory_bytes", kind: "gauge", help: "Resident memory of the daemon process." },
  { name: "cloud_notifyd_heap_used_bytes", kind: "gauge", help: "JavaScript heap in use." },
  { name: "cloud_notifyd_event_backlog", kind: "gauge", help: "Events received and not yet handled." },
  { name: "cloud_notifyd_pending_publishes", kind: "gauge", help: "Publishes waiting for the app service's answer." },
  { name: "cloud_notifyd_cached_users", kind: "gauge", help: "Users whose registrations the core keeps in memory." },
] as const satisfies readonly MetricSpec[];

interface Series {
  labels: Labels;
  value: number;
  /** histograms: non-cumulative count per bucket (same order as the bounds) */
  counts: number[];
  sum: number;
}

interface Family {
  spec: MetricSpec;
  bounds: number[];
  series: Map<string, Series>;
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = createRegistry(opts);
  for (const spec of PRODUCT_METRICS) registry.define(spec);
  return registry;
}

/** An empty registry (createMetrics() is this plus PRODUCT_METRICS). */
export function createRegistry({ maxSeriesPerMetric = 1000 }: MetricsOptions = {}): Metrics {
  const families = new Map<string, Family>();

  function define(spec: MetricSpec): void {
    const name = sanitizeMetricName(spec.name);
    if (families.has(name)) return;
    const bounds = spec.kind === "histogram" ? normaliseBuckets(spec.buckets ?? LATENCY_BUCKETS) : [];
    families.set(name, { spec: { ...spec, name }, bounds, series: new Map() });
  }

  function seriesOf(family: Family, labels: Labels | undefined): Series | undefined {
    const clean = orderLabels(sanitizeLabels(labels), family.spec.labelNames ?? []);
    const key = labelKey(clean);
    const found = family.series.get(key);
    if (found !== undefined) return found;
    if (family.series.size >= maxSeriesPerMetric) return undefined;
    const created: Series = { labels: clean, value: 0, counts: family.bounds.map(() => 0), sum: 0 };
    family.series.set(key, created);
    return created;
  }

  // Hot path: the same (name, labels) pair is updated over and over; remember where its series
  // lives under the caller's raw spelling so sanitising and sorting labels happens once. The
  // cache is a tree walked by name, then each label's name and value in the caller's order:
  // lookups of strings the caller already has, with no key string built per call.
  interface CacheNode {
    found?: { family: Family; series: Series };
    next?: Map<string, CacheNode>;
  }
  const resolved = new Map<string, CacheNode>();
  const MAX_RESOLVED = 10_000;
  let resolvedNodes = 0;

  function cacheNode(name: string, labels: Labels | undefined, create: boolean): CacheNode | undefined {
    let node = resolved.get(name);
    if (node === undefined) {
      if (!create || resolvedNodes >= MAX_RESOLVED) return undefined;
      node = {};
      resolved.set(name, node);
      resolvedNodes++;
    }
    if (labels !== undefined) {
      for (const k in labels) {
        node = childNode(node, k, create);
        if (node === undefined) return undefined;
        node = childNode(node, labels[k] as string, create);
        if (node === undefined) return undefined;
      }
    }
    return node;
  }

  function childNode(node: CacheNode, key: string, create: boolean): CacheNode | undefined {
    let child = node.next?.get(key);
    if (child === undefined) {
      if (!create || resolvedNodes >= MAX_RESOLVED) return undefined;
      child = {};
      (node.next ??= new Map()).set(key, child);
      resolvedNodes++;
    }
    return child;
  }

  /** The series for (name, labels) if the family exists and `accepts` it; never creates one otherwise. */
  function resolve(
    name: string,
    labels: Labels | undefined,
    accepts: (family: Family) => boolean,
    defineCounter = false,
  ): { family: Family; series: Series } | undefined {
    const hit = cacheNode(name, labels, false)?.found;
    if (hit !== undefined) return accepts(hit.family) ? hit : undefined;
    const clean = sanitizeMetricName(name);
    if (defineCounter && !families.has(clean)) define({ name: clean, kind: "counter", help: `Counter ${clean}.` });
    const family = families.get(clean);
    if (family === undefined || !accepts(family)) return undefined;
    const series = seriesOf(family, labels);
    if (series === undefined) return undefined;
    const found = { family, series };
    const node = cacheNode(name, labels, true);
    if (node !== undefined) node.found = found;
    return found;
  }

  function inc(name: string, labels?: Labels, value = 1): boolean {
    if (!Number.isFinite(value)) return false;
    const accepts = (f: Family) => f.spec.kind === "gauge" || (f.spec.kind === "counter" && value >= 0);
    const found = resolve(name, labels, accepts, true);
    if (found === undefined) return false;
    found.series.value += value;
    return true;
  }

  function set(name: string, a: Labels | undefined | number, b?: number): boolean {
    const [labels, value] = typeof a === "number" ? [undefined, a] : [a, b];
    if (value === undefined || !Number.isFinite(value)) return false;
    const found = resolve(name, labels, (f) => f.spec.kind === "gauge");
    if (found === undefined) return false;
    found.series.value = value;
    return true;
  }

  function observe(name: string, a: Labels | undefined | number, b?: number): boolean {
    const [labels, value] = typeof a === "number" ? [undefined, a] : [a, b];
    if (value === undefined || Number.isNaN(value)) return false;
    const found = resolve(name, labels, (f) => f.spec.kind === "histogram");
    if (found === undefined) return false;
    const { family, series } = found;
    let index = 0; // the first bucket whose bound holds the value (a loop: this runs for every push)
    while (index < family.bounds.length && !(value <= (family.bounds[index] as number))) index++;
    if (index === family.bounds.length) index = -1;
    if (index >= 0) series.counts[index] = (series.counts[index] ?? 0) + 1;
    series.value += 1;
    series.sum += value;
    return true;
  }

  function get(name: string, labels?: Labels): number | undefined {
    const family = families.get(sanitizeMetricName(name));
    return family?.series.get(labelKey(sanitizeLabels(labels)))?.value;
  }

  function render(): string {
    const lines: string[] = [];
    for (const family of families.values()) renderFamily(family, lines);
    return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
  }

  return { define, inc, set, observe, get, render } as Metrics;
}

function renderFamily(family: Family, lines: string[]): void {
  const { name, help, kind } = family.spec;
  lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${kind}`);
  const series = [...family.series.values()];
  // An unlabelled metric is shown at zero before its first update.
  if (series.length === 0 && (family.spec.labelNames ?? []).length === 0) {
    series.push({ labels: {}, value: 0, counts: family.bounds.map(() => 0), sum: 0 });
  }
  for (const s of series) {
    if (kind !== "histogram") {
      lines.push(`${name}${formatLabels(s.labels)} ${formatNumber(s.value)}`);
      continue;
    }
    let cumulative = 0;
    family.bounds.forEach((bound, i) => {
      cumulative += s.counts[i] ?? 0;
      lines.push(`${name}_bucket${formatLabels({ ...s.labels, le: formatNumber(bound) })} ${cumulative}`);
    });
    lines.push(`${name}_bucket${formatLabels({ ...s.labels, le: "+Inf" })} ${s.value}`);
    lines.push(`${name}_sum${formatLabels(s.labels)} ${formatNumber(s.sum)}`);
    lines.push(`${name}_count${formatLabels(s.labels)} ${s.value}`);
  }
}

export function sanitizeMetricName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_:]/g, "_");
  return /^[a-zA-Z_:]/.test(clean) ? clean : `_${clean}`;
}

export function sanitizeLabelName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_]/g, "_");
  if (clean.startsWith("__")) return `x${clean}`;
  return /^[a-zA-Z_]/.test(clean) ? clean : `_${clean}`;
}

function sanitizeLabels(labels: Labels | undefined): Labels {
  const out: Labels = Object.create(null) as Labels;
  if (labels === undefined) return out;
  for (const [key, value] of Object.entries(labels)) {
    const name = sanitizeLabelName(key);
    if (name === "le" || name === "quantile") continue; // reserved by histogram/summary series
    out[name] = String(value);
  }
  return out;
}

/** Declared label names first, in their order, then the others by name. */
function orderLabels(labels: Labels, declared: readonly string[]): Labels {
  const rank = (k: string) => {
    const i = declared.indexOf(k);
    return i < 0 ? declared.length : i;
  };
  const keys = Object.keys(labels).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, labels[k] ?? ""]));
}

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatNumber(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Number.isNaN(n)) return "NaN";
  return String(n);
}

function normaliseBuckets(buckets: readonly number[]): number[] {
  const finite = buckets.filter((b) => Number.isFinite(b));
  return [...new Set(finite)].sort((a, b) => a - b);
}
