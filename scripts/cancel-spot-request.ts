/**
 * Cancels a stack's persistent spot request; run by the AWS target's cleanup step when the spot
 * instance is destroyed or replaced, before the instance is terminated (terminating it first would
 * reopen the request and EC2 would launch an untracked replacement). Settings from the
 * environment: QS_SPOT_REQUEST_ID, AWS_REGION; credentials from the SDK's default chain.
 * Exit 0 when the request is cancelled or already gone; 1 otherwise, so the destroy stops
 * before the instance is terminated.
 */
import { CancelSpotInstanceRequestsCommand, EC2Client } from "@aws-sdk/client-ec2";

async function main(): Promise<number> {
  const id = process.env.QS_SPOT_REQUEST_ID ?? "";
  if (id === "") return 0;
  const region = process.env.AWS_REGION;
  try {
    const client = new EC2Client(region === undefined || region === "" ? {} : { region });
    const out = await client.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [id] }));
    const state = out.CancelledSpotInstanceRequests?.[0]?.State ?? "cancelled";
    process.stdout.write(`spot request ${id}: ${state}\n`);
    return 0;
  } catch (e) {
    if (e instanceof Error && e.name === "InvalidSpotInstanceRequestID.NotFound") return 0;
    process.stderr.write(
      `could not cancel spot request ${id} in ${region ?? "the default region"}: ${String(e)}\n` +
        `Cancel it with \`aws ec2 cancel-spot-instance-requests --spot-instance-request-ids ${id}\` ` +
        `before the instance is terminated.\n`,
    );
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${String(e)}\n`);
    process.exit(1);
  },
);
