/**
 * Cost so far this month (components/status/cost.ts) from state-transition histories and scaling
 * activities, with hand-worked figures; and the readers (components/status/history.ts) against fakes that
 * answer with the shapes CloudTrail LookupEvents and Auto Scaling DescribeScalingActivities document.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as AsgSdk from "@aws-sdk/client-auto-scaling";
import type * as CtSdk from "@aws-sdk/client-cloudtrail";
import {
  fleetCost,
  machineCost,
  type MachineCostInput,
  monthOf,
  type ReplicaActivity,
  type StateTransition,
} from "../components/status/cost";
import {
  cloudTrailHistory,
  type DescribeActivities,
  type LookupEvents,
  type LookupRequest,
  scalingActivityHistory,
} from "../components/status/history";

const t = (iso: string): number => Date.parse(iso);
const NOW = t("2026-11-30T12:00:00Z");
const MONTH_START = t("2026-11-01T00:00:00Z");
/** g6e.xlarge on-demand in us-east-1, per the catalog. */
const PRICE = 1.861;
const ESTIMATE_NOTE =
  "estimate at the catalog on-demand price of $1.861 per hour: no discounts (Savings Plans, Reserved Instances, " +
  "credits); EBS volumes (billed even while stopped), data transfer and public IPv4 addresses are not included";

const start = (iso: string): StateTransition => ({ at: t(iso), state: "pending", cause: "user" });
const stop = (iso: string): StateTransition => ({ at: t(iso), state: "stopping", cause: "user" });

function machine(items: StateTransition[], current: MachineCostInput["current"]): MachineCostInput {
  return { now: NOW, pricePerHour: PRICE, market: "on-demand", current, history: { kind: "read", items } };
}

describe("monthOf: the calendar month (UTC) that holds an instant", () => {
  it("its first instant and label, at month and year ends and on a leap day", () => {
    assert.deepEqual(monthOf(t("2026-11-30T23:59:59.999Z")), { start: t("2026-11-01T00:00:00Z"), label: "2026-11" });
    assert.deepEqual(monthOf(t("2026-12-01T00:00:00Z")), { start: t("2026-12-01T00:00:00Z"), label: "2026-12" });
    assert.deepEqual(monthOf(t("2027-01-01T00:00:00Z")), { start: t("2027-01-01T00:00:00Z"), label: "2027-01" });
    assert.deepEqual(monthOf(t("2028-02-29T12:00:00Z")), { start: t("2028-02-01T00:00:00Z"), label: "2028-02" });
  });
});

