/**
 * Where the cost arithmetic (./cost.ts) gets its histories: a machine's state changes from CloudTrail
 * LookupEvents, a fleet's replica launches and terminations from Auto Scaling DescribeScalingActivities.
 * Each read sits behind a one-function type so the tests pass fakes that answer like the API; a read
 * that fails (AccessDenied, throttling) comes back as its reason, and the cost falls back to launch time.
 *
 * The AWS SDK clients load on first use (a dynamic import), as components/reaper/adapters.ts does theirs.
 */
import type * as AsgSdk from "@aws-sdk/client-auto-scaling";
import type * as CtSdk from "@aws-sdk/client-cloudtrail";
import type { History, InstanceState, ReplicaActivity, StateTransition, TransitionCause } from "./cost";

/**
 * The CloudTrail events that change a machine's state, and the state each leaves it in. RunInstances and
 * StartInstances put it in pending, StopInstances in stopping, TerminateInstances in shutting-down; a
 * BidEvictedEvent (an AwsServiceEvent, its instance in serviceEventDetails.instanceIdSet) is EC2
 * terminating a spot instance: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/BidEvictedEvent.html
 * and https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html (read 2026-11-30).
 * A poweroff from inside the machine (the idle watchdog's) is no API call, so it has no event here.
 */
export const TRAIL_EVENTS: Readonly<
  Record<string, { readonly state: InstanceState; readonly cause: TransitionCause }>
> = {
  RunInstances: { state: "pending", cause: "user" },
  StartInstances: { state: "pending", cause: "user" },
  StopInstances: { state: "stopping", cause: "user" },
  TerminateInstances: { state: "shutting-down", cause: "user" },
  BidEvictedEvent: { state: "terminated", cause: "spot-interruption" },
};

/** Pages one history read takes at most: 50 CloudTrail events or 100 scaling activities a page. */
export const MAX_PAGES = 20;

/** One LookupEvents request, as the reader makes it: one attribute (the API takes only one), a time range, a page. */
export interface LookupRequest {
  readonly attribute: { readonly key: "ResourceName" | "EventName"; readonly value: string };
  readonly startTime: Date;
  readonly endTime: Date;
  readonly nextToken?: string;
}

/** CloudTrail LookupEvents in a region; a test passes a fake. */
export type LookupEvents = (
  region: string,
  request: LookupRequest,
) => Promise<Pick<CtSdk.LookupEventsCommandOutput, "Events" | "NextToken">>;

/** Auto Scaling DescribeScalingActivities for one group, one page (newest first); a test passes a fake. */
export type DescribeActivities = (
  region: string,
  groupName: string,
  nextToken: string | undefined,
) => Promise<Pick<AsgSdk.DescribeScalingActivitiesCommandOutput, "Activities" | "NextToken">>;

/** A machine's state changes since a time. */
export interface MachineHistoryReader {
  /** Its transitions from `since` to `now` (epoch ms); `spot` also looks for EC2's interruption of it. */
  transitions(
    instanceId: string,
    region: string,
    since: number,
    now: number,
    spot: boolean,
  ): Promise<History<StateTransition>>;
}

/** A fleet's replica launches and terminations. */
export interface FleetHistoryReader {
  /** Every activity Auto Scaling still keeps for the group (six weeks), newest first as it lists them. */
  activities(groupName: string, region: string): Promise<History<ReplicaActivity>>;
}

/** Why a read failed, as a status line says it: the AWS error's name (AccessDeniedException, AccessDenied) and message. */
export const failureReason = (e: unknown): string =>
  e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The event's own record (the CloudTrailEvent JSON text), or an empty one when it is missing or unreadable. */
function recordOf(event: CtSdk.Event): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(event.CloudTrailEvent ?? "{}");
    return isRecord(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** Whether the event names the instance: in its Resources, or (a service event) in serviceEventDetails.instanceIdSet. */
function namesInstance(event: CtSdk.Event, record: Record<string, unknown>, instanceId: string): boolean {
  if ((event.Resources ?? []).some((r) => r.ResourceName === instanceId)) return true;
  const details = record.serviceEventDetails;
  const ids = isRecord(details) ? details.instanceIdSet : undefined;
  return Array.isArray(ids) && ids.includes(instanceId);
}

/**
 * The state change one event made to the instance, or null: another event, another instance, or a call
 * that failed (CloudTrail records refused calls too, with an errorCode in the record).
 */
export function transitionOf(event: CtSdk.Event, instanceId: string): StateTransition | null {
  const kind = TRAIL_EVENTS[event.EventName ?? ""];
  const at = event.EventTime?.getTime();
  if (kind === undefined || at === undefined || !Number.isFinite(at)) return null;
  const record = recordOf(event);
  if (record.errorCode !== undefined) return null;
  return namesInstance(event, record, instanceId) ? { at, ...kind } : null;
}

/** Every page of one lookup, up to {@link MAX_PAGES}. */
async function lookupAll(lookup: LookupEvents, region: string, request: LookupRequest): Promise<CtSdk.Event[]> {
  const events: CtSdk.Event[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const out = await lookup(region, nextToken === undefined ? request : { ...request, nextToken });
    events.push(...(out.Events ?? []));
    nextToken = out.NextToken;
    if (nextToken === undefined) break;
  }
  return events;
}

/**
 * LookupEvents through `@aws-sdk/client-cloudtrail`, one client per region, credentials from the default chain.
 * It answers management events of the last 90 days, at most 50 a page, two requests a second per account and
 * region: https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html (read 2026-11-30).
 */
function sdkLookupEvents(): LookupEvents {
  let sdk: Promise<typeof CtSdk> | undefined;
  const clients = new Map<string, CtSdk.CloudTrailClient>();
  return async (region, request) => {
    sdk ??= import("@aws-sdk/client-cloudtrail");
    const { CloudTrailClient, LookupEventsCommand } = await sdk;
    let client = clients.get(region);
    if (client === undefined) {
      client = new CloudTrailClient({ region });
      clients.set(region, client);
    }
    return client.send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: request.attribute.key, AttributeValue: request.attribute.value }],
        StartTime: request.startTime,
        EndTime: request.endTime,
        MaxResults: 50,
        ...(request.nextToken !== undefined ? { NextToken: request.nextToken } : {}),
      }),
    );
  };
}

