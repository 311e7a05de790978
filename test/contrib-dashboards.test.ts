/**
 * Issue 15 item 4: contrib/grafana/cloud-notifyd.json (importable dashboard) and
 * contrib/prometheus/cloud-notifyd.rules.yml (alerts) use only metrics the daemon exposes: every
 * `cloud_notifyd_*` / `process_*` name in their PromQL is a family in the live `/metrics` of the
 * compiled binary (a histogram's _bucket/_sum/_count count as its family), plus Prometheus' own `up`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

import { type Daemon, startDaemon } from "./helpers/daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const DASHBOARD = join(ROOT, "contrib/grafana/cloud-notifyd.json");
const RULES = join(ROOT, "contrib/prometheus/cloud-notifyd.rules.yml");

interface Rule {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { uid: string };
  targets: Array<{ expr: string; refId: string }>;
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
  __inputs: Array<{ name: string; pluginId: string }>;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ query: { query: string } }> };
};
const rules = (Bun.YAML.parse(readFileSync(RULES, "utf8")) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap(
  (g) => g.rules,
);

/** Metric names used in a PromQL expression (ours and the process' ones; functions and labels are not). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .map((m) => m[0])
    .filter((t) => t.startsWith("cloud_notifyd_") || t.startsWith("process_") || t === "up");
}

function balanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  for (const ch of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if ("([{".includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0;
}

const dashboardExprs = [
  ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
  ...dashboard.templating.list.map((v) => v.query.query),
];
const ruleExprs = rules.map((r) => r.expr ?? "");

let daemon: Daemon;
let families: Map<string, string>;

beforeAll(async () => {
  // No component secret: the daemon runs its admin listener and exposes every metric family.
  daemon = await startDaemon({ env: { CLOUD_NOTIFYD_LOG_LEVEL: "info" } });
  await daemon.waitForLog(/cloud-notifyd started/, 20_000);
  const text = await (await fetch(daemon.url("/metrics"))).text();
  families = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}, 120_000);

afterAll(async () => {
  if (daemon && daemon.proc.exitCode === null) await daemon.stop();
});

function exists(name: string): boolean {
  if (name === "up") return true; // written by Prometheus for every scrape target
  if (families.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && families.get(base) === "histogram";
}

describe("contrib dashboards and alerts", () => {
  test("the live /metrics lists the product's families", () => {
    expect(families.get("cloud_notifyd_pushes_total")).toBe("counter");
    expect(families.get("cloud_notifyd_publish_latency_seconds")).toBe("histogram");
    expect(families.size).toBeGreaterThanOrEqual(20);
  });

  test("every metric the Grafana dashboard uses exists in /metrics", () => {
    const used = [...new Set(dashboardExprs.flatMap(metricsIn))];
    expect(used.length).toBeGreaterThanOrEqual(15);
    expect(used.filter((m) => !exists(m))).toEqual([]);
  });

  test("every metric the alert rules use exists in /metrics", () => {
    const used = [...new Set(ruleExprs.flatMap(metricsIn))];
    expect(used.length).toBeGreaterThanOrEqual(8);
    expect(used.filter((m) => !exists(m))).toEqual([]);
  });

  test("the dashboard is importable: a Prometheus datasource input, unique panel ids, grid positions, balanced PromQL", () => {
    expect(dashboard.uid).toBe("cloud-notifyd");
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: "DS_PROMETHEUS", pluginId: "prometheus" })]);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(p.datasource.uid).toBe("${DS_PROMETHEUS}");
      expect(p.gridPos.w).toBeGreaterThan(0);
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      expect(p.targets.length).toBeGreaterThan(0);
    }
    for (const e of dashboardExprs) expect({ e, ok: balanced(e) }).toEqual({ e, ok: true });
  });

  test("the alerts cover daemon down, component disconnected, error and removal spikes, the bridge buffer and quarantine", () => {
    const names = rules.map((r) => r.alert);
    for (const name of [
      "CloudNotifydDown",
      "CloudNotifydComponentDisconnected",
      "CloudNotifydPublishErrorRateHigh",
      "CloudNotifydRemovalRateSpike",
      "CloudNotifydEventBacklogFilling",
      "CloudNotifydBridgeDroppedEvents",
      "CloudNotifydBridgeQuarantinedEvents",
    ]) {
      expect(names).toContain(name);
    }
    for (const r of rules) {
      expect({ alert: r.alert, ok: balanced(r.expr ?? "") && (r.expr ?? "") !== "" }).toEqual({ alert: r.alert, ok: true });
      expect(["critical", "warning"]).toContain(r.labels?.severity ?? "");
      expect(r.annotations?.summary).toBeString();
      expect(r.annotations?.description).toBeString();
    }
  });
});