describe("machineCost: one machine's running hours this month x the catalog price", () => {
  it("a stop and start within the month: 10 h + 4.5 h = 14.5 h x $1.861 = $26.98, from CloudTrail events", () => {
    const c = machineCost(
      machine(
        [
          start("2026-11-10T08:00:00Z"),
          stop("2026-11-10T18:00:00Z"),
          start("2026-11-20T09:00:00Z"),
          stop("2026-11-20T13:30:00Z"),
        ],
        { state: "stopped", launchedAt: t("2026-11-20T09:00:40Z"), stoppedAt: t("2026-11-20T13:30:20Z") },
      ),
    );
    assert.deepEqual(c, {
      usd: 26.98,
      hours: 14.5,
      basis: "CloudTrail events",
      month: "2026-11",
      pricePerHour: PRICE,
      kind: "estimate",
      notes: [ESTIMATE_NOTE],
    });
  });

  it("started last month and running now, no event this month: 708 h from the month's first instant (launch time only), and says so", () => {
    const c = machineCost(machine([], { state: "running", launchedAt: t("2026-10-28T10:00:00Z") }));
    // 2026-11-01T00:00Z to 2026-11-30T12:00Z = 29.5 days = 708 h; x $1.861 = $1317.588.
    assert.equal(c.hours, 708);
    assert.equal(c.usd, 1317.59);
    assert.equal(c.basis, "launch time only");
    assert.deepEqual(c.notes, [
      ESTIMATE_NOTE,
      "estimate from launch time only (no CloudTrail events for the instance this month): runs before the last start this month are not counted",
      "running since 2026-10-28T10:00Z, before the month began: counted from 2026-11-01T00:00Z",
    ]);
  });

  it("started last month, stopped on the 5th and started again on the 29th: 96 h + 24 h = 120 h = $223.32, counted from the month's start", () => {
    const c = machineCost(
      machine([stop("2026-11-05T00:00:00Z"), start("2026-11-29T12:00:00Z")], {
        state: "running",
        launchedAt: t("2026-11-29T12:00:30Z"),
      }),
    );
    assert.equal(c.hours, 120);
    assert.equal(c.usd, 223.32);
    assert.equal(c.basis, "CloudTrail events");
    assert.deepEqual(c.notes, [
      ESTIMATE_NOTE,
      "running when the month began (started before it): counted from 2026-11-01T00:00Z",
    ]);
  });

  it("a spot interruption ends the interval at EC2's BidEvictedEvent: 6.25 h x $2 spot = $12.50, and says so", () => {
    const c = machineCost({
      now: NOW,
      pricePerHour: 2,
      market: "spot",
      current: { state: "terminated" },
      history: {
        kind: "read",
        items: [
          start("2026-11-29T00:00:00Z"),
          { at: t("2026-11-29T06:15:00Z"), state: "terminated", cause: "spot-interruption" },
        ],
      },
    });
    assert.equal(c.hours, 6.25);
    assert.equal(c.usd, 12.5);
    assert.deepEqual(c.notes, [
      "estimate at the catalog spot price of $2.000 per hour (spot prices move; the catalog's is a snapshot): no " +
        "discounts (Savings Plans, Reserved Instances, credits); EBS volumes (billed even while stopped), data " +
        "transfer and public IPv4 addresses are not included",
      "spot capacity taken back by EC2 at 2026-11-29T06:15Z: counted to then",
    ]);
  });

  it("a month boundary: October's runs are ignored, the run over midnight is clipped to 3 h, plus 1 h = 4 h = $7.44", () => {
    const c = machineCost(
      machine(
        [
          start("2026-10-30T20:00:00Z"),
          stop("2026-10-31T02:00:00Z"),
          start("2026-10-31T22:00:00Z"),
          stop("2026-11-01T03:00:00Z"),
          start("2026-11-02T00:00:00Z"),
          stop("2026-11-02T01:00:00Z"),
        ],
        { state: "stopped", stoppedAt: t("2026-11-02T01:00:10Z") },
      ),
    );
    assert.equal(c.hours, 4);
    assert.equal(c.usd, 7.44);
    assert.equal(c.notes[1], "running when the month began (started before it): counted from 2026-11-01T00:00Z");
  });

  it("no events at all: the run since launch time (3 h = $5.58), basis 'launch time only', and the note says it is an estimate from launch time", () => {
    const c = machineCost(machine([], { state: "running", launchedAt: t("2026-11-30T09:00:00Z") }));
    assert.equal(c.hours, 3);
    assert.equal(c.usd, 5.58);
    assert.equal(c.basis, "launch time only");
    assert.deepEqual(c.notes, [
      ESTIMATE_NOTE,
      "estimate from launch time only (no CloudTrail events for the instance this month): runs before the last start this month are not counted",
    ]);
  });

  it("duplicates and out-of-order events count once, in time order: 10 h = $18.61", () => {
    const c = machineCost(
      machine(
        [
          stop("2026-11-10T18:00:00Z"),
          start("2026-11-10T08:00:00Z"),
          stop("2026-11-10T18:00:00Z"),
          start("2026-11-10T08:00:00Z"),
        ],
        { state: "stopped", stoppedAt: t("2026-11-10T18:00:05Z") },
      ),
    );
    assert.equal(c.hours, 10);
    assert.equal(c.usd, 18.61);
    assert.deepEqual(c.notes, [ESTIMATE_NOTE]);
  });

  it("the watchdog's poweroff (no event) is closed at EC2's stop time from StateTransitionReason: 1.5 h, with a note", () => {
    const c = machineCost(
      machine([start("2026-11-29T08:00:00Z")], { state: "stopped", stoppedAt: t("2026-11-29T09:30:00Z") }),
    );
    assert.equal(c.hours, 1.5);
    assert.equal(
      c.notes[1],
      "stopped from inside the machine at 2026-11-29T09:30Z (the idle watchdog's poweroff; no CloudTrail event)",
    );
  });

  it("a start while already counted as running (a stop left no event) counts through, 50 h, and says it may overstate", () => {
    const c = machineCost(
      machine([start("2026-11-10T08:00:00Z"), start("2026-11-12T08:00:00Z"), stop("2026-11-12T10:00:00Z")], {
        state: "stopped",
      }),
    );
    assert.equal(c.hours, 50);
    assert.match(c.notes[1] ?? "", /^1 start\(s\) while already counted as running: .* may be overstated$/);
  });

  it("an unreadable history falls back to launch time, with the reader's reason in the note", () => {
    const c = machineCost({
      ...machine([], { state: "running", launchedAt: t("2026-11-30T10:00:00Z") }),
      history: { kind: "unreadable", reason: "CloudTrail LookupEvents failed: AccessDeniedException: denied" },
    });
    assert.equal(c.hours, 2);
    assert.equal(c.basis, "launch time only");
    assert.equal(
      c.notes[1],
      "estimate from launch time only (CloudTrail LookupEvents failed: AccessDeniedException: denied): " +
        "runs before the last start this month are not counted",
    );
  });
});