/**
 * The machine history from CloudTrail: events naming the instance (ResourceName), and for a spot instance
 * the account's BidEvictedEvents too, since EC2's own event lists the instance in its details.
 */
export function cloudTrailHistory(lookup: LookupEvents = sdkLookupEvents()): MachineHistoryReader {
  return {
    async transitions(instanceId, region, since, now, spot) {
      const range = { startTime: new Date(since), endTime: new Date(now) };
      try {
        const named = await lookupAll(lookup, region, {
          ...range,
          attribute: { key: "ResourceName", value: instanceId },
        });
        const evicted = spot
          ? await lookupAll(lookup, region, { ...range, attribute: { key: "EventName", value: "BidEvictedEvent" } })
          : [];
        const items = [...named, ...evicted].flatMap((e) => transitionOf(e, instanceId) ?? []);
        return { kind: "read", items };
      } catch (e) {
        return { kind: "unreadable", reason: `CloudTrail LookupEvents failed: ${failureReason(e)}` };
      }
    },
  };
}

/**
 * A replica's launch or termination from one scaling activity, or null for any other activity (a launch
 * that failed before an instance existed names none). Auto Scaling describes them as "Launching a new EC2
 * instance: i-…" and "Terminating EC2 instance: i-…", as in https://gist.github.com/watchamcb/fc686c70e8c2660ee7ef;
 * StatusCode Successful, Failed or Cancelled per
 * https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html (both read 2026-11-30).
 */
export function replicaActivityOf(a: AsgSdk.Activity): ReplicaActivity | null {
  const m = /^(Launching a new EC2 instance|Terminating EC2 instance): (i-[0-9a-f]+)/.exec(a.Description ?? "");
  const start = a.StartTime?.getTime();
  if (m === null || m[2] === undefined || start === undefined || !Number.isFinite(start)) return null;
  const end = a.EndTime?.getTime();
  return {
    instanceId: m[2],
    kind: m[1] === "Terminating EC2 instance" ? "terminate" : "launch",
    start,
    ...(end !== undefined && Number.isFinite(end) ? { end } : {}),
    status: a.StatusCode ?? "InProgress",
  };
}

/** DescribeScalingActivities through `@aws-sdk/client-auto-scaling` (the reaper's package), one client per region. */
function sdkDescribeActivities(): DescribeActivities {
  let sdk: Promise<typeof AsgSdk> | undefined;
  const clients = new Map<string, AsgSdk.AutoScalingClient>();
  return async (region, groupName, nextToken) => {
    sdk ??= import("@aws-sdk/client-auto-scaling");
    const { AutoScalingClient, DescribeScalingActivitiesCommand } = await sdk;
    let client = clients.get(region);
    if (client === undefined) {
      client = new AutoScalingClient({ region });
      clients.set(region, client);
    }
    return client.send(
      new DescribeScalingActivitiesCommand({
        AutoScalingGroupName: groupName,
        MaxRecords: 100,
        ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
      }),
    );
  };
}

/** The fleet history from Auto Scaling: every kept activity (six weeks, longer than any month), all pages. */
export function scalingActivityHistory(describe: DescribeActivities = sdkDescribeActivities()): FleetHistoryReader {
  return {
    async activities(groupName, region) {
      try {
        const items: ReplicaActivity[] = [];
        let nextToken: string | undefined;
        for (let page = 0; page < MAX_PAGES; page += 1) {
          const out = await describe(region, groupName, nextToken);
          items.push(...(out.Activities ?? []).flatMap((a) => replicaActivityOf(a) ?? []));
          nextToken = out.NextToken;
          if (nextToken === undefined) break;
        }
        return { kind: "read", items };
      } catch (e) {
        return { kind: "unreadable", reason: `Auto Scaling DescribeScalingActivities failed: ${failureReason(e)}` };
      }
    },
  };
}
