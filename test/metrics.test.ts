import { describe, expect, test } from "bun:test";

import {
  createMetrics,
  createRegistry,
  escapeLabelValue,
  LATENCY_BUCKETS,
  PRODUCT_METRICS,
  sanitizeLabelName,
  sanitizeMetricName,
} from "../src/metrics.ts";

// ---- a tiny, strict parser for the text exposition format 0.0.4 ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  help: string | null;
  type: string | null;
  samples: Sample[];
}

const METRIC_NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL_NAME = "[a-zA-Z_][a-zA-Z0-9_]*";
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const LABEL = `${LABEL_NAME}=${LABEL_VALUE}`;
const VALUE = "(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]Inf|NaN)";
const SAMPLE_RE = new RegExp(`^(${METRIC_NAME})(?:\\{((?:${LABEL}(?:,${LABEL})*)?)\\})? (${VALUE})$`);
const HELP_RE = new RegExp(`^# HELP (${METRIC_NAME}) ((?:[^\\\\\\n]|\\\\[\\\\n])*)$`);
const TYPE_RE = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`);

function parseValue(s: string): number {
  if (s === "+Inf") return Number.POSITIVE_INFINITY;
  if (s === "-Inf") return Number.NEGATIVE_INFINITY;
  return Number(s);
}

function unescapeLabel(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function parseLabels(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (s === undefined || s === "") return out;
  const re = new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE})`, "g");
  for (const m of s.matchAll(re)) {
    const key = m[1] ?? "";
    if (key in out) throw new Error(`duplicate label ${key}`);
    out[key] = unescapeLabel((m[2] ?? '""').slice(1, -1));
  }
  return out;
}

/** Parses every line; throws on any line that does not match the grammar. */
function parseExposition(text: string): Map<string, Family> {
  expect(text.endsWith("\n")).toBe(true);
  const families = new Map<string, Family>();
  let current: Family | null = null;
  const family = (name: string) => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, help: null, type: null, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    const help = HELP_RE.exec(line);
    const type = TYPE_RE.exec(line);
    const sample = SAMPLE_RE.exec(line);
    if (help !== null) {
      current = family(help[1] ?? "");
      if (current.help !== null || current.samples.length > 0) throw new Error(`HELP out of place: ${line}`);
      current.help = help[2] ?? "";
    } else if (type !== null) {
      current = family(type[1] ?? "");
      if (current.type !== null || current.samples.length > 0) throw new Error(`TYPE out of place: ${line}`);
      current.type = type[2] ?? "";
    } else if (sample !== null) {
      const name = sample[1] ?? "";
      if (current === null) throw new Error(`sample before any TYPE: ${line}`);
      const base = current.type === "histogram" ? name.replace(/_(bucket|sum|count)$/, "") : name;
      if (base !== current.name) throw new Error(`sample ${name} outside its family ${current.name}`);
      current.samples.push({ name, labels: parseLabels(sample[2]), value: parseValue(sample[3] ?? "") });
    } else {
      throw new Error(`line does not match the exposition grammar: ${JSON.stringify(line)}`);
    }
  }
  return families;
}