describe("fleetCost: replica-hours from scaling activities x the price of a replica-hour", () => {
  const activities: ReplicaActivity[] = [
    // Still running: launched yesterday 10:00, 26 h to now.
    {
      instanceId: "i-0aaa",
      kind: "launch",
      start: t("2026-11-29T10:00:00Z"),
      end: t("2026-11-29T10:03:00Z"),
      status: "Successful",
    },
    // Overlaps the first: 11:00 to its termination's end at 15:00, 4 h.
    {
      instanceId: "i-0bbb",
      kind: "launch",
      start: t("2026-11-29T11:00:00Z"),
      end: t("2026-11-29T11:02:00Z"),
      status: "Successful",
    },
    {
      instanceId: "i-0bbb",
      kind: "terminate",
      start: t("2026-11-29T14:58:00Z"),
      end: t("2026-11-29T15:00:00Z"),
      status: "Successful",
    },
    // Launched in October (its launch is in the activities): 6 h of it fall in November.
    {
      instanceId: "i-0ccc",
      kind: "launch",
      start: t("2026-10-31T20:00:00Z"),
      end: t("2026-10-31T20:02:00Z"),
      status: "Successful",
    },
    {
      instanceId: "i-0ccc",
      kind: "terminate",
      start: t("2026-11-01T05:58:00Z"),
      end: t("2026-11-01T06:00:00Z"),
      status: "Successful",
    },
    // A launch that failed ran nothing; a replica entirely in October adds nothing.
    {
      instanceId: "i-0ddd",
      kind: "launch",
      start: t("2026-11-15T00:00:00Z"),
      end: t("2026-11-15T00:01:00Z"),
      status: "Failed",
    },
    {
      instanceId: "i-0eee",
      kind: "launch",
      start: t("2026-10-20T00:00:00Z"),
      end: t("2026-10-20T00:02:00Z"),
      status: "Successful",
    },
    {
      instanceId: "i-0eee",
      kind: "terminate",
      start: t("2026-10-25T00:00:00Z"),
      end: t("2026-10-25T00:02:00Z"),
      status: "Successful",
    },
  ];

  it("two overlapping replicas (one still running) and one over the month boundary: 26 + 4 + 6 = 36 replica-hours = $67.00", () => {
    const c = fleetCost({
      now: NOW,
      pricePerReplicaHour: PRICE,
      market: "on-demand",
      history: { kind: "read", items: activities },
    });
    assert.equal(c.hours, 36);
    assert.equal(c.usd, 67);
    assert.equal(c.basis, "scaling activities");
    assert.deepEqual(c.notes, [
      "estimate at the catalog on-demand price of $1.861 per replica-hour: no discounts (Savings Plans, Reserved " +
        "Instances, credits); EBS volumes (billed even while stopped), data transfer, the load balancer (ALB hours " +
        "and LCUs) and public IPv4 addresses are not included",
      "3 replica(s) ran this month",
    ]);
  });

  it("a replica whose launch is older than the activities and one there now with none are counted from the month's start", () => {
    const c = fleetCost({
      now: NOW,
      pricePerReplicaHour: 1,
      market: "on-demand",
      history: {
        kind: "read",
        items: [
          {
            instanceId: "i-0fff",
            kind: "terminate",
            start: t("2026-11-02T00:00:00Z"),
            end: t("2026-11-02T00:00:00Z"),
            status: "Successful",
          },
        ],
      },
      current: [{ instanceId: "i-0abc" }],
    });
    // i-0fff: 24 h (Nov 1 to Nov 2); i-0abc: 708 h (the whole month to now).
    assert.equal(c.hours, 732);
    assert.equal(c.notes[2], "2 replica(s) launched before the month began: counted from 2026-11-01T00:00Z");
  });

  it("duplicate activities count a replica once", () => {
    const once = activities.slice(0, 3);
    const c = fleetCost({
      now: NOW,
      pricePerReplicaHour: PRICE,
      market: "on-demand",
      history: { kind: "read", items: [...once, ...once].reverse() },
    });
    assert.equal(c.hours, 30);
  });

  it("unreadable activities fall back to the replicas there now from their launch times, with the reason", () => {
    const c = fleetCost({
      now: NOW,
      pricePerReplicaHour: PRICE,
      market: "on-demand",
      history: { kind: "unreadable", reason: "Auto Scaling DescribeScalingActivities failed: AccessDenied: no" },
      current: [{ instanceId: "i-0aaa", launchedAt: t("2026-11-30T10:00:00Z") }],
    });
    assert.equal(c.hours, 2);
    assert.equal(c.basis, "launch time only");
    assert.equal(
      c.notes[1],
      "estimate from launch time only (Auto Scaling DescribeScalingActivities failed: AccessDenied: no): the 1 " +
        "replica(s) there now, from their launch; replicas already gone are not counted",
    );
  });
});

