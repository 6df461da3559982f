/**
 * The system tools some tests run for real. A test that needs one calls {@link requireTool} first,
 * so a machine without it fails with the tool's name and the command that installs it, not with
 * an ENOENT or an empty output further on.
 */
import { accessSync, constants } from "node:fs";
import path from "node:path";

/** Each tool the tests run, and the Debian package scripts/test-tools.sh installs it from. */
export const TOOL_PACKAGES = {
  nginx: "nginx",
  "cloud-init": "cloud-init",
  shellcheck: "shellcheck",
  python3: "python3",
  curl: "curl",
  openssl: "openssl",
  sshd: "openssh-server",
  ssh: "openssh-client",
  "ssh-keygen": "openssh-client",
  "ssh-keyscan": "openssh-client",
} as const;

/** A tool name from {@link TOOL_PACKAGES}. */
export type Tool = keyof typeof TOOL_PACKAGES;

/** Folders sshd is found in on Debian and Ubuntu, which a user's PATH often lacks. */
const SBIN = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `tool` is on `searchPath` (and, for sshd, in the sbin folders); undefined when absent. */
export function findTool(tool: Tool, searchPath: string = process.env.PATH ?? ""): string | undefined {
  const dirs = [...searchPath.split(path.delimiter).filter(Boolean), ...(tool === "sshd" ? SBIN : [])];
  return dirs.map((d) => path.join(d, tool)).find(executable);
}

/** What a test says when `tool` is missing: its name, and both ways to install it. */
export function missingToolMessage(tool: Tool): string {
  return (
    `${tool} is not installed (not found on PATH), and this test runs it for real. ` +
    "Install the test tools with `bash scripts/test-tools.sh`, or: " +
    `sudo apt-get install -y --no-install-recommends ${TOOL_PACKAGES[tool]}`
  );
}

/** Throw, naming the tool and its install command, unless every tool given is on `searchPath`. */
export function requireTool(tools: Tool | readonly Tool[], searchPath: string = process.env.PATH ?? ""): void {
  for (const tool of typeof tools === "string" ? [tools] : tools) {
    if (findTool(tool, searchPath) === undefined) throw new Error(missingToolMessage(tool));
  }
}
