"""qwen3-serve fleet waker: the Lambda function behind a minReplicas-0 fleet's load balancer while it is at zero.

Two callers (Lambda runtime python3.12, handler waker.handler):
- the load balancer, with a keyed request (its forward rule points at the waker's Lambda target group): the
  Bearer key is checked like the proxy checks it; a keyed request wakes one replica (desired capacity 0 -> 1)
  and gets 503 with Retry-After and an explanation; once a replica is healthy the rule goes back to the
  replicas' target group and the client is told to retry at once;
- SNS, when the idle alarm takes the fleet to zero: the rule goes to the waker's target group.

Environment: GROUP_NAME, RULE_ARN, REPLICAS_TG_ARN, WAKER_TG_ARN, API_KEY_PARAMETER (SecureString name),
RETRY_AFTER_SECONDS, READY_ESTIMATE_SECONDS. Logs one JSON line per decision: never the key, the
Authorization header or the parameter's value; of an AWS error, only its code.
"""

import hmac
import json
import math
import os
import time

# The proxy's 401 (components/machine/proxy.conf), so a client sees one error format whoever answers.
UNAUTHORIZED_BODY = '{"error":{"message":"missing or wrong API key","type":"authentication_error"}}\n'
WWW_AUTHENTICATE = 'Bearer realm="qwen3-serve"'
# A wrong key re-reads the parameter at most this often, so a rotated key is accepted without a new container
# while a stream of wrong keys costs at most one SSM call per container per interval.
KEY_RECHECK_SECONDS = 300
DEFAULT_RETRY_AFTER_SECONDS = 30


def default_client_factory(service):
    """A boto3 client; boto3 ships in the Lambda runtime and is imported only here, so tests need none. Short
    timeouts and two attempts (standard mode counts the first) keep a slow API inside the function's 10 s, so the
    client gets this function's 503 with Retry-After rather than the load balancer's error for a timed-out target."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
    return boto3.client(service, config=config)


# Tests replace these; a fresh import is a fresh container.
client_factory = default_client_factory
monotonic = time.monotonic
_clients = {}
_key = {"value": None, "read_at": None}


def _client(service):
    if service not in _clients:
        _clients[service] = client_factory(service)
    return _clients[service]


def _log(**fields):
    print(json.dumps(fields, sort_keys=True), flush=True)


def _error_code(e):
    """botocore's ClientError carries response["Error"]["Code"]; anything else is named by its type only."""
    response = getattr(e, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code if isinstance(code, str) and code else type(e).__name__


def _int_env(name, default, minimum):
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value >= minimum else default


def handler(event, context=None):
    """The Lambda entry point: an SNS notification from the idle alarm, or a request from the load balancer."""
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records and records[0].get("EventSource") == "aws:sns":
        return _on_idle(records)
    if isinstance(event, dict) and "elb" in (event.get("requestContext") or {}):
        return _on_request(event)
    _log(action="ignored", reason="neither an SNS notification nor a load balancer request")
    return None


# --- SNS: the fleet went to zero ---------------------------------------------------------------------------


def _on_idle(records):
    """Point the forward rule at the waker. A CloudWatch alarm's message is JSON with NewStateValue (example
    payload: aws/aws-lambda-go events/testdata/cloudwatch-alarm-sns-payload-single-metric.json, read 2026-11-30);
    the idle alarm notifies on ALARM only, and anything that says another state is ignored."""
    message = records[0].get("Sns", {}).get("Message", "")
    try:
        state = json.loads(message).get("NewStateValue")
    except (ValueError, AttributeError):
        state = None
    if state is not None and state != "ALARM":
        _log(action="ignored", reason=f"alarm state {state}")
        return None
    try:
        _forward_to(os.environ["WAKER_TG_ARN"])
    except Exception as e:
        code = _error_code(e)
        _log(action="switch-to-waker", error=code)
        # Raising makes Lambda retry the asynchronous SNS invocation; the message names the code only.
        raise RuntimeError(f"switching the forward rule to the waker failed: {code}") from None
    _log(action="switch-to-waker", reason="the idle alarm took the fleet to zero")
    return None


def _forward_to(target_group_arn):
    _client("elbv2").modify_rule(
        RuleArn=os.environ["RULE_ARN"],
        Actions=[{"Type": "forward", "TargetGroupArn": target_group_arn}],
    )


# --- the load balancer: a request while the rule points here -----------------------------------------------


def _on_request(event):
    multi = "multiValueHeaders" in event
    presented = _bearer(event)
    if presented is None:
        _log(action="unauthorized", reason="missing key")
        return _response(401, _unauthorized_headers(), UNAUTHORIZED_BODY, multi)
    try:
        ok = _key_matches(presented)
    except Exception as e:
        _log(action="check-key", error=_error_code(e))
        return _unavailable(multi)
    if not ok:
        _log(action="unauthorized", reason="wrong key")
        return _response(401, _unauthorized_headers(), UNAUTHORIZED_BODY, multi)
    try:
        return _wake_or_release(multi)
    except Exception as e:
        _log(action="wake", error=_error_code(e))
        return _unavailable(multi)


def _bearer(event):
    """The key after "Bearer " (scheme case-insensitive, as the proxy's map), or None. The load balancer passes
    header names lower-cased (example events in
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html, read 2026-11-30);
    names are matched case-insensitively anyway. With multi-value headers on, the last value counts, as the load
    balancer itself does when they are off (same page, "Multi-value headers")."""
    if "multiValueHeaders" in event:
        headers = {k.lower(): (v[-1] if v else None) for k, v in (event.get("multiValueHeaders") or {}).items()}
    else:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    value = headers.get("authorization")
    if not isinstance(value, str) or value[:7].lower() != "bearer " or len(value) == 7:
        return None
    return value[7:]


def _key_matches(presented):
    """Compare in constant time with the key, read from SSM once per container; a mismatch re-reads it at most
    every KEY_RECHECK_SECONDS in case the key was rotated."""
    if _key["value"] is None:
        _read_key()
    if _equal(presented, _key["value"]):
        return True
    if monotonic() - _key["read_at"] < KEY_RECHECK_SECONDS:
        return False
    _read_key()
    return _equal(presented, _key["value"])


def _read_key():
    answer = _client("ssm").get_parameter(Name=os.environ["API_KEY_PARAMETER"], WithDecryption=True)
    # The bootstrap strips CR and LF from the parameter the same way (components/machine/steps/secrets.sh).
    _key["value"] = answer["Parameter"]["Value"].replace("\r", "").replace("\n", "")
    _key["read_at"] = monotonic()


def _equal(presented, key):
    return hmac.compare_digest(presented.encode("utf-8"), key.encode("utf-8"))


def _wake_or_release(multi):
    """Desired 0: set it to 1 (never lower, never above 1 from here). Otherwise a healthy replica sends the rule
    back to the replicas. The group is read first: a replica still healthy while desired is 0 is leaving, and
    sending the rule back to it would leave the fleet at zero behind the load balancer's bare 503."""
    group = os.environ["GROUP_NAME"]
    desired = _desired_capacity(group)
    if desired == 0:
        _client("autoscaling").set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1, HonorCooldown=False)
        _log(action="wake", desired_before=0, desired_after=1)
        return _waking(multi, "The fleet had no replica running; one is starting now.")
    if _any_healthy(os.environ["REPLICAS_TG_ARN"]):
        _forward_to(os.environ["REPLICAS_TG_ARN"])
        _log(action="switch-to-replicas", desired=desired)
        return _json_503(multi, 1, "A replica is ready; retry now.", "fleet_ready")
    _log(action="waiting", desired=desired)
    return _waking(multi, "The fleet had no replica running; one is already starting.")