/** A CloudTrail event as LookupEvents returns it: the record itself is JSON text in CloudTrailEvent. */
function trailEvent(
  name: string,
  iso: string,
  instanceId: string | null,
  record: Record<string, unknown> = {},
): CtSdk.Event {
  return {
    EventId: `${name}-${iso}`,
    EventName: name,
    EventTime: new Date(iso),
    EventSource: "ec2.amazonaws.com",
    ReadOnly: "false",
    ...(instanceId !== null ? { Resources: [{ ResourceType: "AWS::EC2::Instance", ResourceName: instanceId }] } : {}),
    CloudTrailEvent: JSON.stringify({ eventVersion: "1.08", eventName: name, eventTime: iso, ...record }),
  };
}

/** A LookupEvents fake over a fixed event list: one attribute, the time range, two events a page. */
function fakeTrail(events: CtSdk.Event[]): { lookup: LookupEvents; requests: LookupRequest[] } {
  const requests: LookupRequest[] = [];
  const lookup: LookupEvents = async (_region, request) => {
    requests.push(request);
    const { key, value } = request.attribute;
    const hits = events.filter(
      (e) =>
        (key === "EventName" ? e.EventName === value : (e.Resources ?? []).some((r) => r.ResourceName === value)) &&
        (e.EventTime?.getTime() ?? 0) >= request.startTime.getTime() &&
        (e.EventTime?.getTime() ?? 0) <= request.endTime.getTime(),
    );
    const from = Number(request.nextToken ?? "0");
    const page = hits.slice(from, from + 2);
    return { Events: page, ...(from + 2 < hits.length ? { NextToken: String(from + 2) } : {}) };
  };
  return { lookup, requests };
}

