/**
 * Issue 10 item 2 (logs bounded), end to end: a local user floods the component with IQs whose
 * payload namespace is 50 KB, through a real Prosody, from a real client (slixmpp). Before the
 * fix each one was logged at warn with the namespace in full (685 IQs → 34 MB of log in 10 s).
 * Now each line is cut to 200 characters a value, the same warning is written at most 10 times a
 * minute, and the count of the rest is written when the window ends or, as here, at exit.
 */
import { describe, expect, test } from "bun:test";

import { eventually, usePushStacks } from "../helpers/push-stack.ts";

const stack = usePushStacks();
const FLOOD = 700;
const NS = `urn:flood:${"n".repeat(50_000)}`;

describe("issue 10 item 2: the daemon's log stays small under a flood of IQs", () => {
  test(`${FLOOD} IQs with a 50 KB namespace give < 50 KB of log and one count line`, async () => {
    const s = await stack({ users: ["mallory"] });
    const mallory = await s.client("mallory", "flood", { sm: false });
    const to = s.prosody.componentDomain;
    const logBefore = s.daemon.logs().length;

    // The last reply proves every IQ reached the daemon (replies come back in order).
    const last = mallory.waitFor((e) => e.event === "iq" && e.id === `f${FLOOD - 1}`, 60_000, "reply to the last flood IQ");
    for (let i = 0; i < FLOOD; i++) mallory.command({ cmd: "raw", xml: `<iq type='get' to='${to}' id='f${i}'><q xmlns='${NS}'/></iq>` });
    const reply = await last;
    expect(reply.type).toBe("error");
    const replies = mallory.events.filter((e) => e.event === "iq" && String(e.id).startsWith("f"));
    expect(replies).toHaveLength(FLOOD);

    const during = s.daemon.logs().slice(logBefore);
    expect(during.length).toBeLessThan(50_000);
    const floodLines = during.split("\n").filter((l) => l.includes("urn:flood:nnn"));
    expect(floodLines.length).toBeGreaterThan(0);
    expect(floodLines.length).toBeLessThanOrEqual(10);
    for (const line of floodLines) {
      expect(line.length).toBeLessThan(600);
      expect(line).toContain("…(+");
    }

    // The window (60 s) has not ended: the count comes at exit (SIGTERM → clean stop).
    await s.daemon.stop();
    // The exit line may still be in the pipe when the process is gone.
    await eventually(async () => (s.daemon.logs().includes("similar lines)") ? true : undefined), 3000, "the count line");
    const all = s.daemon.logs().slice(logBefore);
    const counts = [...all.matchAll(/msg="([^"]*) \(suppressed (\d+) similar lines\)"/g)];
    const flood = counts.find((m) => floodLines.some((l) => l.includes(`msg="${m[1]}"`) || l.includes(`msg=${m[1]} `)));
    expect(flood?.[2]).toBe(String(FLOOD - floodLines.length));
    expect(all.length).toBeLessThan(50_000);
  }, 120_000);
});
