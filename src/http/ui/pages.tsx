/**
 * The admin page's views (Hono JSX, rendered on the server; no script at all). They show no
 * secret: nodes are shortened, publish-options only as present/absent, identifiers (which hold
 * the node) only shortened, and the token is never echoed back.
 * @module
 */
import type { Child } from "hono/jsx";

import { agoText } from "../../age.ts";
import type { PushTimeline, Readiness, UsersPage, UserView } from "../deps.ts";
import { shortIdentifier, shortNode } from "../short-node.ts";
import { CHART_CSS, PushChart } from "./chart.tsx";

export const PAGE_CSS =
  "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:72em}" +
  "h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}table{border-collapse:collapse;width:100%}" +
  "th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd;vertical-align:top}" +
  ".ok{color:#2e7d32}.fail{color:#c62828;font-weight:600}.warn{color:#ef6c00}.muted{color:#777}" +
  "header{display:flex;justify-content:space-between;align-items:center}form.inline{display:inline}" +
  ".swatch{display:inline-block;width:.8em;height:.8em;margin:0 .2em 0 .6em}.error{color:#c62828}" +
  CHART_CSS;

function when(ms: number | null, now: number): string {
  if (ms === null) return "?";
  return `${new Date(ms).toISOString().slice(0, 19)}Z (${agoText(ms, now)} ago)`;
}

export function Layout(props: { title: string; csrf?: string; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{props.title}</title>
        <style dangerouslySetInnerHTML={{ __html: PAGE_CSS }} />
      </head>
      <body>
        <header>
          <h1>
            <a href="/ui">cloud-notifyd</a> · {props.title}
          </h1>
          {props.csrf !== undefined ? (
            <form class="inline" method="post" action="/ui/logout">
              <input type="hidden" name="csrf" value={props.csrf} />
              <button type="submit" id="logout">
                Log out
              </button>
            </form>
          ) : null}
        </header>
        {props.children}
      </body>
    </html>
  );
}

export function LoginPage(props: { error?: string; configured: boolean }) {
  return (
    <Layout title="log in">
      {!props.configured ? (
        <p class="fail">The admin token is not configured (admin_token / admin_token_file): the page is off.</p>
      ) : (
        <form method="post" action="/ui/login" autocomplete="off">
          <p>
            <label>
              Admin token <input type="password" name="token" id="token" autocomplete="current-password" required />
            </label>{" "}
            <button type="submit" id="login">
              Log in
            </button>
          </p>
          {props.error !== undefined ? (
            <p class="fail" id="login-error">
              {props.error}
            </p>
          ) : null}
          <p class="muted">The token is exchanged for a session cookie; it is never kept in the browser.</p>
        </form>
      )}
    </Layout>
  );
}

function SearchBox(props: { q?: string }) {
  return (
    <search>
      <form method="get" action="/ui/users">
        <label>
          User <input type="search" name="q" id="q" value={props.q ?? ""} placeholder="user@host, or a local part prefix" />
        </label>{" "}
        <button type="submit" id="search">
          Search
        </button>
      </form>
    </search>
  );
}

