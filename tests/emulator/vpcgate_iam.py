"""IAM policy evaluation for the vpcgate emulator (tests/emulator/vpcgate_moto.py): pure functions,
no moto, no I/O.

The subset of the IAM policy language vpcgate's policies use, for identity-based policies (the
test principals of ``/vpcgate-iam/``) and VPC endpoint policies (``/vpcgate-network/``):

* Statement: ``Effect``, ``Action``/``NotAction``, ``Resource``/``NotResource``, ``Condition``,
  and for endpoint policies ``Principal``/``NotPrincipal``; ``Statement`` is one object or a list.
* Condition operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase,
  StringNotEqualsIgnoreCase, StringLike, StringNotLike, ArnEquals, ArnLike, ArnNotEquals,
  ArnNotLike, Bool, Null; the ``...IfExists`` suffix; the ``ForAllValues:``/``ForAnyValue:`` set
  prefixes.
* Not modelled: policy variables (``${aws:username}``), numeric/date/IP operators, permissions
  boundaries, SCPs, session policies, resource-based policies other than endpoint policies.

A request is described by one or more :class:`Check` objects (action, resource ARN, context keys);
:func:`evaluate_checks` decides the whole request: every check must be allowed.

Context keys are a mapping of key name to a list of string values. Key names are compared
case-insensitively (IAM User Guide, "IAM JSON policy elements: Condition": "Condition key names
are not case-sensitive"); a key that is absent or has no values is "missing".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping

ALLOW = "allow"
IMPLICIT_DENY = "implicitDeny"
EXPLICIT_DENY = "explicitDeny"


@dataclass(frozen=True)
class Check:
    """One authorization question: may the caller perform ``action`` on ``resource``?"""

    action: str  # "ec2:CreateVpcEndpoint"
    resource: str  # an ARN, or "*" for actions without resource-level permissions
    context: Mapping[str, list[str]] = field(default_factory=dict)


def context_of(pairs: Mapping[str, Any]) -> dict[str, list[str]]:
    """Normalise context keys: lower-case names, values as lists of strings; None and empty
    lists are left out (the key is then missing, as in AWS's request context)."""
    out: dict[str, list[str]] = {}
    for key, value in pairs.items():
        values = [_scalar(v) for v in (value if isinstance(value, (list, tuple, set)) else [value])
                  if v is not None]
        if values:
            out[key.lower()] = values
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


# ------------------------------------------------------------------------------- matching


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = ("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Whole-string match where ``*`` is any run of characters and ``?`` any one character
    (IAM User Guide, Condition operators, StringLike: "The values can include multi-character
    match wildcards (*) and single-character match wildcards (?) anywhere in the string")."""
    return _glob_regex(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, value: str) -> bool:
    """ArnLike / ArnEquals, and the Resource element.

    IAM User Guide, Condition operators, ARN condition operators: "Case-sensitive matching of the
    ARN. Each of the six colon-delimited components of the ARN is checked separately and each can
    include multi-character match wildcards (*) or single-character match wildcards (?)."
    (ArnEquals and ArnLike behave the same.) A bare ``*`` matches anything, including the
    resource ``*`` of actions without resource-level permissions; an ARN pattern never matches
    that ``*``. A pattern of fewer segments (``arn:*``) matches its last segment against the
    rest of the ARN. Values that are not ARNs are compared as whole strings.
    """
    if pattern == "*":
        return True
    p_parts = pattern.split(":", 5)
    v_parts = value.split(":", len(p_parts) - 1)
    if pattern.startswith("arn:") and value.startswith("arn:") and len(v_parts) == len(p_parts):
        return all(glob_match(p, v) for p, v in zip(p_parts, v_parts))
    return glob_match(pattern, value)


def action_matches(patterns: Any, action: str) -> bool:
    """IAM User Guide, "IAM JSON policy elements: Action": service prefix and action name are
    case-insensitive; ``*`` and ``?`` are wildcards (``ec2:Describe*``)."""
    return any(glob_match(str(p), action, ignore_case=True) for p in _as_list(patterns))


def resource_matches(patterns: Any, resource: str) -> bool:
    return any(arn_match(str(p), resource) for p in _as_list(patterns))


def principal_matches(principal: Any, caller_arn: str) -> bool:
    """IAM User Guide, "AWS JSON policy elements: Principal": ``"*"`` or ``{"AWS": "*"}`` is
    everyone; ``{"AWS": <ARN or list>}`` names principals; an account id or
    ``arn:aws:iam::<account>:root`` stands for every principal of that account. Other principal
    types (Service, Federated, CanonicalUser) never match a signed IAM caller here."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    account = caller_arn.split(":")[4] if caller_arn.count(":") >= 5 else ""
    for entry in _as_list(principal.get("AWS")):
        entry = str(entry)
        if entry in ("*", caller_arn) or (account and entry in (account, f"arn:aws:iam::{account}:root")):
            return True
    return False


# ------------------------------------------------------------------------------- conditions


def _string_equals(value: str, pattern: str) -> bool:
    return value == pattern


def _string_equals_ignore_case(value: str, pattern: str) -> bool:
    return value.lower() == pattern.lower()


def _string_like(value: str, pattern: str) -> bool:
    return glob_match(pattern, value)


# operator (lower case, without IfExists) -> (value matcher, negated)
_OPERATORS: dict[str, tuple[Any, bool]] = {
    "stringequals": (_string_equals, False),
    "stringnotequals": (_string_equals, True),
    "stringequalsignorecase": (_string_equals_ignore_case, False),
    "stringnotequalsignorecase": (_string_equals_ignore_case, True),
    "stringlike": (_string_like, False),
    "stringnotlike": (_string_like, True),
    "arnequals": (lambda v, p: arn_match(p, v), False),
    "arnlike": (lambda v, p: arn_match(p, v), False),
    "arnnotequals": (lambda v, p: arn_match(p, v), True),
    "arnnotlike": (lambda v, p: arn_match(p, v), True),
    "bool": (_string_equals_ignore_case, False),
}


def parse_operator(name: str) -> tuple[str | None, str, bool]:
    """``"ForAnyValue:StringLikeIfExists"`` -> (set prefix or None, base operator, if_exists).
    ValueError for an operator outside the supported subset."""
    prefix = None
    if ":" in name:
        prefix, name = name.split(":", 1)
        prefix = prefix.lower()
        if prefix not in ("forallvalues", "foranyvalue"):
            raise ValueError(f"unknown condition set operator {prefix!r}")
    base = name.lower()
    if_exists = base.endswith("ifexists")
    if if_exists:
        base = base[: -len("ifexists")]
    if base != "null" and base not in _OPERATORS:
        raise ValueError(f"unsupported condition operator {name!r}")
    if base == "null" and (if_exists or prefix):
        raise ValueError("Null takes neither IfExists nor a set prefix")
    return prefix, base, if_exists


def condition_key_matches(
    operator: str, key: str, policy_values: Any, context: Mapping[str, list[str]]
) -> bool:
    """One key of one condition operator.

    IAM User Guide, "Condition operators": several values for one key are ORed; "If the key that
    you specify in a policy condition is not present in the request context, the values do not
    match and the condition is false. If the policy condition requires that the key is not
    matched, such as StringNotLike or ArnNotLike, and the right key is not present, the condition
    is true." ``...IfExists``: true when the key is missing. ``Null``: ``"true"`` holds when the
    key is missing, ``"false"`` when it is present.
    "Multivalued context keys" (aws:TagKeys): ``ForAllValues:`` holds when every request value
    matches (and when the key is missing or empty); ``ForAnyValue:`` when at least one does
    (false when missing). Without a prefix, a multivalued key behaves like ForAnyValue for
    positive operators and "no value matches" for negated ones.
    """
    prefix, base, if_exists = parse_operator(operator)
    values = list(context.get(key.lower()) or [])
    wanted = [_scalar(v) for v in _as_list(policy_values)]
    if base == "null":
        return any((w.lower() == "true") == (not values) for w in wanted)
    match, negated = _OPERATORS[base]

    def one(value: str) -> bool:
        hit = any(match(value, w) for w in wanted)
        return not hit if negated else hit

    if prefix == "forallvalues":
        return all(one(v) for v in values)
    if prefix == "foranyvalue":
        return any(one(v) for v in values)
    if not values:
        return if_exists or negated
    return all(one(v) for v in values) if negated else any(one(v) for v in values)


def condition_matches(condition: Any, context: Mapping[str, list[str]]) -> bool:
    """A whole Condition block: every operator, and every key within one operator, must hold
    (IAM User Guide, "Creating a condition with multiple keys or values": ANDed). An operator
    outside the supported subset makes the statement not apply."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, keys in condition.items():
        if not isinstance(keys, dict):
            return False
        for key, values in keys.items():
            try:
                if not condition_key_matches(operator, key, values, context):
                    return False
            except ValueError:
                return False
    return True


# ------------------------------------------------------------------------------- evaluation


def statements_of(policy: Any) -> list[dict[str, Any]]:
    """The statements of a policy document (an object or its JSON text); [] if unreadable."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    if not isinstance(policy, dict):
        return []
    return [s for s in _as_list(policy.get("Statement")) if isinstance(s, dict)]


def statement_applies(statement: dict[str, Any], check: Check, caller_arn: str | None = None) -> bool:
    """Whether the statement covers the check. ``caller_arn`` is given for resource-type policies
    (endpoint policies), whose statements must name the caller in Principal/NotPrincipal; for
    identity-based policies it is None and Principal is not looked at."""
    if caller_arn is not None:
        if "Principal" in statement:
            if not principal_matches(statement["Principal"], caller_arn):
                return False
        elif "NotPrincipal" in statement:
            if principal_matches(statement["NotPrincipal"], caller_arn):
                return False
        else:
            return False
    if "Action" in statement:
        if not action_matches(statement["Action"], check.action):
            return False
    elif "NotAction" in statement:
        if action_matches(statement["NotAction"], check.action):
            return False
    else:
        return False
    if "Resource" in statement:
        if not resource_matches(statement["Resource"], check.resource):
            return False
    elif "NotResource" in statement:
        if resource_matches(statement["NotResource"], check.resource):
            return False
    else:
        return False
    return condition_matches(statement.get("Condition"), check.context)


def evaluate_policy(policy: Any, check: Check, caller_arn: str | None = None) -> str:
    """IAM User Guide, "Policy evaluation logic": an applicable Deny statement is an explicit
    deny, which overrides any Allow; else an applicable Allow allows; else the request is
    implicitly denied. Returns EXPLICIT_DENY, ALLOW or IMPLICIT_DENY."""
    allowed = False
    for statement in statements_of(policy):
        if not statement_applies(statement, check, caller_arn):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return EXPLICIT_DENY
        if effect == "Allow":
            allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def evaluate_checks(
    policy: Any, checks: Iterable[Check], caller_arn: str | None = None
) -> tuple[str, Check | None]:
    """A request is allowed only if every one of its checks is. Returns (decision, the check to
    name in the error): the first explicitly denied check if any (explicit deny wins), else the
    first implicitly denied one; (ALLOW, None) when all are allowed."""
    first_implicit = None
    for check in checks:
        decision = evaluate_policy(policy, check, caller_arn)
        if decision == EXPLICIT_DENY:
            return EXPLICIT_DENY, check
        if decision == IMPLICIT_DENY and first_implicit is None:
            first_implicit = check
    if first_implicit is not None:
        return IMPLICIT_DENY, first_implicit
    return ALLOW, None


# ------------------------------------------------------------------------------- validation

_STATEMENT_FIELDS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}


def validate_identity_policy(policy: Any) -> None:
    """ValueError unless ``policy`` is an identity-based policy document in the supported
    subset (what IAM would refuse as MalformedPolicyDocument is refused here too, so a typo in
    a test's policy fails loudly rather than silently denying)."""
    if not isinstance(policy, dict):
        raise ValueError("policy must be a JSON object")
    unknown = set(policy) - {"Version", "Id", "Statement"}
    if unknown:
        raise ValueError(f"policy: unknown fields {sorted(unknown)}")
    statements = policy.get("Statement")
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list) or not statements:
        raise ValueError("policy: Statement must be an object or a non-empty list")
    for i, statement in enumerate(statements):
        _validate_statement(statement, f"Statement[{i}]")


def _validate_statement(statement: Any, where: str) -> None:
    if not isinstance(statement, dict):
        raise ValueError(f"{where} must be an object")
    unknown = set(statement) - _STATEMENT_FIELDS
    if unknown:
        raise ValueError(
            f"{where}: unsupported fields {sorted(unknown)} (identity policies have no Principal)"
        )
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise ValueError(f"{where}: Effect must be Allow or Deny")
    for one, other in (("Action", "NotAction"), ("Resource", "NotResource")):
        if (one in statement) == (other in statement):
            raise ValueError(f"{where}: exactly one of {one} and {other}")
        value = statement.get(one, statement.get(other))
        if not _strings(value):
            raise ValueError(f"{where}: {one}/{other} must be a string or a non-empty list of strings")
    condition = statement.get("Condition", {})
    if not isinstance(condition, dict):
        raise ValueError(f"{where}: Condition must be an object")
    for operator, keys in condition.items():
        parse_operator(operator)  # ValueError for unsupported ones
        if not isinstance(keys, dict) or not keys:
            raise ValueError(f"{where}: Condition {operator} must map keys to values")
        for key, values in keys.items():
            values = _as_list(values)
            if not values or not all(isinstance(v, (str, bool, int, float)) for v in values):
                raise ValueError(f"{where}: Condition {operator} {key}: values must be scalars")


def _strings(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


# ------------------------------------------------------------------------------- messages

# IAM User Guide, "Troubleshoot access denied error messages": "User: <arn> is not authorized to
# perform: <action> on resource: <arn> because no identity-based policy allows the <action>
# action" / "... with an explicit deny in an identity-based policy", and for VPC endpoint
# policies "... because no VPC endpoint policy allows the <action> action" / "... with an
# explicit deny in a VPC endpoint policy".
_POLICY_TYPE_TEXT = {"identity": "identity-based policy", "endpoint": "VPC endpoint policy"}


def denial_message(caller_arn: str, check: Check, decision: str, policy_type: str) -> str:
    """AWS's access-denied sentence (without EC2's "Encoded authorization failure message")."""
    what = _POLICY_TYPE_TEXT[policy_type]
    head = f"User: {caller_arn} is not authorized to perform: {check.action} on resource: {check.resource}"
    if decision == EXPLICIT_DENY:
        article = "an" if what[0] in "aeiou" else "a"
        return f"{head} with an explicit deny in {article} {what}"
    return f"{head} because no {what} allows the {check.action} action"
