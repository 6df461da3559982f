/**
 * Waits until the AWS target's machine is terminated; run as the delete of its `<name>-terminated`
 * command step, after the fleet is deleted and before the security group, instance profile and
 * launch templates are (components/targets/awsTermination.ts says why). Settings from the
 * environment: AWS_REGION, QS_TAG_PROJECT, QS_TAG_STACK, QS_TAG_COMPONENT, QS_POLL_SECONDS (default 5),
 * QS_TIMEOUT_SECONDS (default 900); credentials from the SDK's default chain.
 * Exit 0 when no instance with those tags is left but terminated ones; 1 on timeout or an AWS error, so
 * the destroy stops before the security group; 2 on a missing setting.
 */
import { sdkListInstances, settingsFromEnv, timeoutLine, waitTerminated } from "../components/targets/awsTermination";

async function main(): Promise<number> {
  const s = settingsFromEnv(process.env);
  if (typeof s === "string") {
    process.stderr.write(`wait-terminated: ${s}\n`);
    return 2;
  }
  try {
    const r = await waitTerminated(s, sdkListInstances(), (line) => process.stdout.write(`${line}\n`));
    if (r.done) return 0;
    process.stderr.write(`wait-terminated: ${timeoutLine(s, r.ids)}\n`);
  } catch (e) {
    const reason = e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
    process.stderr.write(`wait-terminated: could not list the instances in ${s.region}: ${reason}\n`);
  }
  return 1;
}

// An exit, not exitCode: the SDK's keep-alive sockets would hold the process open.
void main().then((code) => process.exit(code));
