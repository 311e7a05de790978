/**
 * Builds dist/cloud-notifyd: one self-contained executable (Bun runtime + our bundle).
 * Usage: bun run build.ts [--target=bun-linux-x64] [--outfile=dist/cloud-notifyd]
 */
import { chmodSync, statSync } from "node:fs";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const outfile = arg("outfile") ?? "dist/cloud-notifyd";
const target = arg("target");

const result = await Bun.build({
  entrypoints: ["./src/main.ts"],
  compile: target ? { target: target as Bun.Build.CompileTarget, outfile } : { outfile },
  minify: true,
  bytecode: true,
  format: "esm",
  sourcemap: "linked",
  define: { "process.env.NODE_ENV": '"production"' },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
chmodSync(outfile, 0o755);
console.log(`built ${outfile} (${(statSync(outfile).size / 1048576).toFixed(1)} MiB)`);