describe("cloudTrailHistory: a machine's transitions from CloudTrail LookupEvents", () => {
  const ID = "i-0123456789abcdef0";
  const events = [
    trailEvent("RunInstances", "2026-11-29T00:00:00Z", ID),
    trailEvent("DescribeInstances", "2026-11-29T00:05:00Z", ID),
    // A refused call is recorded too, with its errorCode: it changed nothing.
    trailEvent("StopInstances", "2026-11-29T01:00:00Z", ID, { errorCode: "Client.UnauthorizedOperation" }),
    trailEvent("StopInstances", "2026-11-29T02:00:00Z", ID),
    trailEvent("StartInstances", "2026-11-29T03:00:00Z", ID),
    // EC2's interruption: an AwsServiceEvent naming the instance only in serviceEventDetails.instanceIdSet.
    trailEvent("BidEvictedEvent", "2026-11-29T06:15:00Z", null, {
      eventType: "AwsServiceEvent",
      serviceEventDetails: { instanceIdSet: [ID] },
    }),
    trailEvent("BidEvictedEvent", "2026-11-29T07:00:00Z", null, {
      serviceEventDetails: { instanceIdSet: ["i-0other"] },
    }),
  ];

  it("maps Run/Start/Stop and BidEvictedEvent to transitions over every page, skipping refused calls and other events", async () => {
    const { lookup, requests } = fakeTrail(events);
    const h = await cloudTrailHistory(lookup).transitions(ID, "us-east-1", MONTH_START, NOW, true);
    assert.deepEqual(h, {
      kind: "read",
      items: [
        { at: t("2026-11-29T00:00:00Z"), state: "pending", cause: "user" },
        { at: t("2026-11-29T02:00:00Z"), state: "stopping", cause: "user" },
        { at: t("2026-11-29T03:00:00Z"), state: "pending", cause: "user" },
        { at: t("2026-11-29T06:15:00Z"), state: "terminated", cause: "spot-interruption" },
      ],
    });
    // Five ResourceName hits at two a page is three pages; two BidEvictedEvents is one.
    assert.deepEqual(
      requests.map((r) => [r.attribute.key, r.attribute.value, r.nextToken ?? null]),
      [
        ["ResourceName", ID, null],
        ["ResourceName", ID, "2"],
        ["ResourceName", ID, "4"],
        ["EventName", "BidEvictedEvent", null],
      ],
    );
    assert.deepEqual([requests[0]?.startTime, requests[0]?.endTime], [new Date(MONTH_START), new Date(NOW)]);
    // Through machineCost: 00:00-02:00 and 03:00-06:15 = 5.25 h.
    const c = machineCost({ now: NOW, pricePerHour: 2, market: "spot", current: { state: "terminated" }, history: h });
    assert.equal(c.hours, 5.25);
  });

  it("an on-demand machine is not looked up among BidEvictedEvents", async () => {
    const { lookup, requests } = fakeTrail(events);
    await cloudTrailHistory(lookup).transitions(ID, "us-east-1", MONTH_START, NOW, false);
    assert.ok(requests.every((r) => r.attribute.key === "ResourceName"));
  });

  it("AccessDenied comes back as the reason, and the cost falls back to launch time with it", async () => {
    const denied: LookupEvents = async () => {
      const e = new Error(
        "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: cloudtrail:LookupEvents",
      );
      e.name = "AccessDeniedException";
      throw e;
    };
    const h = await cloudTrailHistory(denied).transitions(ID, "us-east-1", MONTH_START, NOW, false);
    const reason =
      "CloudTrail LookupEvents failed: AccessDeniedException: User: arn:aws:iam::123456789012:user/dev is not " +
      "authorized to perform: cloudtrail:LookupEvents";
    assert.deepEqual(h, { kind: "unreadable", reason });
    const c = machineCost(machine([], { state: "running", launchedAt: t("2026-11-30T11:00:00Z") }));
    const fallback = machineCost({
      ...machine([], { state: "running", launchedAt: t("2026-11-30T11:00:00Z") }),
      history: h,
    });
    assert.equal(fallback.hours, c.hours);
    assert.equal(fallback.basis, "launch time only");
    assert.ok(fallback.notes[1]?.includes(`(${reason})`), fallback.notes[1]);
  });
});

