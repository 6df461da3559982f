/**
 * IAM policy evaluation as AWS does it for one identity's policies, so tests can ask "may this
 * role do X on Y?" instead of comparing policy JSON. The rules, from "Policy evaluation logic"
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
 * read 2026-11-30): an explicit Deny in any policy wins; otherwise an Allow allows; otherwise the
 * request is denied by default. Action names match case-insensitively, resources (ARNs)
 * case-sensitively; `*` and `?` are wildcards in both; NotAction and NotResource match whatever
 * the list does not. Conditions are not modelled: a statement with one makes evaluation throw,
 * so no test can pass by ignoring it.
 */
import type { Recorded } from "./pulumiMocks";

/** One policy statement, as IAM reads it. */
export interface Statement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Condition?: unknown;
}

/** An identity policy document. */
export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: Statement | readonly Statement[];
}

/** The outcome of a request. */
export type Decision = "allow" | "explicit-deny" | "implicit-deny";

/**
 * AWS managed policies a role may have attached, with their real documents. Only
 * AmazonSSMManagedInstanceCore, which this project used to attach: v2 (default), as published at
 * https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonSSMManagedInstanceCore.html
 * (edited 2019-05-23; read 2026-11-30).
 */
export const MANAGED_POLICIES: Readonly<Record<string, PolicyDocument>> = {
  "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore": {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Action: [
          "ssm:DescribeAssociation",
          "ssm:GetDeployablePatchSnapshotForInstance",
          "ssm:GetDocument",
          "ssm:DescribeDocument",
          "ssm:GetManifest",
          "ssm:GetParameter",
          "ssm:GetParameters",
          "ssm:ListAssociations",
          "ssm:ListInstanceAssociations",
          "ssm:PutInventory",
          "ssm:PutComplianceItems",
          "ssm:PutConfigurePackageResult",
          "ssm:UpdateAssociationStatus",
          "ssm:UpdateInstanceAssociationStatus",
          "ssm:UpdateInstanceInformation",
        ],
        Resource: "*",
      },
      {
        Effect: "Allow",
        Action: [
          "ssmmessages:CreateControlChannel",
          "ssmmessages:CreateDataChannel",
          "ssmmessages:OpenControlChannel",
          "ssmmessages:OpenDataChannel",
        ],
        Resource: "*",
      },
      {
        Effect: "Allow",
        Action: [
          "ec2messages:AcknowledgeMessage",
          "ec2messages:DeleteMessage",
          "ec2messages:FailMessage",
          "ec2messages:GetEndpoint",
          "ec2messages:GetMessages",
          "ec2messages:SendReply",
        ],
        Resource: "*",
      },
    ],
  },
};

const list = (v: string | readonly string[] | undefined): readonly string[] =>
  v === undefined ? [] : typeof v === "string" ? [v] : v;

/** IAM wildcard match: `*` any run of characters, `?` one character. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive: boolean): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`, caseInsensitive ? "is" : "s").test(value);
}

function matches(s: Statement, action: string, resource: string): boolean {
  if (s.Condition !== undefined)
    throw new Error(`statement ${s.Sid ?? ""} has a Condition, which this evaluator does not model`);
  const actionHit =
    s.Action !== undefined
      ? list(s.Action).some((p) => wildcardMatch(p, action, true))
      : !list(s.NotAction).some((p) => wildcardMatch(p, action, true));
  const resourceHit =
    s.Resource !== undefined
      ? list(s.Resource).some((p) => wildcardMatch(p, resource, false))
      : !list(s.NotResource).some((p) => wildcardMatch(p, resource, false));
  return actionHit && resourceHit;
}

/** Whether the policies, taken together, allow `action` on `resource`. */
export function evaluate(policies: readonly PolicyDocument[], action: string, resource: string): Decision {
  const statements = policies.flatMap((p) =>
    Array.isArray(p.Statement) ? (p.Statement as readonly Statement[]) : [p.Statement as Statement],
  );
  const hits = statements.filter((s) => matches(s, action, resource));
  if (hits.some((s) => s.Effect === "Deny")) return "explicit-deny";
  return hits.some((s) => s.Effect === "Allow") ? "allow" : "implicit-deny";
}

/**
 * Every identity policy the mock saw for a role: its inline RolePolicy documents and the
 * documents of its attached managed policies (throws for a managed policy with no known document,
 * and for policies embedded in the Role itself, which this helper does not read).
 */
export function policiesOfRole(recorded: readonly Recorded[], roleName: string): PolicyDocument[] {
  const role = recorded.find((r) => r.type === "aws:iam/role:Role");
  if (role?.inputs.managedPolicyArns !== undefined || role?.inputs.inlinePolicies !== undefined)
    throw new Error("policies embedded in the Role are not read by this helper");
  const inline = recorded
    .filter((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.inputs.role === roleName)
    .map((r) => JSON.parse(String(r.inputs.policy)) as PolicyDocument);
  const managed = recorded
    .filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" && r.inputs.role === roleName)
    .map((r) => {
      const doc = MANAGED_POLICIES[String(r.inputs.policyArn)];
      if (doc === undefined) throw new Error(`no fixture document for managed policy ${String(r.inputs.policyArn)}`);
      return doc;
    });
  return [...inline, ...managed];
}
