/**
 * Where the smoke client finds its endpoint and the machine's status: Pulumi stack outputs piped
 * in or read from a file, the same outputs read through the Pulumi CLI, and the bootstrap status
 * document through the proxy. Each failure becomes one plain sentence for the CLI.
 */
import { closeSync, existsSync, openSync, unlinkSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { UserError } from "../errors/userError";
import { pulumiFailure, pulumiWorkspace, type StackWorkspace } from "./workspace";

/** A failure to read the endpoint or the status, worded for the user. */
export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SourceError";
  }
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** Parse `pulumi stack output --json --show-secrets` from a file, or from stdin when from is "-". */
export async function readOutputsJson(from: string, stdin: Readable): Promise<unknown> {
  const where = from === "-" ? "stdin" : from;
  let text: string;
  try {
    text = from === "-" ? await readAll(stdin) : await readFile(from, "utf8");
  } catch (e) {
    throw new SourceError(`cannot read stack outputs from ${where}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (text.trim() === "") {
    throw new SourceError(
      `no stack outputs on ${where}: pipe in \`pulumi stack output --json --show-secrets\`, or give --url and --api-key`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SourceError(
      `the stack outputs on ${where} are not JSON: expected \`pulumi stack output --json --show-secrets\``,
    );
  }
}

/**
 * The outputs of a stack of this project, secrets shown (the smoke client needs the API key), read
 * with `pulumi stack output --stack`: the user's selected stack stays as it was.
 */
export async function readStackOutputs(
  stackName: string,
  workspace: StackWorkspace = pulumiWorkspace(),
): Promise<Record<string, unknown>> {
  try {
    return await workspace.outputs(stackName, { showSecrets: true });
  } catch (e) {
    throw new SourceError(`cannot read the outputs of stack "${stackName}": ${pulumiFailure(e)}`);
  }
}

/** GET the bootstrap status document with the key; the body as parsed JSON. */
export async function fetchStatus(
  statusUrl: string,
  apiKey: string,
  timeoutSeconds: number,
  fetchImpl: typeof fetch = fetch,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetchImpl(statusUrl, {
      headers: { Authorization: `Bearer ${apiKey}` },
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
  } catch (e) {
    const cause =
      e instanceof Error && e.cause instanceof Error ? e.cause.message : e instanceof Error ? e.message : String(e);
    throw new SourceError(`cannot reach ${statusUrl}: ${cause} (the machine may still be booting)`);
  }
  if (res.status === 401 || res.status === 403)
    throw new SourceError(`${statusUrl} refused the API key (HTTP ${res.status})`);
  if (res.status === 404)
    throw new SourceError(`${statusUrl} has no status document (HTTP 404): is this endpoint a qwen3-serve machine?`);
  if (!res.ok)
    throw new SourceError(
      `${statusUrl} answered HTTP ${res.status} (the proxy is up but the status is not readable yet)`,
    );
  try {
    return (await res.json()) as unknown;
  } catch {
    throw new SourceError(`${statusUrl} did not answer JSON`);
  }
}

const WRITE_FAILURES: Readonly<Record<string, string>> = {
  ENOENT: "its folder does not exist",
  ENOTDIR: "a part of its folder is a file",
  EISDIR: "it is a folder",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "the file system is read-only",
};

/**
 * Prove a results file can be written before a run spends minutes on the endpoint: open it for
 * appending (which changes nothing in an existing file), and remove it again if this made it.
 */
export function checkWritable(flag: string, file: string): void {
  const existed = existsSync(file);
  try {
    closeSync(openSync(file, "a"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    throw new UserError({
      key: flag,
      value: file,
      problem: `cannot be written: ${WRITE_FAILURES[code] ?? (e instanceof Error ? e.message : String(e))}${code === "" ? "" : ` (${code})`}.`,
      hint: `Give a file in an existing folder you can write to, e.g. ${flag} results.json.`,
    });
  }
  if (!existed) unlinkSync(file);
}