def _desired_capacity(group):
    groups = _client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    if not groups:
        raise LookupError("AutoScalingGroupNotFound")
    return int(groups[0]["DesiredCapacity"])


def _any_healthy(target_group_arn):
    described = _client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)
    return any(d.get("TargetHealth", {}).get("State") == "healthy" for d in described["TargetHealthDescriptions"])


# --- answers -----------------------------------------------------------------------------------------------


def _waking(multi, first):
    retry = _int_env("RETRY_AFTER_SECONDS", DEFAULT_RETRY_AFTER_SECONDS, 1)
    estimate = _int_env("READY_ESTIMATE_SECONDS", 0, 1)
    if estimate:
        minutes = max(1, math.ceil(estimate / 60))
        when = f" A new replica is typically ready in about {minutes} minute{'' if minutes == 1 else 's'}."
    else:
        when = " A new replica takes a few minutes to be ready."
    message = f"{first}{when} Retry after {retry} seconds (the Retry-After header)."
    extra = {"ready_estimate_seconds": estimate} if estimate else {}
    return _json_503(multi, retry, message, "fleet_waking", extra)


def _unavailable(multi):
    # Said before the key is known to be right, so it says nothing about the fleet.
    retry = _int_env("RETRY_AFTER_SECONDS", DEFAULT_RETRY_AFTER_SECONDS, 1)
    message = f"The endpoint cannot answer right now. Retry after {retry} seconds (the Retry-After header)."
    return _json_503(multi, retry, message, "service_unavailable")


def _json_503(multi, retry, message, kind, extra=None):
    error = {"message": message, "type": kind, "retry_after_seconds": retry, **(extra or {})}
    headers = {"Content-Type": "application/json", "Retry-After": str(retry), "Cache-Control": "no-store"}
    return _response(503, headers, json.dumps({"error": error}) + "\n", multi)


def _unauthorized_headers():
    return {"Content-Type": "application/json", "WWW-Authenticate": WWW_AUTHENTICATE}


REASONS = {401: "Unauthorized", 503: "Service Unavailable"}


def _response(status, headers, body, multi):
    """The load balancer's response document: isBase64Encoded, statusCode, statusDescription ("code and reason
    phrase, separated by a single space"), headers, body; with multi-value headers on, multiValueHeaders instead
    of headers, values as lists ("Respond to the load balancer" and "Multi-value headers" in
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html, read 2026-11-30)."""
    answer = {"isBase64Encoded": False, "statusCode": status, "statusDescription": f"{status} {REASONS[status]}"}
    if multi:
        answer["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        answer["headers"] = headers
    answer["body"] = body
    return answer
