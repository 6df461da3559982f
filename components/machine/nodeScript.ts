/**
 * How a component's command step runs one of this package's Node scripts (the readiness waiter, the AWS destroy wait);
 * command.local.Command runs it with `/bin/sh -c`.
 *
 * The command names everything by absolute path, found from this module's own location: the Node
 * binary running the program, the script, and (for the TypeScript sources) the tsx loader. Pulumi
 * runs a local command in the program's working folder, which for a user of the package is their
 * project, not this one, so a path relative to the working folder would point at nothing there.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { shellQuote } from "../engines/shell";

/** The package's Node scripts that command steps run. */
export type NodeScript = "wait-ready" | "wait-terminated";

/**
 * The absolute path of a package script. The scripts sit at scripts/ beside components/, in the
 * sources (.ts, run under tsx in this repository) and in the build (dist/, compiled .js), so the
 * extension follows this module's own.
 */
export function nodeScriptPath(script: NodeScript, moduleFile: string = __filename): string {
  const ext = path.extname(moduleFile) === ".ts" ? ".ts" : ".js";
  return path.resolve(path.dirname(moduleFile), "..", "..", "scripts", `${script}${ext}`);
}

/** The shell command that runs a package script with this Node, from any working folder. */
export function nodeScriptCommand(script: NodeScript): string {
  const file = nodeScriptPath(script);
  // The sources need tsx; resolved from here, since `--import tsx` would resolve from the working folder.
  const loader = file.endsWith(".ts") ? ["--import", pathToFileURL(require.resolve("tsx")).href] : [];
  return [process.execPath, ...loader, file].map(shellQuote).join(" ");
}
