/**
 * The bake's EC2 flow behind {@link BakeEc2}, so tests run it against a fake that answers like EC2:
 * check the instance, optionally stop it and wait, CreateImage (with its reboot by default, NoReboot
 * only on a stopped instance), start it again, and poll until the image is available. Decisions live
 * in ./rules.ts. The SDK loads on first use.
 *
 * CreateImage reboots by default "so that it can take snapshots of the attached volumes while data
 * is at rest"; with NoReboot "we can't guarantee the file system integrity of the created image"
 * (EC2 API reference, CreateImage, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html,
 * as quoted in amazonka-ec2 2.0's generated docs; read 2026-11-30). So NoReboot is used only on an
 * instance this flow stopped first, whose volumes are quiescent.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import type { Tag } from "./rules";

/** An instance as the bake needs it: its state and, for a fleet replica, its group. */
export interface BakeInstance {
  /** EC2 state name: pending, running, stopping, stopped, ... */
  readonly state: string;
  /** The `aws:autoscaling:groupName` tag, which Auto Scaling puts on its instances. */
  readonly group?: string | undefined;
}

/** The EC2 calls of a bake, in one region. */
export interface BakeEc2 {
  /** DescribeInstances for one id; null for InvalidInstanceID.NotFound. */
  describeInstance(instanceId: string): Promise<BakeInstance | null>;
  /** CreateImage with tags on the image and its snapshots; the new image id. */
  createImage(req: {
    readonly instanceId: string;
    readonly name: string;
    readonly noReboot: boolean;
    readonly tags: readonly Tag[];
  }): Promise<string>;
  /** DescribeImages for one id: its state (pending, available, failed, ...) and EC2's reason for a failure. */
  imageState(imageId: string): Promise<{ readonly state: string; readonly reason?: string | undefined }>;
  stopInstance(instanceId: string): Promise<void>;
  startInstance(instanceId: string): Promise<void>;
}

/** How a bake waits: the pause between polls and the most polls before it gives up. */
export interface BakeWaits {
  readonly sleep: (ms: number) => Promise<void>;
  readonly pollMs: number;
  /** Polls of the image: snapshots of tens of GB take many minutes. */
  readonly imagePolls: number;
  /** Polls of the instance's state after a stop. */
  readonly instancePolls: number;
}

/** A bake that could not finish, worded for the user. */
export class BakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BakeError";
  }
}

/** Poll until `done` says the value is final; throws BakeError after the limit. */
async function pollUntil<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  waits: BakeWaits,
  limit: number,
  what: string,
): Promise<T> {
  for (let i = 0; i < limit; i++) {
    const v = await read();
    if (done(v)) return v;
    await waits.sleep(waits.pollMs);
  }
  throw new BakeError(`gave up waiting for ${what}`);
}

/** What the bake does, in order, for the log. */
export interface BakeRequest {
  readonly instanceId: string;
  readonly name: string;
  readonly tags: readonly Tag[];
  /** Stop first, image with NoReboot, start again. */
  readonly stop: boolean;
}

/** Check that the instance exists, is running and (for a fleet) belongs to the group. */
export async function checkInstance(ec2: BakeEc2, instanceId: string, group: string | undefined): Promise<void> {
  const inst = await ec2.describeInstance(instanceId);
  if (inst === null)
    throw new BakeError(`EC2 does not know instance ${instanceId} in this region (InvalidInstanceID.NotFound)`);
  if (group !== undefined && inst.group !== group)
    throw new BakeError(`instance ${instanceId} is not a replica of Auto Scaling group ${group}`);
  if (inst.state !== "running")
    throw new BakeError(`instance ${instanceId} is ${inst.state}, not running: start it and wait until it is ready`);
}

/** Stop the instance and wait until EC2 reports it stopped. */
async function stopAndWait(
  ec2: BakeEc2,
  instanceId: string,
  waits: BakeWaits,
  log: (t: string) => void,
): Promise<void> {
  log(`Stopping ${instanceId} so its volumes are at rest.\n`);
  await ec2.stopInstance(instanceId);
  await pollUntil(
    () => ec2.describeInstance(instanceId),
    (i) => i?.state === "stopped",
    waits,
    waits.instancePolls,
    `${instanceId} to stop`,
  );
}