/** Checks _bucket is cumulative, ends with +Inf = _count, and _sum/_count exist, per label set. */
function checkHistogram(f: Family): void {
  const groups = new Map<string, Sample[]>();
  for (const s of f.samples) {
    const { le: _le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  expect(groups.size).toBeGreaterThan(0);
  for (const samples of groups.values()) {
    const buckets = samples.filter((s) => s.name.endsWith("_bucket"));
    const les = buckets.map((b) => parseValue(b.labels["le"] ?? "x"));
    expect(les.at(-1)).toBe(Number.POSITIVE_INFINITY);
    for (let i = 1; i < buckets.length; i++) {
      expect(les[i] ?? 0).toBeGreaterThan(les[i - 1] ?? 0);
      expect(buckets[i]?.value ?? -1).toBeGreaterThanOrEqual(buckets[i - 1]?.value ?? 0);
    }
    const count = samples.find((s) => s.name.endsWith("_count"));
    const sum = samples.find((s) => s.name.endsWith("_sum"));
    expect(count).toBeDefined();
    expect(sum).toBeDefined();
    expect(buckets.at(-1)?.value).toBe(count?.value ?? -1);
  }
}

function sampleValue(fams: Map<string, Family>, family: string, name: string, labels: Record<string, string>) {
  return fams.get(family)?.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
}

// ---- tests ----

test("the test parser itself rejects malformed exposition lines", () => {
  const bad = ['x{a="b} 1', "x 1 2 3", 'x{a="b",} 1', "x{a=b} 1", "# TYPE x countr", "9x 1", "x one"];
  for (const line of bad) expect(() => parseExposition(`# TYPE x counter\n${line}\n`)).toThrow();
  expect(parseExposition('# TYPE x counter\nx{a="\\"q\\""} 1e+21\n').get("x")?.samples[0]?.labels).toEqual({ a: '"q"' });
});

describe("createMetrics", () => {
  test("renders every product metric with HELP and TYPE in valid exposition format", () => {
    const fams = parseExposition(createMetrics().render());
    expect([...fams.keys()]).toEqual(PRODUCT_METRICS.map((m) => m.name));
    for (const spec of PRODUCT_METRICS) {
      const f = fams.get(spec.name);
      expect(f?.type).toBe(spec.kind);
      expect(f?.help?.length ?? 0).toBeGreaterThan(10);
    }
  });

  test("shows unlabelled metrics at zero before their first update, labelled ones not at all", () => {
    const fams = parseExposition(createMetrics().render());
    expect(sampleValue(fams, "cloud_notifyd_registrations", "cloud_notifyd_registrations", {})).toBe(0);
    expect(sampleValue(fams, "cloud_notifyd_component_connected", "cloud_notifyd_component_connected", {})).toBe(0);
    expect(fams.get("cloud_notifyd_pushes_total")?.samples).toEqual([]);
    const latency = fams.get("cloud_notifyd_publish_latency_seconds");
    expect(latency?.samples).toHaveLength(LATENCY_BUCKETS.length + 3);
    checkHistogram(latency as Family);
  });

  test("counts labelled counters per label set, labels in documented order", () => {
    const m = createMetrics();
    expect(m.inc("cloud_notifyd_pushes_total", { outcome: "ok", trigger: "offline" })).toBe(true);
    m.inc("cloud_notifyd_pushes_total", { trigger: "offline", outcome: "ok" }, 2);
    m.inc("cloud_notifyd_pushes_total", { trigger: "archive", outcome: "error" });
    const text = m.render();
    expect(text).toContain('cloud_notifyd_pushes_total{trigger="offline",outcome="ok"} 3\n');
    expect(text).toContain('cloud_notifyd_pushes_total{trigger="archive",outcome="error"} 1\n');
    expect(m.get("cloud_notifyd_pushes_total", { outcome: "ok", trigger: "offline" })).toBe(3);
    parseExposition(text);
  });

  test("sets gauges, including 0/1 for component_connected", () => {
    const m = createMetrics();
    expect(m.set("cloud_notifyd_component_connected", 1)).toBe(true);
    expect(m.set("cloud_notifyd_registrations", undefined, 42)).toBe(true);
    m.set("cloud_notifyd_bridge_dropped_events", { host: "example.com" }, 7);
    m.inc("cloud_notifyd_registrations", undefined, -2);
    const fams = parseExposition(m.render());
    expect(sampleValue(fams, "cloud_notifyd_component_connected", "cloud_notifyd_component_connected", {})).toBe(1);
    expect(sampleValue(fams, "cloud_notifyd_registrations", "cloud_notifyd_registrations", {})).toBe(40);
    expect(sampleValue(fams, "cloud_notifyd_bridge_dropped_events", "cloud_notifyd_bridge_dropped_events", { host: "example.com" })).toBe(
      7,
    );
  });

  test("observes the latency histogram into cumulative buckets with +Inf, _sum and _count", () => {
    const m = createMetrics();
    for (const v of [0.001, 0.005, 0.2, 0.2, 3, 59, 120]) {
      expect(m.observe("cloud_notifyd_publish_latency_seconds", v)).toBe(true);
    }
    const fams = parseExposition(m.render());
    const f = fams.get("cloud_notifyd_publish_latency_seconds") as Family;
    checkHistogram(f);
    const bucket = (le: string) => sampleValue(fams, f.name, `${f.name}_bucket`, { le });
    expect(bucket("0.005")).toBe(2); // le is inclusive
    expect(bucket("0.01")).toBe(2);
    expect(bucket("0.25")).toBe(4);
    expect(bucket("5")).toBe(5);
    expect(bucket("60")).toBe(6);
    expect(bucket("+Inf")).toBe(7);
    expect(sampleValue(fams, f.name, `${f.name}_count`, {})).toBe(7);
    expect(sampleValue(fams, f.name, `${f.name}_sum`, {})).toBeCloseTo(182.406, 6);
  });

  test("escapes backslash, quote and newline in label values", () => {
    const m = createMetrics();
    const nasty = 'a\\b"c\nd';
    m.inc("cloud_notifyd_publish_errors_total", { type: "cancel", condition: nasty });
    const text = m.render();
    expect(text).toContain('condition="a\\\\b\\"c\\nd"');
    const fams = parseExposition(text);
    expect(fams.get("cloud_notifyd_publish_errors_total")?.samples[0]?.labels).toEqual({
      type: "cancel",
      condition: nasty,
    });
  });

  test("defines an unknown counter on inc(), sanitising its name and label names", () => {
    const m = createMetrics();
    expect(m.inc("my-app.requests total", { "bad-label": "x", __reserved: "y", "9lives": "z" })).toBe(true);
    const fams = parseExposition(m.render());
    const f = fams.get("my_app_requests_total");
    expect(f?.type).toBe("counter");
    expect(f?.samples[0]?.labels).toEqual({ _9lives: "z", bad_label: "x", x__reserved: "y" });
    expect(m.inc("9starts")).toBe(true);
    expect(parseExposition(m.render()).has("_9starts")).toBe(true);
  });

  test("drops operations that do not fit the metric and says so", () => {
    const m = createMetrics();
    expect(m.set("cloud_notifyd_pushes_total", 5)).toBe(false);
    expect(m.observe("cloud_notifyd_registrations", 1)).toBe(false);
    expect(m.inc("cloud_notifyd_publish_latency_seconds")).toBe(false);
    expect(m.inc("cloud_notifyd_events_total", { type: "offline" }, -1)).toBe(false);
    expect(m.inc("cloud_notifyd_events_total", { type: "offline" }, Number.NaN)).toBe(false);
    expect(m.set("cloud_notifyd_registrations", Number.POSITIVE_INFINITY)).toBe(false);
    expect(m.observe("cloud_notifyd_publish_latency_seconds", Number.NaN)).toBe(false);
    expect(m.set("no_such_gauge", 1)).toBe(false);
    expect(m.observe("no_such_histogram", 1)).toBe(false);
    const fams = parseExposition(m.render());
    expect(fams.get("cloud_notifyd_events_total")?.samples).toEqual([]);
    expect(fams.has("no_such_gauge")).toBe(false);
  });

  test("stops adding label sets beyond maxSeriesPerMetric", () => {
    const m = createMetrics({ maxSeriesPerMetric: 2 });
    expect(m.inc("cloud_notifyd_events_total", { type: "a" })).toBe(true);
    expect(m.inc("cloud_notifyd_events_total", { type: "b" })).toBe(true);
    expect(m.inc("cloud_notifyd_events_total", { type: "c" })).toBe(false);
    expect(m.inc("cloud_notifyd_events_total", { type: "a" })).toBe(true);
    const fams = parseExposition(m.render());
    expect(fams.get("cloud_notifyd_events_total")?.samples.map((s) => [s.labels["type"], s.value])).toEqual([
      ["a", 2],
      ["b", 1],
    ]);
  });
});

describe("createRegistry", () => {
  test("renders labelled histograms per label set with their own buckets", () => {
    const r = createRegistry();
    r.define({ name: "h_seconds", kind: "histogram", help: "multi\nline \\ help", buckets: [1, 0.5, 1] });
    r.observe("h_seconds", { path: "a" }, 0.7);
    r.observe("h_seconds", { path: "b" }, 0.1);
    r.observe("h_seconds", { path: "b" }, 2);
    const text = r.render();
    expect(text).toContain("# HELP h_seconds multi\\nline \\\\ help\n");
    const f = parseExposition(text).get("h_seconds") as Family;
    checkHistogram(f);
    expect(f.samples.filter((s) => s.labels["path"] === "b").map((s) => s.value)).toEqual([1, 1, 2, 2.1, 2]);
  });

  test("renders nothing for an empty registry", () => {
    expect(createRegistry().render()).toBe("");
  });
});

test("sanitizers keep valid names and fix invalid ones", () => {
  expect(sanitizeMetricName("cloud_notifyd:x_total")).toBe("cloud_notifyd:x_total");
  expect(sanitizeMetricName("")).toBe("_");
  expect(sanitizeLabelName("le-vel")).toBe("le_vel");
  expect(escapeLabelValue("plain")).toBe("plain");
});
