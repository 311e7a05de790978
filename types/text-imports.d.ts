// Bun text imports (`import text from "./file.lua" with { type: "text" }`): the file's content,
// inlined at build time (src/cli/bridge-install.ts embeds the Prosody bridge this way).
declare module "*.lua" {
  const text: string;
  export default text;
}