/**
 * Create the image and wait until it is available; with `stop`, stop first and start again after
 * CreateImage returns (the snapshots are taken from that point on, so the instance may run again).
 * Returns the image id; throws BakeError when the image fails or the wait runs out.
 */
export async function bake(
  ec2: BakeEc2,
  req: BakeRequest,
  waits: BakeWaits,
  log: (t: string) => void,
): Promise<string> {
  if (req.stop) await stopAndWait(ec2, req.instanceId, waits, log);
  log(
    req.stop
      ? "Creating the image (no reboot: the instance is stopped).\n"
      : "Creating the image; EC2 reboots the instance for it.\n",
  );
  let imageId: string;
  try {
    imageId = await ec2.createImage({ instanceId: req.instanceId, name: req.name, noReboot: req.stop, tags: req.tags });
  } finally {
    if (req.stop) {
      log(`Starting ${req.instanceId} again.\n`);
      await ec2.startInstance(req.instanceId);
    }
  }
  log(`Waiting for ${imageId} to become available (snapshots of large volumes take minutes).\n`);
  const final = await pollUntil(
    () => ec2.imageState(imageId),
    (s) => s.state !== "pending",
    waits,
    waits.imagePolls,
    `image ${imageId}`,
  );
  if (final.state !== "available")
    throw new BakeError(`image ${imageId} is ${final.state}${final.reason === undefined ? "" : `: ${final.reason}`}`);
  return imageId;
}

/** The real EC2 calls in one region, credentials from the default chain. */
export function sdkBakeEc2(region: string): BakeEc2 {
  let sdk: Promise<{ m: typeof Ec2Sdk; c: Ec2Sdk.EC2Client }> | undefined;
  const client = () => {
    sdk ??= import("@aws-sdk/client-ec2").then((m) => ({ m, c: new m.EC2Client({ region }) }));
    return sdk;
  };
  return {
    async describeInstance(instanceId) {
      const { m, c } = await client();
      try {
        const out = await c.send(new m.DescribeInstancesCommand({ InstanceIds: [instanceId] }));
        const i = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((x) => x.InstanceId === instanceId);
        if (i === undefined) return null;
        const group = i.Tags?.find((t) => t.Key === "aws:autoscaling:groupName")?.Value;
        return { state: i.State?.Name ?? "unknown", group };
      } catch (e) {
        if (e instanceof Error && e.name === "InvalidInstanceID.NotFound") return null;
        throw e;
      }
    },
    async createImage(req) {
      const { m, c } = await client();
      const tags = req.tags.map((t) => ({ Key: t.Key, Value: t.Value }));
      // TagSpecifications on CreateImage tag the AMI (ResourceType image) and every snapshot it
      // makes (snapshot) at creation (@aws-sdk/client-ec2 3.1169.0 CreateImageRequest.TagSpecifications doc).
      const out = await c.send(
        new m.CreateImageCommand({
          InstanceId: req.instanceId,
          Name: req.name,
          NoReboot: req.noReboot,
          TagSpecifications: [
            { ResourceType: "image", Tags: tags },
            { ResourceType: "snapshot", Tags: tags },
          ],
        }),
      );
      if (out.ImageId === undefined) throw new BakeError("CreateImage returned no image id");
      return out.ImageId;
    },
    async imageState(imageId) {
      const { m, c } = await client();
      try {
        const out = await c.send(new m.DescribeImagesCommand({ ImageIds: [imageId] }));
        const image = out.Images?.[0];
        return { state: image?.State ?? "pending", reason: image?.StateReason?.Message };
      } catch (e) {
        // Just after CreateImage, DescribeImages may not know the id yet (eventual consistency): still pending.
        if (e instanceof Error && e.name === "InvalidAMIID.NotFound") return { state: "pending" };
        throw e;
      }
    },
    async stopInstance(instanceId) {
      const { m, c } = await client();
      await c.send(new m.StopInstancesCommand({ InstanceIds: [instanceId] }));
    },
    async startInstance(instanceId) {
      const { m, c } = await client();
      await c.send(new m.StartInstancesCommand({ InstanceIds: [instanceId] }));
    },
  };
}
