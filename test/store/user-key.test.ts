/** store/user-key.ts: bare JID `local@host` ↔ the store's two columns (issue 13). */
import { expect, test } from "bun:test";
import { hostOf, joinUser, localOf, userKeyFor } from "../../src/store/user-key.ts";

test("hostOf/localOf split a bare JID at the last @, joinUser joins it back", () => {
  expect(hostOf("alice@a.example")).toBe("a.example");
  expect(localOf("alice@a.example")).toBe("alice");
  expect(joinUser("alice", "a.example")).toBe("alice@a.example");
  expect(localOf("a@b@c.example")).toBe("a@b");
  expect(hostOf("a@b@c.example")).toBe("c.example");
  expect(hostOf("alice")).toBe("");
  expect(localOf("alice")).toBe("alice");
});

test("userKeyFor() reads a bare local part as the only host, and refuses it with several", () => {
  expect(userKeyFor(["a.example"])("alice")).toEqual({ host: "a.example", local: "alice" });
  expect(userKeyFor(["a.example"])("alice@z.example")).toEqual({ host: "z.example", local: "alice" });
  const several = userKeyFor(["a.example", "b.example"]);
  expect(several("alice@b.example")).toEqual({ host: "b.example", local: "alice" });
  expect(() => several("alice")).toThrow('Cannot use user "alice" in the store: no @host and several hosts are configured');
});
