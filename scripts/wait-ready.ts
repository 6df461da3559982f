/**
 * Waits for a new machine's endpoint, printing bootstrap progress; run by each target's readiness
 * step during `pulumi up`. Settings come from the environment so the API key is never on a
 * command line: QS_BASE_URL, QS_API_KEY, QS_MODEL, QS_TIMEOUT_SECONDS, QS_POLL_SECONDS, and
 * QS_HAS_STATUS=false where no bootstrap serves a status document (the Docker target).
 * Exit 0 when a real chat completion succeeds; 1 with the machine's own reason otherwise.
 */
import { NotReadyError, waitForReady } from "../components/machine/readiness";

function need(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") {
    process.stderr.write(`wait-ready: ${name} is not set\n`);
    process.exit(2);
  }
  return v;
}

async function main(): Promise<number> {
  try {
    await waitForReady({
      baseUrl: need("QS_BASE_URL"),
      apiKey: need("QS_API_KEY"),
      model: need("QS_MODEL"),
      timeoutMs: Number(need("QS_TIMEOUT_SECONDS")) * 1000,
      pollMs: Number(process.env.QS_POLL_SECONDS ?? "10") * 1000,
      hasStatus: process.env.QS_HAS_STATUS !== "false",
      log: (line) => process.stdout.write(`${line}\n`),
    });
    return 0;
  } catch (e) {
    process.stderr.write(`error: ${e instanceof NotReadyError ? e.message : String(e)}\n`);
    return 1;
  }
}

void main().then((code) => {
  process.exitCode = code;
});