describe("scalingActivityHistory: a fleet's replica launches and terminations from DescribeScalingActivities", () => {
  /** Activities as the API lists them, newest first, one a page to exercise NextToken. */
  const listed: AsgSdk.Activity[] = [
    {
      ActivityId: "a3",
      AutoScalingGroupName: "qwen3-serve-team",
      Description: "Terminating EC2 instance: i-0bbb",
      Cause:
        "At 2026-11-29T14:58:00Z an instance was taken out of service in response to a difference between desired and actual capacity.",
      StartTime: new Date("2026-11-29T14:58:00Z"),
      EndTime: new Date("2026-11-29T15:00:00Z"),
      StatusCode: "Successful",
      Progress: 100,
    },
    {
      ActivityId: "a2",
      AutoScalingGroupName: "qwen3-serve-team",
      Description: "Launching a new EC2 instance: i-0bbb",
      Cause: "At 2026-11-29T11:00:00Z a user request update of AutoScalingGroup constraints ...",
      StartTime: new Date("2026-11-29T11:00:00Z"),
      EndTime: new Date("2026-11-29T11:02:00Z"),
      StatusCode: "Successful",
      Progress: 100,
    },
    {
      ActivityId: "a1",
      AutoScalingGroupName: "qwen3-serve-team",
      Description:
        "Launching a new EC2 instance.  Status Reason: We currently do not have sufficient g6e.xlarge capacity.",
      Cause:
        "At 2026-11-29T10:00:00Z an instance was started in response to a difference between desired and actual capacity.",
      StartTime: new Date("2026-11-29T10:00:00Z"),
      EndTime: new Date("2026-11-29T10:00:05Z"),
      StatusCode: "Failed",
      Progress: 100,
    },
  ];

  it("parses the instance ids, kinds, times and status over every page; a launch that named no instance is dropped", async () => {
    const tokens: (string | undefined)[] = [];
    const describe: DescribeActivities = async (_region, _group, nextToken) => {
      tokens.push(nextToken);
      const i = Number(nextToken ?? "0");
      return { Activities: listed.slice(i, i + 1), ...(i + 1 < listed.length ? { NextToken: String(i + 1) } : {}) };
    };
    const h = await scalingActivityHistory(describe).activities("qwen3-serve-team", "us-east-1");
    assert.deepEqual(tokens, [undefined, "1", "2"]);
    assert.deepEqual(h, {
      kind: "read",
      items: [
        {
          instanceId: "i-0bbb",
          kind: "terminate",
          start: t("2026-11-29T14:58:00Z"),
          end: t("2026-11-29T15:00:00Z"),
          status: "Successful",
        },
        {
          instanceId: "i-0bbb",
          kind: "launch",
          start: t("2026-11-29T11:00:00Z"),
          end: t("2026-11-29T11:02:00Z"),
          status: "Successful",
        },
      ],
    });
  });

  it("AccessDenied comes back as the reason", async () => {
    const describe: DescribeActivities = async () => {
      const e = new Error("User is not authorized to perform: autoscaling:DescribeScalingActivities");
      e.name = "AccessDenied";
      throw e;
    };
    assert.deepEqual(await scalingActivityHistory(describe).activities("g", "us-east-1"), {
      kind: "unreadable",
      reason:
        "Auto Scaling DescribeScalingActivities failed: AccessDenied: User is not authorized to perform: autoscaling:DescribeScalingActivities",
    });
  });
});
