// ltx's own streaming SAX parser (SaxLtx). @types/ltx declares it as a subclass of the
// whole-document Parser, which it is not; this is its real event surface.
declare module "ltx/src/parsers/ltx.js" {
  import { EventEmitter } from "node:events";

  export default class SaxLtx extends EventEmitter {
    constructor();
    write(data: string): void;
    end(data?: string): void;
    on(event: "startElement", listener: (name: string, attrs: Record<string, string>) => void): this;
    on(event: "endElement", listener: (name: string, selfClosing: boolean) => void): this;
    on(event: "text", listener: (text: string) => void): this;
  }
}