export function StatusPage(props: {
  csrf: string;
  version: string;
  readiness: Readiness;
  totals: Record<string, number>;
  timeline: PushTimeline | null;
}) {
  const { readiness } = props;
  return (
    <Layout title="status" csrf={props.csrf}>
      <p id="status">
        Version {props.version}: {readiness.ready ? <strong class="ok">ready</strong> : <strong class="fail">not ready</strong>}
      </p>
      <table id="checks">
        <tbody>
          {Object.entries(readiness.checks).map(([name, check]) => (
            <tr>
              <th>{name}</th>
              <td class={!check.ok ? "fail" : check.warning !== undefined ? "warn" : "ok"}>
                {!check.ok ? "FAIL" : check.warning !== undefined ? "warn" : "ok"}
              </td>
              <td>{check.reason ?? check.warning ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p id="totals">
        {Object.entries(props.totals).map(([k, v]) => (
          <span>
            {k}: <strong>{v}</strong>{" "}
          </span>
        ))}
      </p>
      <h2>Pushes</h2>
      {props.timeline !== null ? <PushChart timeline={props.timeline} /> : <p class="muted">not available</p>}
      <h2>Users</h2>
      <SearchBox />
    </Layout>
  );
}

export function UsersPageView(props: { csrf: string; q: string; page: UsersPage }) {
  return (
    <Layout title="users" csrf={props.csrf}>
      <SearchBox q={props.q} />
      <ul id="users">
        {props.page.users.map((u) => (
          <li>
            <a href={`/ui/users/${encodeURIComponent(u)}`}>{u}</a>
          </li>
        ))}
      </ul>
      {props.page.users.length === 0 ? <p class="muted">No user with a registration matches.</p> : null}
      {props.page.next !== null ? (
        <p>
          <a href={`/ui/users?q=${encodeURIComponent(props.q)}&after=${encodeURIComponent(props.page.next)}`}>next page</a>
        </p>
      ) : null}
    </Layout>
  );
}

export function UserPage(props: { csrf: string; jid: string; view: UserView | null; error?: string; now: number }) {
  const { view, now } = props;
  return (
    <Layout title={props.jid} csrf={props.csrf}>
      <SearchBox />
      {props.error !== undefined ? <p class="fail">{props.error}</p> : null}
      {view === null ? null : (
        <>
          {view.disabled ? <p class="warn">Pushes suspended: the account is disabled.</p> : null}
          <h2>Devices ({view.devices.length})</h2>
          <table id="devices">
            <thead>
              <tr>
                <th>Service</th>
                <th>Node</th>
                <th>Client id</th>
                <th>Resource</th>
                <th>Registered</th>
                <th>Errors</th>
                <th>Last error</th>
                <th>Include payload</th>
                <th>Publish options</th>
                <th>Extensions</th>
                <th>Bound sessions</th>
              </tr>
            </thead>
            <tbody>
              {view.devices.map((d) => (
                <tr>
                  <td>{d.jid}</td>
                  <td>{shortNode(d.node)}</td>
                  <td>{d.clientId ?? "-"}</td>
                  <td>{d.resource ?? "-"}</td>
                  <td>{when(d.createdAt, now)}</td>
                  <td class={d.errorCount > 0 ? "error" : ""}>{d.errorCount}</td>
                  <td>{d.lastError === null ? "-" : `${d.lastError} at ${when(d.lastErrorAt, now)}`}</td>
                  <td>{d.includePayload ? "yes" : "no"}</td>
                  <td>{d.publishOptions ? "present" : "absent"}</td>
                  <td>{d.extensions.length === 0 ? "none" : d.extensions.join(", ")}</td>
                  <td>{d.boundSessions.length}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Recent pushes ({view.pushes.length})</h2>
          <table id="pushes">
            <thead>
              <tr>
                <th>At</th>
                <th>Trigger</th>
                <th>Outcome</th>
                <th>Latency</th>
                <th>Error</th>
                <th>Device</th>
              </tr>
            </thead>
            <tbody>
              {view.pushes.map((p) => (
                <tr>
                  <td>{when(p.at, now)}</td>
                  <td>{`${p.trigger ?? "-"}${p.important ? " (important)" : ""}`}</td>
                  <td class={p.outcome === "ok" ? "ok" : p.outcome === "sent" ? "" : "error"}>{p.outcome}</td>
                  <td>{p.latencyMs === null ? "-" : `${p.latencyMs} ms`}</td>
                  <td>{p.error ?? ""}</td>
                  <td>{shortIdentifier(p.identifier)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Removals ({view.removals.length})</h2>
          <table id="removals">
            <thead>
              <tr>
                <th>At</th>
                <th>Reason</th>
                <th>Detail</th>
                <th>Device</th>
              </tr>
            </thead>
            <tbody>
              {view.removals.map((r) => (
                <tr>
                  <td>{when(r.at, now)}</td>
                  <td>{r.reason}</td>
                  <td>{r.detail ?? ""}</td>
                  <td>{shortIdentifier(r.identifier)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Sessions Prosody reports ({view.sessions.length})</h2>
          <table id="sessions">
            <thead>
              <tr>
                <th>Resource</th>
                <th>Client id</th>
                <th>State</th>
                <th>Bound to</th>
              </tr>
            </thead>
            <tbody>
              {view.sessions.map((s) => (
                <tr>
                  <td>{s.resource ?? "-"}</td>
                  <td>{s.clientId ?? "-"}</td>
                  <td>
                    {!s.hibernating
                      ? "online"
                      : s.hibernatingSince === null
                        ? "hibernating (since unknown)"
                        : `hibernating since ${when(s.hibernatingSince, now)}`}
                  </td>
                  <td>{s.bound === null ? "-" : shortIdentifier(s.bound)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Layout>
  );
}
