/**
 * A fast, allocation-light splitter for an XMPP stream written by a trusted peer (the daemon
 * or Prosody on loopback): text in, complete depth-1 stanzas out as strings. It relies on what
 * ltx and Prosody serialisers guarantee (no comments, no CDATA, `<` and `>` escaped inside
 * attribute values and text), which is why it is a benchmark tool and not a parser.
 * @module
 */

export interface StanzaScanner {
  /** Feeds text; returns the depth-1 stanzas it completed, in order (stream header excluded). */
  push(text: string): string[];
}

/** `header: true` when the stream header `<stream:stream …>` still has to be skipped. */
export function createStanzaScanner(opts: { header: boolean }): StanzaScanner {
  let buf = "";
  let pos = 0; // scan position inside buf
  let start = -1; // start of the current stanza, -1 between stanzas
  let depth = 0;
  let inHeader = opts.header;

  return {
    push(text) {
      buf += text; // buf starts at the open stanza (start = 0) or at unscanned text (pos = 0)
      const out: string[] = [];
      for (;;) {
        const lt = buf.indexOf("<", pos);
        if (lt < 0) {
          pos = buf.length;
          break;
        }
        const gt = buf.indexOf(">", lt);
        if (gt < 0) {
          pos = lt;
          break;
        }
        const second = buf.charCodeAt(lt + 1);
        pos = gt + 1;
        if (second === 63 /* ? */) continue; // XML declaration
        if (inHeader) {
          if (buf.startsWith("<stream:stream", lt)) inHeader = false;
          continue;
        }
        if (second === 47 /* / */) {
          depth -= 1;
          if (depth === 0 && start >= 0) {
            out.push(buf.slice(start, pos));
            start = -1;
          }
          if (depth < 0) depth = 0; // </stream:stream>
          continue;
        }
        if (depth === 0) start = lt;
        if (buf.charCodeAt(gt - 1) === 47 /* / */) {
          if (depth === 0) {
            out.push(buf.slice(start, pos));
            start = -1;
          }
          continue;
        }
        depth += 1;
      }
      if (start < 0) {
        // Nothing open: drop what was scanned.
        buf = buf.slice(pos);
        pos = 0;
      } else {
        buf = buf.slice(start);
        pos -= start;
        start = 0;
      }
      return out;
    },
  };
}

/** The value of attribute `name` in the first tag of `tag` at or after `from` (either quote style). */
export function attrOf(text: string, name: string, from = 0): string | null {
  const end = text.indexOf(">", from);
  const tag = text.slice(from, end < 0 ? text.length : end);
  const at = 0;
  for (;;) {
    const i = tag.indexOf(` ${name}=`, at);
    if (i < 0) return null;
    const q = tag.charAt(i + name.length + 2);
    const close = tag.indexOf(q, i + name.length + 3);
    if (close < 0) return null;
    return unescapeXml(tag.slice(i + name.length + 3, close));
  }
}

function unescapeXml(s: string): string {
  if (s.indexOf("&") < 0) return s;
  return s.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&quot;", '"').replaceAll("&apos;", "'").replaceAll("&amp;", "&");
}

export function escapeAttr(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll("'", "&apos;").replaceAll('"', "&quot;");
}
