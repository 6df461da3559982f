/**
 * Fleet mode on AWS: the facts an Auto Scaling group behind an Application Load Balancer shares with
 * the replicas' watchdog, the proxy and the tests. Pure: constants and arithmetic from the plan.
 */
import type { EngineName } from "../engines";
import { readinessTimeoutSeconds } from "../machine/render";
import type { Plan } from "../sizing/plan";

/** The `fleet` block of an AWS stack, after defaults. */
export interface FleetSettings {
  /** Replicas kept at all times; 0 lets the fleet go to zero when idle. */
  readonly minReplicas: number;
  /** Most replicas scaling may add. */
  readonly maxReplicas: number;
  /** Requests running + waiting per replica that target tracking keeps the fleet at (vLLM, SGLang). */
  readonly targetQueuePerReplica: number;
}

/** CloudWatch namespace of the replicas' queue metric; the instance role may publish only here. */
export const METRIC_NAMESPACE = "qwen3-serve";
/** The per-replica queue metric: requests running + waiting in the engine, dimension AutoScalingGroupName. */
export const QUEUE_METRIC = "QueueDepth";

/**
 * The proxy's unauthenticated readiness path, the load balancer's health check: 200 only when the
 * engine serves the model, no body worth reading, and every other path still needs the key.
 */
export const READY_URL_PATH = "/qwen3-serve/ready";

/**
 * Seconds the load balancer keeps an idle connection: a long generation streams for minutes, and
 * ALB allows up to 4,000 (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html,
 * read 2026-11-30). One hour matches the proxy's proxy_read_timeout.
 */
export const ALB_IDLE_TIMEOUT_SECONDS = 3600;

/**
 * Seconds a deregistering replica keeps serving the requests it has: scale-in and instance refresh
 * deregister first, so open streams finish (ALB allows 0-3,600; default 300).
 */
export const DEREGISTRATION_DELAY_SECONDS = 900;

/** Health check of the replicas' target group: the readiness path, every 15 s, 2 passes in, 3 failures out. */
export const HEALTH_CHECK = {
  path: READY_URL_PATH,
  matcher: "200",
  intervalSeconds: 15,
  timeoutSeconds: 5,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
} as const;

/** How the fleet scales: on the replicas' queue metric, or (Ollama has no metrics endpoint) on ALB requests per target. */
export function scalingMetric(engine: EngineName): "queue-depth" | "alb-requests-per-target" {
  return engine === "ollama" ? "alb-requests-per-target" : "queue-depth";
}

/**
 * The Auto Scaling group's health-check grace period: the plan's own readiness estimate (boot, image,
 * weights, load), so a replica still loading is not replaced as unhealthy. The Deep Learning AMI
 * carries the driver; plain Ubuntu installs it first.
 */
export function healthCheckGraceSeconds(plan: Plan, installsDriver: boolean): number {
  return readinessTimeoutSeconds(plan, installsDriver);
}

/**
 * The group's name, fixed so the replicas' user data can name it (the group depends on the launch
 * templates, so their user data cannot read it from the group). Auto Scaling allows 255 characters.
 */
export function autoScalingGroupName(project: string, stack: string, component: string): string {
  return `qwen3-serve-${project}-${stack}-${component}`.slice(0, 255);
}
