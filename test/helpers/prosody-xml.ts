/**
 * Prosody's own XML parser (util.xml, expat via lua-expat) as a test oracle: ONE long-running
 * `lua5.4` process (test/helpers/prosody-xml.lua) parses many documents sent over stdin and
 * answers with each parsed tree, every string hex-encoded so comparisons are byte-exact.
 */
import { join } from "node:path";

/** A parsed element as Prosody sees it: attributes sorted by name; text children as strings. */
export interface ParsedXml {
  name: string;
  attrs: Array<[string, string]>;
  children: Array<ParsedXml | string>;
}

export type ParseResult = { ok: true; tree: ParsedXml } | { ok: false; error: string };

export interface ProsodyXml {
  /** Parses every document, in order; one write and one read stream for the whole batch. */
  parseMany(docs: readonly string[]): Promise<ParseResult[]>;
  close(): Promise<void>;
}

const SCRIPT = join(import.meta.dir, "prosody-xml.lua");
const PROSODY_LIB = "/usr/lib/prosody";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function unhex(hex: string): string {
  return decoder.decode(Uint8Array.from(hex.match(/../g) ?? [], (h) => Number.parseInt(h, 16)));
}

interface RawTree {
  n: string;
  a: Array<[string, string]>;
  c: Array<RawTree | string>;
}

function decodeTree(raw: RawTree): ParsedXml {
  return {
    name: unhex(raw.n),
    attrs: raw.a.map(([k, v]) => [unhex(k), unhex(v)]),
    children: raw.c.map((c) => (typeof c === "string" ? unhex(c) : decodeTree(c))),
  };
}

function decodeLine(line: string): ParseResult {
  if (line.startsWith("OK ")) return { ok: true, tree: decodeTree(JSON.parse(line.slice(3)) as RawTree) };
  if (line.startsWith("ERR ")) return { ok: false, error: unhex(line.slice(4)) };
  throw new Error(`Cannot read the Lua XML parser's answer: ${line.slice(0, 200)}`);
}

export function startProsodyXml(): ProsodyXml {
  const proc = Bun.spawn(["lua5.4", SCRIPT, PROSODY_LIB], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  let buffered = "";
  const textDecoder = new TextDecoder();

  async function readLine(): Promise<string> {
    for (;;) {
      const nl = buffered.indexOf("\n");
      if (nl !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        return line;
      }
      const { value, done } = await reader.read();
      if (done) {
        const stderr = await new Response(proc.stderr).text();
        throw new Error(`Cannot parse with Prosody's util.xml: lua exited (${stderr.trim().slice(0, 300)})`);
      }
      buffered += textDecoder.decode(value, { stream: true });
    }
  }

  let queue: Promise<unknown> = Promise.resolve();

  async function run(docs: readonly string[]): Promise<ParseResult[]> {
    const writing = (async () => {
      let pending = 0;
      for (const doc of docs) {
        const bytes = encoder.encode(doc);
        proc.stdin.write(`${bytes.length}\n`);
        proc.stdin.write(bytes);
        pending += bytes.length;
        if (pending >= 1 << 16) {
          await proc.stdin.flush();
          pending = 0;
        }
      }
      await proc.stdin.flush();
    })();
    const results: ParseResult[] = [];
    for (let i = 0; i < docs.length; i++) results.push(decodeLine(await readLine()));
    await writing;
    return results;
  }

  return {
    parseMany(docs) {
      const next = queue.then(() => run(docs));
      queue = next.catch(() => {});
      return next;
    },
    async close() {
      await proc.stdin.end();
      await proc.exited;
    },
  };
}
