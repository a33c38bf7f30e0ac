#!/usr/bin/env python3
"""AWS emulator for vpcgate's tests: moto server (pinned, 5.2.5) with its gateway-VPC-endpoint
behaviour brought in line with the documented AWS EC2 API.

Usage (this is how the Rust test harness starts it):

    .venv/bin/python tests/emulator/vpcgate_moto.py --host 127.0.0.1 --port 0 [--verbose]
        [--create-response-delay SECONDS] [--describe-lag SECONDS] [--throttle]

The first line on stdout is exactly ``READY <port>`` (the port actually bound; ``--port 0`` lets
the OS pick a free one). After it, nothing else is written to stdout (fd 1 is pointed at stderr),
so a caller may stop reading it. The server serves every moto service on that one port (EC2 and
DynamoDB among them, told apart by the SigV4 credential scope), plus ``POST /moto-api/reset`` and
the recorder (``/moto-api/recorder/...``), until SIGTERM or SIGINT, then exits with status 0.

Recording: moto's recorder appends one JSON line per request to ``MOTO_RECORDER_FILEPATH``
(moto's default is ``./moto_recording`` in the working directory). Unless the caller sets that
variable, this wrapper points it at an (empty) file in a private temporary directory that is
removed at exit; directories of wrappers that were SIGKILLed are swept at the next start.
Recording is off until ``POST /moto-api/recorder/start-recording``, or from the start when
``MOTO_ENABLE_RECORDING`` is set (moto treats ANY non-empty value as true, even "False"; this
wrapper passes "false"/"0"/"no"/"" through as off).

Fault injection (all off by default; not corrections, but AWS behaviour a client must survive):

* ``--create-response-delay SECONDS``: each CreateVpcEndpoint answer is held back that long
  after the endpoint was created.
* ``--describe-lag SECONDS`` (EC2 eventual consistency): an endpoint created less than SECONDS
  ago is left out of DescribeVpcEndpoints, whatever the filters; naming it in VpcEndpointIds
  answers InvalidVpcEndpointId.NotFound. Every other action (CreateVpcEndpoint with the same
  ClientToken, ModifyVpcEndpoint, DeleteVpcEndpoints, DescribeRouteTables) sees it at once.
* ``/vpcgate-faults/`` on the same port, switchable at run time. ``POST`` a JSON object:
  ``{"action": "DescribeRouteTables", "code": "RequestLimitExceeded", "message": "...",
  "count": 3, "status": 503}`` makes the next ``count`` requests with that ``Action=`` answer
  that error in EC2's XML error format without reaching moto (``count`` defaults to 1, -1 means
  until cleared, 0 removes it; ``status`` defaults to 503 for RequestLimitExceeded, else 400;
  ``message`` defaults to the code; a new POST for an action replaces its earlier error);
  ``{"action": "DescribeVpcs", "delaySeconds": 0.4, "count": -1}`` makes those requests slow
  instead (they wait, then reach moto); ``{"describeLagSeconds": 5}`` sets the describe lag
  (both may be in one body). ``DELETE``
  clears every injected error and restores the ``--describe-lag`` value; ``GET`` shows the
  state. Each answers the state as JSON; an invalid body is HTTP 400 and changes nothing.
  ``POST /moto-api/reset`` leaves all of this alone.

Request throttling (off by default; EC2 Developer Guide, "Request throttling for the Amazon EC2
API"; the token buckets are in ``vpcgate_throttle.py``): ``/vpcgate-throttle/`` on the same port,
trailing slash optional. ``POST`` ``{"enabled": true, "buckets": {"CreateVpcEndpoint":
{"capacity": 4, "refill": 0.3}}, "nonMutating": {"capacity": 100, "refill": 20}, "default":
{"capacity": 50, "refill": 5}, "scale": 1}`` (only ``enabled`` required; an omitted bucket keeps
AWS's size shown here, CreateVpcEndpoint/ModifyVpcEndpoint/DeleteVpcEndpoints each have their
own; ``scale`` multiplies every refill rate) replaces the config, fills every bucket and zeroes
the counters. Per account (as moto works it out) and Region, each EC2 request (SigV4 service
``ec2``, or unsigned with ``Version=2016-11-15``) takes a token from its action's own bucket, else
the shared ``nonMutating`` bucket (Describe*/Get*/List*/Search*), else the shared ``default``
bucket; DryRun counts. An empty bucket answers HTTP 503 ``RequestLimitExceeded`` "Request limit
exceeded." in EC2's XML error format before fault injection, access evaluation or moto see the
request. DynamoDB, STS, ``/moto-api/`` and ``/vpcgate-*`` are never throttled. ``GET``: the
config plus ``"counters": {"<Action>": {"allowed": n, "throttled": n}}`` and ``"tokens":
{"<account>/<region>": {"<bucket>": level}}``; ``DELETE``: off, AWS's sizes, counters cleared.
``--throttle`` starts it on with AWS's sizes. ``POST /moto-api/reset`` leaves it alone.

Access evaluation (two independent test modes, both off by default; the policy language is in
``vpcgate_iam.py``, pure functions; each control endpoint is on the same port, trailing slash
optional, answers its state as JSON, HTTP 400 ``{"error": ...}`` and no change for an invalid
body, and is left alone by ``POST /moto-api/reset``):

* ``/vpcgate-iam/``, IAM evaluation of test principals. ``POST`` ``{"principals": {"<access key
  id>": {"arn": "arn:aws:iam::123456789012:role/vpcgate", "policy": {<IAM policy document>}},
  ...}}`` replaces the set (``{"principals": {}}`` = off); ``DELETE`` clears; ``GET`` shows
  ``{"principals": {...}}`` as posted. A request SigV4-signed with a registered access key id
  (``Credential=<AKID>/<date>/<region>/<service>/aws4_request``) is evaluated against that
  principal's policy before moto sees it; other keys (the tests' ``testing``) are unrestricted.
  Each request is one or more checks (action, resource ARN, context keys; account 123456789012,
  the region of the credential scope), all of which must be allowed: EC2 ``Describe*`` and
  DynamoDB ListTables on ``*``; GetManagedPrefixListEntries on
  ``arn:aws:ec2:<region>:aws:prefix-list/<id>`` (AWS-managed lists); CreateVpcEndpoint on
  ``vpc-endpoint/*`` (aws:RequestTag/*, aws:TagKeys, ec2:VpceServiceName), ``vpc/<id>`` and each
  ``route-table/<id>`` (aws:ResourceTag/*, ec2:VpcID / ec2:RouteTableID, ec2:Vpc), plus
  ``ec2:CreateTags`` on ``vpc-endpoint/*`` with ec2:CreateAction=CreateVpcEndpoint when it
  carries tags; ModifyVpcEndpoint on the endpoint and each added/removed route table;
  DeleteVpcEndpoints on each endpoint; CreateTags/DeleteTags on each resource (its tags, the
  request's tags, no ec2:CreateAction); DynamoDB operations on ``table/<TableName>`` (else
  ``*``); anything else ``<service>:<operation>`` on ``*``. Denials, as AWS words them:
  EC2 HTTP 403 ``UnauthorizedOperation`` "You are not authorized to perform this operation.
  User: <arn> is not authorized to perform: ec2:<Action> on resource: <arn> because no
  identity-based policy allows the ec2:<Action> action. Encoded authorization failure message:
  <random blob>" (explicit: "... with an explicit deny in an identity-based policy. Encoded
  ..."); EC2 ``DryRun`` of an allowed request: HTTP 412 ``DryRunOperation`` without reaching
  moto; DynamoDB HTTP 400 ``{"__type":"com.amazon.coral.service#AccessDeniedException",
  "Message":"User: <arn> is not authorized to perform: dynamodb:<Op> on resource: <arn> because
  no identity-based policy allows the dynamodb:<Op> action"}`` (or "with an explicit deny in an
  identity-based policy"); other query APIs HTTP 403 ``AccessDenied``. sts:GetCallerIdentity is
  always allowed and answers the registered ARN.
* ``/vpcgate-network/``, where a DynamoDB request enters AWS. ``POST`` ``{"callerSubnet":
  "subnet-..."}`` (the subnet must exist) routes every DynamoDB request, whatever its key, as if
  sent from an instance in that subnet; ``{"callerSubnet": null}`` or ``DELETE``: off; ``GET``:
  ``{"callerSubnet": ...}``. The subnet's route table (its explicit association, else its VPC's
  main table) -> the route to the prefix list of ``com.amazonaws.<region>.dynamodb`` through a
  gateway endpoint -> that endpoint's policy, evaluated for the caller (the registered ARN, else
  ``arn:aws:iam::123456789012:user/moto``) against the statements' Principal. No such route (or
  another region): over the internet, no endpoint policy. Denied: HTTP 400 AccessDeniedException,
  "User: <arn> is not authorized to perform: dynamodb:<Op> on resource: <arn> with an explicit
  deny in a VPC endpoint policy" or "... because no VPC endpoint policy allows the dynamodb:<Op>
  action". With both modes on, an explicit deny in either policy is reported before implicit
  denies, and between implicit denies the identity-based one. If the subnet disappears (moto
  reset), DynamoDB requests answer HTTP 500 InternalServerError saying so until it is set again.

Corrections: ``apply_corrections()`` monkeypatches moto's EC2 backend (``VPCBackend``,
``VPCEndPoint``) and EC2 response class (``VPCs``) at import time. Each correction is one small
function that cites the AWS EC2 API Reference page whose documented behaviour it restores.
They are written against moto 5.2.5 exactly; ``apply_corrections`` refuses any other version.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http
import io
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape as xml_escape

try:
    import vpcgate_iam as iam
    import vpcgate_throttle as throttle
except ImportError:  # imported from elsewhere than this directory
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import vpcgate_iam as iam
    import vpcgate_throttle as throttle

MOTO_VERSION = "5.2.5"

# AWS's default policy for a gateway endpoint created without PolicyDocument, and what
# ResetPolicy restores, in the compact form EC2 returns it (see correction 6).
DEFAULT_GATEWAY_POLICY = json.dumps(
    {
        "Version": "2008-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
    },
    separators=(",", ":"),
)

# moto's threaded server handles requests concurrently; the corrected endpoint actions
# check-then-act (client token, route conflicts), so they run one at a time.
_ENDPOINT_LOCK = threading.RLock()


def _prepare_environment() -> str | None:
    """Environment moto reads at import time. Returns a temp dir to remove at exit, if any."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        os.environ.setdefault(key, value)
    rec = os.environ.get("MOTO_ENABLE_RECORDING")
    if rec is not None and rec.strip().lower() in ("", "0", "false", "no", "off"):
        del os.environ["MOTO_ENABLE_RECORDING"]
    if os.environ.get("MOTO_RECORDER_FILEPATH"):
        return None
    _sweep_stale_tmpdirs()
    tmpdir = tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-")
    path = os.path.join(tmpdir, "moto_recording")
    # An empty recording exists from the start, so download-recording answers "" rather than
    # HTTP 500 (moto opens the file for reading) before anything was recorded.
    open(path, "w").close()
    os.environ["MOTO_RECORDER_FILEPATH"] = path
    return tmpdir


_TMP_PREFIX = "vpcgate-moto-"


def _sweep_stale_tmpdirs() -> None:
    """Remove recording dirs left by wrappers that were SIGKILLed (their pid is gone)."""
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(_TMP_PREFIX):
            continue
        pid = name[len(_TMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        except OSError:
            pass  # exists but not ours to signal: leave it


# --------------------------------------------------------------------------------------------
# Corrections. Helpers first, then one function per correction; apply_corrections() installs.
# --------------------------------------------------------------------------------------------


def _ec2_error(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def _is_gateway(endpoint: Any) -> bool:
    return (endpoint.vpc_endpoint_type or "Gateway").lower() == "gateway"


def _prefix_list_id_for(backend: Any, service_name: str) -> str | None:
    """The AWS-managed prefix list named like the service (how moto itself links them)."""
    for pl in backend.managed_prefix_lists.values():
        if pl.prefix_list_name == service_name:
            return pl.id
    return None


def _prefix_list_route(backend: Any, route_table_id: str, prefix_list_id: str) -> Any:
    from moto.ec2.utils import generate_route_id

    table = backend.route_tables.get(route_table_id)
    if table is None:
        return None
    return table._routes.get(generate_route_id(route_table_id, None, None, prefix_list_id))


def _require_route_tables(backend: Any, route_table_ids: list[str]) -> None:
    for rt_id in route_table_ids:
        backend.get_route_table(rt_id)  # raises InvalidRouteTableID.NotFound


def _require_no_prefix_list_route(
    backend: Any, prefix_list_id: str | None, route_table_ids: list[str], endpoint_id: str | None
) -> None:
    """A route table holds one route per destination: RouteAlreadyExists otherwise."""
    if not prefix_list_id:
        return
    for rt_id in route_table_ids:
        route = _prefix_list_route(backend, rt_id, prefix_list_id)
        if route is not None and (endpoint_id is None or route.gateway_id != endpoint_id):
            raise _ec2_error(
                "RouteAlreadyExists",
                f"route table {rt_id} already has a route with destination-prefix-list-id "
                f"{prefix_list_id}",
            )


def _add_gateway_route(backend: Any, endpoint: Any, route_table_id: str) -> None:
    if endpoint.destination_prefix_list_id:
        backend.create_route(
            route_table_id,
            None,
            gateway_id=endpoint.id,
            destination_prefix_list_id=endpoint.destination_prefix_list_id,
        )


def _remove_gateway_route(backend: Any, endpoint: Any, route_table_id: str) -> None:
    """Remove this endpoint's route from the table, if it is there (and still this endpoint's)."""
    pl_id = endpoint.destination_prefix_list_id
    if not pl_id:
        return
    route = _prefix_list_route(backend, route_table_id, pl_id)
    if route is not None and route.gateway_id == endpoint.id:
        del backend.route_tables[route_table_id]._routes[route.id]


def _same_policy(a: str | None, b: str | None) -> bool:
    a = a or DEFAULT_GATEWAY_POLICY
    b = b or DEFAULT_GATEWAY_POLICY
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return a == b


def _request_signature(
    vpc_id: str,
    service_name: str,
    endpoint_type: str | None,
    policy_document: str | None,
    route_table_ids: list[str] | None,
    subnet_ids: list[str] | None,
    security_group_ids: list[str] | None,
) -> dict[str, Any]:
    return {
        "VpcId": vpc_id,
        "ServiceName": service_name,
        "VpcEndpointType": (endpoint_type or "Gateway").lower(),
        "RouteTableIds": sorted(route_table_ids or []),
        "SubnetIds": sorted(subnet_ids or []),
        "SecurityGroupIds": sorted(security_group_ids or []),
        "PolicyDocument": policy_document,
    }


# Correction 3 ------------------------------------------------------------------------------
def idempotent_create_by_client_token(backend: Any, client_token: str | None, signature: dict) -> Any:
    """CreateVpcEndpoint, ClientToken.

    AWS EC2 API Reference, CreateVpcEndpoint (ClientToken) and "Ensuring idempotency in Amazon
    EC2 API requests": a retried request with the same client token and the same parameters
    returns the original result and creates nothing; the same token with different parameters
    fails with IdempotentParameterMismatch. moto 5.2.5 stores the token but never looks at it,
    so every retry made a new endpoint. Returns the original endpoint, or None for a new token.
    """
    if not client_token:
        return None
    for endpoint in backend.vpc_end_points.values():
        if endpoint.client_token != client_token:
            continue
        original = getattr(endpoint, "_vpcgate_request", None)
        if original is None:  # endpoint from a path that did not record its request
            return endpoint
        same = all(
            _same_policy(original[k], signature[k]) if k == "PolicyDocument" else original[k] == signature[k]
            for k in original
        )
        if not same:
            raise _ec2_error(
                "IdempotentParameterMismatch",
                f"The client token '{client_token}' has already been used in a request with "
                "different parameters.",
            )
        return endpoint
    return None


# Correction 5 ------------------------------------------------------------------------------
def require_known_service_name(backend: Any, service_name: str) -> None:
    """CreateVpcEndpoint, ServiceName.

    AWS EC2 API Reference, CreateVpcEndpoint: ServiceName must name an available endpoint
    service (as listed by DescribeVpcEndpointServices); otherwise the call fails with
    InvalidServiceName. moto 5.2.5 accepted any string. This reuses moto's own
    DescribeVpcEndpointServices, which raises InvalidServiceName for names it does not list.
    """
    backend.describe_vpc_endpoint_services(
        service_names=[service_name],
        filters=[],
        max_results=None,
        next_token=None,
        region=backend.region_name,
    )


# Correction 4 ------------------------------------------------------------------------------
def require_free_route_tables(backend: Any, service_name: str, route_table_ids: list[str]) -> None:
    """CreateVpcEndpoint (Gateway), RouteTableIds.

    AWS EC2 API Reference, CreateVpcEndpoint, and the PrivateLink guide "Gateway endpoints":
    AWS adds the route DestinationPrefixListId=pl-... -> GatewayId=vpce-... to each route table;
    a route table holds one route per prefix list, so a table that already routes the service's
    prefix list fails the whole call with RouteAlreadyExists, and an unknown table fails with
    InvalidRouteTableID.NotFound; in both cases nothing is created. moto 5.2.5 silently
    repointed the existing route, and on an unknown table left a half-made endpoint behind.
    """
    _require_route_tables(backend, route_table_ids)
    _require_no_prefix_list_route(
        backend, _prefix_list_id_for(backend, service_name), route_table_ids, None
    )


def make_create_vpc_endpoint(original: Any) -> Any:
    """VPCBackend.create_vpc_endpoint with corrections 3, 4, 5 and 6 (default policy) in front."""

    def create_vpc_endpoint(
        self: Any,
        vpc_id: str,
        service_name: str,
        endpoint_type: str | None,
        policy_document: str | None,
        route_table_ids: list[str],
        subnet_ids: list[str] | None = None,
        network_interface_ids: list[str] | None = None,
        dns_entries: Any = None,
        client_token: str | None = None,
        security_group_ids: list[str] | None = None,
        tags: dict[str, str] | None = None,
        private_dns_enabled: bool | None = None,
    ) -> Any:
        with _ENDPOINT_LOCK:
            route_table_ids = list(route_table_ids or [])
            signature = _request_signature(
                vpc_id, service_name, endpoint_type, policy_document,
                route_table_ids, subnet_ids, security_group_ids,
            )
            existing = idempotent_create_by_client_token(self, client_token, signature)
            if existing is not None:
                return existing
            self.get_vpc(vpc_id)  # InvalidVpcID.NotFound before anything else
            require_known_service_name(self, service_name)
            # AWS: VpcEndpointType defaults to Gateway. moto kept None, which later crashed
            # DeleteVpcEndpoints (None.lower()) and left VpcEndpointType out of responses.
            endpoint_type = endpoint_type or "Gateway"
            if endpoint_type.lower() == "gateway":
                require_free_route_tables(self, service_name, route_table_ids)
                policy_document = policy_document or DEFAULT_GATEWAY_POLICY
            endpoint = original(
                self, vpc_id, service_name, endpoint_type, policy_document, route_table_ids,
                subnet_ids=subnet_ids, network_interface_ids=network_interface_ids,
                dns_entries=dns_entries, client_token=client_token,
                security_group_ids=security_group_ids, tags=tags,
                private_dns_enabled=private_dns_enabled,
            )
            endpoint._vpcgate_request = signature
            endpoint._vpcgate_created = time.monotonic()  # for --describe-lag
            return endpoint

    return create_vpc_endpoint


# Correction 1 ------------------------------------------------------------------------------
def move_gateway_routes(
    backend: Any, endpoint: Any, add_route_tables: list[str], remove_route_tables: list[str]
) -> tuple[list[str], list[str]]:
    """ModifyVpcEndpoint (Gateway), AddRouteTableIds / RemoveRouteTableIds.

    AWS EC2 API Reference, ModifyVpcEndpoint: "AddRouteTableIds - (Gateway endpoint) The IDs of
    the route tables to associate with the endpoint", "RemoveRouteTableIds - (Gateway endpoint)
    The IDs of the route tables to disassociate from the endpoint". Associating a table adds the
    DestinationPrefixListId -> vpce route to it, exactly as CreateVpcEndpoint does;
    disassociating removes it. An unknown table fails with InvalidRouteTableID.NotFound, a table
    that already routes the prefix list (through another endpoint) with RouteAlreadyExists, and
    then nothing changes. moto 5.2.5 only edited the id list. Validates first, then moves the
    routes; returns the (add, remove) lists for moto's own bookkeeping.
    """
    add = [rt for rt in dict.fromkeys(add_route_tables or []) if rt not in endpoint.route_table_ids]
    remove = [rt for rt in dict.fromkeys(remove_route_tables or []) if rt in endpoint.route_table_ids]
    if not _is_gateway(endpoint):
        return list(add_route_tables or []), list(remove_route_tables or [])
    _require_route_tables(backend, add)
    _require_no_prefix_list_route(backend, endpoint.destination_prefix_list_id, add, endpoint.id)
    for rt_id in remove:
        _remove_gateway_route(backend, endpoint, rt_id)
    for rt_id in add:
        if _prefix_list_route(backend, rt_id, endpoint.destination_prefix_list_id or "") is None:
            _add_gateway_route(backend, endpoint, rt_id)
    return add, remove


# Correction 6 ------------------------------------------------------------------------------
def reset_policy_document(policy_doc: str | None, reset_policy: bool) -> str | None:
    """ModifyVpcEndpoint, ResetPolicy.

    AWS EC2 API Reference, ModifyVpcEndpoint: "ResetPolicy - (Gateway endpoint) Specify true to
    reset the policy document to the default policy. The default policy allows full access to
    the service." The default is {"Version":"2008-10-17","Statement":[{"Effect":"Allow",
    "Principal":"*","Action":"*","Resource":"*"}]} (CreateVpcEndpoint, PolicyDocument: "If this
    parameter is not specified, we attach a default policy that allows full access to the
    service"); the create path above uses the same compact text. moto 5.2.5 ignored ResetPolicy
    (and stored its default with json.dumps' spaced separators).
    """
    return DEFAULT_GATEWAY_POLICY if reset_policy else policy_doc


def modify_vpc_endpoint(
    self: Any,
    vpc_id: str,
    policy_doc: str | None,
    add_subnets: list[str] | None,
    remove_subnets: list[str] | None,
    remove_route_tables: list[str] | None,
    add_route_tables: list[str] | None,
    add_security_groups: list[str] | None,
    remove_security_groups: list[str] | None,
    reset_policy: bool = False,
) -> None:
    """VPCBackend.modify_vpc_endpoint with corrections 1 and 6 (the rest is moto's own modify)."""
    with _ENDPOINT_LOCK:
        endpoint = self.get_vpc_end_point(vpc_id)  # InvalidVpcEndpointId.NotFound
        add, remove = move_gateway_routes(
            self, endpoint, list(add_route_tables or []), list(remove_route_tables or [])
        )
        endpoint.modify(
            reset_policy_document(policy_doc, reset_policy),
            add_subnets,
            remove_subnets,
            add,
            remove,
            add_security_groups,
            remove_security_groups,
        )


# Corrections 2 and 7 (backend part) --------------------------------------------------------
def delete_vpc_endpoints(self: Any, vpce_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """VPCBackend.delete_vpc_endpoints.

    AWS EC2 API Reference, DeleteVpcEndpoints: "Deletes the specified VPC endpoints. When you
    delete a gateway endpoint, we delete the endpoint routes in the route tables for the
    endpoint." Correction 2: the routes removed are those in the endpoint's *current* route
    tables, and only where the route still points at this endpoint; moto 5.2.5 deleted by the
    id list blindly and failed with InvalidRoute.NotFound after a ModifyVpcEndpoint, leaving the
    endpoint available forever. Correction 7: an id that is unknown or already deleted is not
    an error of the call but an item of the result's Unsuccessful list
    (UnsuccessfulItem: Error{Code=InvalidVpcEndpoint.NotFound, Message}, ResourceId); the other
    ids are still deleted. Returns that list.
    """
    unsuccessful: list[dict[str, Any]] = []
    with _ENDPOINT_LOCK:
        for vpce_id in dict.fromkeys(vpce_ids or []):
            endpoint = self.vpc_end_points.get(vpce_id)
            if endpoint is None or endpoint.state == "deleted":
                unsuccessful.append(
                    {
                        "Error": {
                            "Code": "InvalidVpcEndpoint.NotFound",
                            "Message": f"The VPC endpoint '{vpce_id}' does not exist",
                        },
                        "ResourceId": vpce_id,
                    }
                )
                continue
            if _is_gateway(endpoint):
                for rt_id in endpoint.route_table_ids:
                    _remove_gateway_route(self, endpoint, rt_id)
            elif (endpoint.vpc_endpoint_type or "").lower() == "interface":
                for eni_id in endpoint.network_interface_ids:
                    self.enis.pop(eni_id, None)
            endpoint.state = "deleted"
    return unsuccessful


# Correction 8 ------------------------------------------------------------------------------
def refuse_dry_run(response: Any) -> None:
    """DryRun on CreateVpcEndpoint / ModifyVpcEndpoint / DeleteVpcEndpoints.

    AWS EC2 API Reference, each of those actions: "DryRun - Checks whether you have the
    required permissions for the action, without actually making the request, and provides an
    error response. If you have the required permissions, the error response is
    DryRunOperation. Otherwise, it is UnauthorizedOperation." moto 5.2.5 ignored the flag on
    these three actions and made the change. This is moto's own mechanism, the one its
    AuthorizeSecurityGroupEgress uses (EC2BaseResponse.error_on_dryrun -> DryRunClientError,
    HTTP 412 "Request would have succeeded, but DryRun flag is set.").
    """
    response.error_on_dryrun()


# Correction 9 ------------------------------------------------------------------------------
def make_endpoint_filter_value(original: Any) -> Any:
    """VPCEndPoint.get_filter_value, filter vpc-endpoint-id.

    AWS EC2 API Reference, DescribeVpcEndpoints, Filters: "vpc-endpoint-id - The ID of the
    endpoint." moto 5.2.5 answered HTTP 500 (FilterNotImplementedError) for it.
    """

    def get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "vpc-endpoint-id":
            return self.id
        return original(self, filter_name, method_name)

    return get_filter_value


# Correction 10 -----------------------------------------------------------------------------
def make_route_table_filter_value(original: Any) -> Any:
    """RouteTable.get_filter_value, filter route.destination-prefix-list-id.

    AWS EC2 API Reference, DescribeRouteTables, Filters: "route.destination-prefix-list-id -
    The ID (prefix) of the AWS service specified in a route in the table." (the way to find
    which table routes a prefix list, and through which endpoint). moto 5.2.5 answered HTTP 500
    (FilterNotImplementedError) for it.
    """

    def get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "route.destination-prefix-list-id":
            return [
                route.destination_prefix_list.id
                for route in self._routes.values()
                if route.destination_prefix_list is not None
            ]
        return original(self, filter_name, method_name)

    return get_filter_value


# Fault injection (not a correction): seconds to hold back each CreateVpcEndpoint answer after
# the endpoint was created, so a test can kill its client between "AWS created it" and "the
# client heard about it". Set by --create-response-delay.
_CREATE_RESPONSE_DELAY = 0.0


# Response layer (corrections 3, 6, 7, 8) ---------------------------------------------------
def make_create_vpc_endpoint_response(original: Any) -> Any:
    def create_vpc_endpoint(self: Any) -> Any:
        refuse_dry_run(self)  # correction 8
        result = original(self)
        if _CREATE_RESPONSE_DELAY > 0:
            time.sleep(_CREATE_RESPONSE_DELAY)
        # Correction 3: CreateVpcEndpoint's result carries ClientToken ("Unique, case-sensitive
        # identifier that you provide to ensure the idempotency of the request").
        token = self._get_param("ClientToken")
        if token:
            result.result["ClientToken"] = token
        return result

    return create_vpc_endpoint


def modify_vpc_endpoint_response(self: Any) -> Any:
    """VPCs.modify_vpc_endpoint: moto's parameter reading plus DryRun (8) and ResetPolicy (6)."""
    from moto.core.responses import ActionResult

    refuse_dry_run(self)
    self.ec2_backend.modify_vpc_endpoint(
        vpc_id=self._get_param("VpcEndpointId"),
        policy_doc=self._get_param("PolicyDocument"),
        add_subnets=self._get_param("AddSubnetIds", []),
        remove_subnets=self._get_param("RemoveSubnetIds", []),
        add_route_tables=self._get_param("AddRouteTableIds", []),
        remove_route_tables=self._get_param("RemoveRouteTableIds", []),
        add_security_groups=self._get_param("AddSecurityGroupIds", []),
        remove_security_groups=self._get_param("RemoveSecurityGroupIds", []),
        reset_policy=bool(self._get_bool_param("ResetPolicy", False)),
    )
    return ActionResult({"Return": True})


def delete_vpc_endpoints_response(self: Any) -> Any:
    """VPCs.delete_vpc_endpoints: DryRun (8) and the Unsuccessful list (7), always HTTP 200."""
    from moto.core.responses import ActionResult

    refuse_dry_run(self)
    unsuccessful = self.ec2_backend.delete_vpc_endpoints(
        vpce_ids=self._get_param("VpcEndpointIds", [])
    )
    return ActionResult({"Unsuccessful": unsuccessful})


def apply_corrections() -> None:
    """Install the corrections into moto's classes (idempotent)."""
    import moto
    from moto.ec2.models.route_tables import RouteTable
    from moto.ec2.models.vpcs import VPCBackend, VPCEndPoint
    from moto.ec2.responses.vpcs import VPCs

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"vpcgate_moto corrections are written for moto {MOTO_VERSION}, found {moto.__version__}"
        )
    if getattr(VPCBackend, "_vpcgate_corrected", False):
        return
    VPCBackend.create_vpc_endpoint = make_create_vpc_endpoint(VPCBackend.create_vpc_endpoint)
    VPCBackend.modify_vpc_endpoint = modify_vpc_endpoint
    VPCBackend.delete_vpc_endpoints = delete_vpc_endpoints
    VPCEndPoint.get_filter_value = make_endpoint_filter_value(VPCEndPoint.get_filter_value)
    RouteTable.get_filter_value = make_route_table_filter_value(RouteTable.get_filter_value)
    VPCs.create_vpc_endpoint = make_create_vpc_endpoint_response(VPCs.create_vpc_endpoint)
    VPCs.modify_vpc_endpoint = modify_vpc_endpoint_response
    VPCs.delete_vpc_endpoints = delete_vpc_endpoints_response
    VPCBackend._vpcgate_corrected = True


# --------------------------------------------------------------------------------------------
# Fault injection (not corrections; all off by default). --create-response-delay is above, in
# the CreateVpcEndpoint response wrapper; the describe lag and the injected errors are here.
# --------------------------------------------------------------------------------------------

# All fault state is guarded by this lock (the server is threaded).
_FAULT_LOCK = threading.Lock()
# Seconds a new endpoint stays out of DescribeVpcEndpoints; --describe-lag sets the start value
# (what DELETE /vpcgate-faults/ restores), POST /vpcgate-faults/ {"describeLagSeconds": n} the
# current one.
_DESCRIBE_LAG_DEFAULT = 0.0
_DESCRIBE_LAG = 0.0
# Injected errors by EC2 action: {"code", "message", "status", "count"}; count -1 = until cleared.
_INJECTED_ERRORS: dict[str, dict[str, Any]] = {}

FAULTS_PATH = "/vpcgate-faults"


def _hidden_endpoint_ids(backend: Any) -> set[str]:
    """Endpoints created less than the describe lag ago (only those made by CreateVpcEndpoint)."""
    lag = _DESCRIBE_LAG
    if lag <= 0:
        return set()
    now = time.monotonic()
    return {
        endpoint.id
        for endpoint in list(backend.vpc_end_points.values())
        if now - getattr(endpoint, "_vpcgate_created", float("-inf")) < lag
    }


def make_describe_vpc_endpoints_response(original: Any) -> Any:
    """VPCs.describe_vpc_endpoints with the describe lag (--describe-lag).

    Amazon EC2 Developer Guide, "Eventual consistency in the Amazon EC2 API": "if you run a
    command to modify or describe the resource that you just created, its ID might not have
    propagated throughout the system, and you will get an error responding that the resource
    does not exist." Here only DescribeVpcEndpoints lags: an endpoint created less than the lag
    ago is left out of every answer, whatever the filters, and naming it in VpcEndpointIds fails
    as an unknown id does (InvalidVpcEndpointId.NotFound). Every other action sees it at once.
    """

    def describe_vpc_endpoints(self: Any) -> Any:
        from moto.ec2.exceptions import InvalidVpcEndPointIdError

        hidden = _hidden_endpoint_ids(self.ec2_backend)
        if not hidden:
            return original(self)
        for vpce_id in self._get_param("VpcEndpointIds", []):
            if vpce_id in hidden:
                raise InvalidVpcEndPointIdError(vpce_id)
        result = original(self)
        result.result["VpcEndpoints"] = [
            e for e in result.result["VpcEndpoints"] if e.id not in hidden
        ]
        return result

    return describe_vpc_endpoints


def apply_fault_injection() -> None:
    """Install the describe-lag wrapper (a no-op while the lag is 0; idempotent)."""
    from moto.ec2.responses.vpcs import VPCs

    if getattr(VPCs, "_vpcgate_faults", False):
        return
    VPCs.describe_vpc_endpoints = make_describe_vpc_endpoints_response(VPCs.describe_vpc_endpoints)
    VPCs._vpcgate_faults = True


def _fault_state() -> dict[str, Any]:
    with _FAULT_LOCK:
        return {
            "describeLagSeconds": _DESCRIBE_LAG,
            "errors": {action: dict(e) for action, e in _INJECTED_ERRORS.items()},
        }


def _configure_faults(body: Any) -> None:
    """Apply one POST /vpcgate-faults/ body; ValueError (nothing changed) if it is invalid."""
    global _DESCRIBE_LAG
    if not isinstance(body, dict) or not body:
        raise ValueError("expected a non-empty JSON object")
    unknown = set(body) - {
        "describeLagSeconds", "action", "code", "message", "count", "status", "delaySeconds"
    }
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    lag = body.get("describeLagSeconds")
    if lag is not None and (isinstance(lag, bool) or not isinstance(lag, (int, float)) or lag < 0):
        raise ValueError("describeLagSeconds must be a number >= 0")
    error = None
    if "delaySeconds" in body:
        # A slow answer, not an error: the request waits, then reaches moto.
        action, delay = body.get("action"), body.get("delaySeconds")
        count = body.get("count", 1)
        if not isinstance(action, str) or not action or "code" in body:
            raise ValueError("a delay needs a non-empty string 'action' and no 'code'")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 < delay <= 30:
            raise ValueError("delaySeconds must be a number in (0, 30]")
        if isinstance(count, bool) or not isinstance(count, int) or count < -1:
            raise ValueError("count must be an integer: -1 (until cleared), 0 (remove) or more")
        error = (action, {"delaySeconds": float(delay), "count": count})
    elif set(body) - {"describeLagSeconds"}:
        action, code = body.get("action"), body.get("code")
        if not isinstance(action, str) or not action or not isinstance(code, str) or not code:
            raise ValueError("an injected error needs non-empty strings 'action' and 'code'")
        message = body.get("message", code)
        count = body.get("count", 1)
        # EC2 answers RequestLimitExceeded with HTTP 503, its other errors with 400.
        status = body.get("status", 503 if code == "RequestLimitExceeded" else 400)
        if not isinstance(message, str):
            raise ValueError("message must be a string")
        if isinstance(count, bool) or not isinstance(count, int) or count < -1:
            raise ValueError("count must be an integer: -1 (until cleared), 0 (remove) or more")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        error = (action, {"code": code, "message": message, "status": status, "count": count})
    with _FAULT_LOCK:
        if lag is not None:
            _DESCRIBE_LAG = float(lag)
        if error is not None:
            action, spec = error
            if spec["count"] == 0:
                _INJECTED_ERRORS.pop(action, None)
            else:
                _INJECTED_ERRORS[action] = spec  # replaces an earlier one for this action


def _clear_faults() -> None:
    global _DESCRIBE_LAG
    with _FAULT_LOCK:
        _INJECTED_ERRORS.clear()
        _DESCRIBE_LAG = _DESCRIBE_LAG_DEFAULT


def _take_injected_error(action: str | None) -> dict[str, Any] | None:
    """The error to answer for this action, counting it; None to let moto answer."""
    if not action:
        return None
    with _FAULT_LOCK:
        spec = _INJECTED_ERRORS.get(action)
        if spec is None:
            return None
        if spec["count"] > 0:
            spec["count"] -= 1
            if spec["count"] == 0:
                del _INJECTED_ERRORS[action]
        return dict(spec)


def _request_action(environ: dict[str, Any]) -> str | None:
    """Action= of a query-protocol request, from the query string or the form-encoded body.

    The body is read whole and put back as a BytesIO of the same bytes (CONTENT_LENGTH is
    unchanged), so moto reads it exactly as if nobody had.
    """
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if action:
        return action[0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= 0:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    return action[0] if action else None


def _respond(start_response: Any, status: int, content_type: str, body: bytes, extra=()) -> list:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    start_response(
        f"{status} {reason}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra],
    )
    return [body]


def _ec2_error_response(start_response: Any, spec: dict[str, Any]) -> list:
    """EC2's query-API error document (Amazon EC2 API Reference, "Error codes": "Error
    response"), as AWS sends it: Response/Errors/Error{Code,Message} and RequestID."""
    request_id = str(uuid.uuid4())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{xml_escape(spec['code'])}</Code>"
        f"<Message>{xml_escape(spec['message'])}</Message></Error></Errors>"
        f"<RequestID>{request_id}</RequestID></Response>"
    ).encode()
    return _respond(
        start_response, spec["status"], "text/xml", body, [("x-amzn-RequestId", request_id)]
    )


class FaultInjection:
    """WSGI middleware in front of moto's DomainDispatcherApplication (behind RequestThrottling).

    ``/vpcgate-faults`` (with or without the trailing slash) is the control endpoint: GET shows
    the state, POST sets (see _configure_faults), DELETE clears the errors and restores the
    --describe-lag value; each answers the state as JSON. Any other request whose Action= has
    an injected error gets that error instead of reaching moto (so it changes nothing and is
    not recorded). While no error is injected, requests pass through untouched.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") == FAULTS_PATH:
            return self.control(environ, start_response)
        if _INJECTED_ERRORS and not path.startswith("/moto-api"):
            spec = _take_injected_error(_request_action(environ))
            if spec is not None and "delaySeconds" in spec:
                time.sleep(spec["delaySeconds"])
            elif spec is not None:
                return _ec2_error_response(start_response, spec)
        return self.app(environ, start_response)

    def control(self, environ: dict[str, Any], start_response: Any) -> list:
        return _json_control(environ, start_response, _configure_faults, _clear_faults, _fault_state)


def _json_control(
    environ: dict[str, Any], start_response: Any, configure: Any, clear: Any, state: Any
) -> list:
    """A JSON control endpoint (/vpcgate-faults, /vpcgate-iam, /vpcgate-network,
    /vpcgate-throttle): GET shows the state, POST passes the JSON body to ``configure``
    (ValueError: HTTP 400 {"error": ...}, nothing changed), DELETE calls ``clear``; each
    success answers ``state()`` as JSON."""
    method = environ.get("REQUEST_METHOD", "GET")
    try:
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length > 0 else b""
            try:
                body = json.loads(raw or b"null")
            except ValueError as e:
                raise ValueError(f"body is not JSON: {e}") from None
            configure(body)
        elif method == "DELETE":
            clear()
        elif method != "GET":
            return _respond(
                start_response, 405, "application/json",
                json.dumps({"error": f"method {method} not allowed"}).encode(),
                [("Allow", "GET, POST, DELETE")],
            )
    except ValueError as e:
        return _respond(
            start_response, 400, "application/json", json.dumps({"error": str(e)}).encode()
        )
    return _respond(start_response, 200, "application/json", json.dumps(state()).encode())


# --------------------------------------------------------------------------------------------
# Access evaluation (test modes, both off by default): IAM evaluation of registered test
# principals (/vpcgate-iam/) and the DynamoDB gateway endpoint policy on the caller's network
# path (/vpcgate-network/). The policy language is in vpcgate_iam.py (pure functions); here is
# what each request asks for (actions, resources, context keys, read from moto's state), the
# control endpoints and the WSGI middleware.
# --------------------------------------------------------------------------------------------

ACCOUNT_ID = "123456789012"  # moto's account for keys it does not know (DEFAULT_ACCOUNT_ID)
PARTITION = "aws"
# Who an unregistered key is, for endpoint policies' Principal (moto's GetCallerIdentity answers
# arn:aws:sts::123456789012:user/moto for such keys).
MOTO_CALLER_ARN = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/moto"

IAM_PATH = "/vpcgate-iam"
NETWORK_PATH = "/vpcgate-network"

# Guards _PRINCIPALS and _CALLER_SUBNET. POST replaces _PRINCIPALS as a whole (never mutated in
# place), so a request works on the snapshot it read under the lock.
_ACCESS_LOCK = threading.Lock()
_PRINCIPALS: dict[str, dict[str, Any]] = {}  # access key id -> {"arn", "policy"}
_CALLER_SUBNET: str | None = None

_SIGV4_CREDENTIAL = re.compile(
    r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request"
)
_DRY_RUN = {
    "code": "DryRunOperation",
    "message": "Request would have succeeded, but DryRun flag is set.",
    "status": 412,
}


@dataclass
class AwsRequest:
    """What the access evaluation needs to know about one AWS API request."""

    access_key: str | None  # from the SigV4 credential scope; None if unsigned
    region: str
    service: str  # "ec2", "dynamodb", "sts", ...
    operation: str | None  # Action= (query protocols), X-Amz-Target's operation (JSON)
    protocol: str  # "query" (EC2, STS, ...: form/query Action=), "json" (X-Amz-Target), "rest"
    params: dict[str, str]  # query-protocol parameters (first value of each)
    body: dict[str, Any]  # JSON-protocol body


def _buffered_body(environ: dict[str, Any]) -> bytes:
    """The request body, read whole and put back (as _request_action does) for moto to read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    if length <= 0:
        return b""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def parse_aws_request(environ: dict[str, Any]) -> AwsRequest:
    """Signer, region and service from the SigV4 credential scope (the Authorization header, or
    X-Amz-Credential of a presigned URL: "<access key>/<date>/<region>/<service>/aws4_request",
    AWS General Reference, "Signature Version 4"); the operation from Action= (EC2 / STS query
    APIs) or X-Amz-Target ("DynamoDB_20120810.DescribeTable", the JSON protocol)."""
    scope = _SIGV4_CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
    if scope is None and "X-Amz-Credential" in query:
        scope = _SIGV4_CREDENTIAL.search("Credential=" + query["X-Amz-Credential"])
    access_key, region, service = (
        (scope.group(1), scope.group(3), scope.group(4)) if scope else (None, "us-east-1", "")
    )
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    raw = _buffered_body(environ)
    if target:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if not service and target.startswith("DynamoDB_"):
            service = "dynamodb"
        return AwsRequest(access_key, region, service, target.rsplit(".", 1)[-1], "json", {},
                          body if isinstance(body, dict) else {})
    params = dict(query)
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[0] for k, v in form.items()})
    if "Action" in params:
        return AwsRequest(access_key, region, service, params["Action"], "query", params, {})
    return AwsRequest(access_key, region, service, environ.get("REQUEST_METHOD"), "rest", params, {})


# Request parameters (EC2 query protocol: lists are Name.1, Name.2, ...) ---------------------


def _indexed(params: dict[str, str], name: str) -> list[str]:
    """The values of Name.1, Name.2, ... in index order."""
    found = []
    for key, value in params.items():
        head, _, index = key.rpartition(".")
        if head == name and index.isdigit():
            found.append((int(index), value))
    return [value for _, value in sorted(found)]


def _indexed_tags(params: dict[str, str], prefix: str) -> dict[str, str | None]:
    """Tags given as <prefix>.N.Key / <prefix>.N.Value (Value None when not sent)."""
    indices = sorted({
        int(key[len(prefix) + 1: -len(".Key")])
        for key in params
        if key.startswith(prefix + ".") and key.endswith(".Key")
        and key[len(prefix) + 1: -len(".Key")].isdigit()
    })
    return {params[f"{prefix}.{i}.Key"]: params.get(f"{prefix}.{i}.Value") for i in indices}


def _tag_specification_tags(params: dict[str, str], resource_type: str) -> dict[str, str | None]:
    """Tags of the TagSpecification.N whose ResourceType is ``resource_type``."""
    tags: dict[str, str | None] = {}
    for key, value in sorted(params.items()):
        if key.startswith("TagSpecification.") and key.endswith(".ResourceType") and value == resource_type:
            tags.update(_indexed_tags(params, key[: -len(".ResourceType")] + ".Tag"))
    return tags


def _is_true(value: str | None) -> bool:
    return (value or "").lower() == "true"


# Resources and their context keys (read from moto's EC2 state) --------------------------------

# Resource types by id prefix (Service Authorization Reference, "Actions, resources, and
# condition keys for Amazon EC2", resource types table). vpce- before vpc-.
_EC2_ID_KINDS = (
    ("vpce-", "vpc-endpoint"), ("rtb-", "route-table"), ("vpc-", "vpc"), ("subnet-", "subnet"),
    ("sg-", "security-group"), ("i-", "instance"), ("igw-", "internet-gateway"),
    ("eni-", "network-interface"), ("acl-", "network-acl"), ("nat-", "natgateway"),
    ("pl-", "prefix-list"),
)


def _ec2_kind(resource_id: str) -> str:
    for prefix, kind in _EC2_ID_KINDS:
        if resource_id.startswith(prefix):
            return kind
    return resource_id.split("-", 1)[0]


def _ec2_arn(region: str, kind: str, resource_id: str) -> str:
    return f"arn:{PARTITION}:ec2:{region}:{ACCOUNT_ID}:{kind}/{resource_id}"


def _ec2_tags(backend: Any, resource_id: str) -> dict[str, str]:
    if backend is None:
        return {}
    return dict(backend.tags.get(resource_id) or {})  # .get: never add to the defaultdict


def _ec2_object(backend: Any, resource_id: str) -> Any:
    """moto's object for an EC2 id, or None (unknown id, or a type not looked up)."""
    if backend is None:
        return None
    kind = _ec2_kind(resource_id)
    try:
        if kind == "vpc-endpoint":
            return backend.vpc_end_points.get(resource_id)
        if kind == "route-table":
            return backend.route_tables.get(resource_id)
        if kind == "vpc":
            return backend.vpcs.get(resource_id)
        if kind == "subnet":
            return backend.get_subnet(resource_id)
        if kind == "security-group":
            return backend.get_security_group_from_id(resource_id)
        if kind == "instance":
            return backend.get_instance(resource_id)
    except Exception:  # moto's NotFound errors
        return None
    return None


def ec2_resource_context(backend: Any, region: str, resource_id: str) -> dict[str, Any]:
    """Context keys of an existing EC2 resource (Service Authorization Reference, EC2 condition
    keys): aws:ResourceTag/<key> (and its ec2:ResourceTag/<key> twin) for each current tag;
    ec2:Vpc (the VPC's ARN) for resources in a VPC; ec2:VpcID for a VPC; ec2:RouteTableID for a
    route table; ec2:VpceServiceName for an endpoint. Unknown ids have none of these."""
    kind = _ec2_kind(resource_id)
    context: dict[str, Any] = {}
    for key, value in _ec2_tags(backend, resource_id).items():
        context[f"aws:ResourceTag/{key}"] = value
        context[f"ec2:ResourceTag/{key}"] = value
    obj = _ec2_object(backend, resource_id)
    if kind == "vpc":
        context["ec2:VpcID"] = resource_id
    elif getattr(obj, "vpc_id", None):
        context["ec2:Vpc"] = _ec2_arn(region, "vpc", obj.vpc_id)
    if kind == "route-table":
        context["ec2:RouteTableID"] = resource_id
    if kind == "vpc-endpoint" and obj is not None:
        context["ec2:VpceServiceName"] = obj.service_name
    return context


def request_tag_context(tags: dict[str, str | None]) -> dict[str, Any]:
    """aws:RequestTag/<key> (the value sent; absent when no value was sent, as in DeleteTags by
    key) and aws:TagKeys (every key sent)."""
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    context["aws:TagKeys"] = list(tags)
    return context


def _existing(backend: Any, region: str, action: str, resource_id: str, **extra: Any) -> iam.Check:
    """A check on an existing resource with its own context keys (plus ``extra``)."""
    context = {**ec2_resource_context(backend, region, resource_id), **extra}
    return iam.Check(action, _ec2_arn(region, _ec2_kind(resource_id), resource_id), context)


# One function per modelled EC2 action: (backend, region, params) -> checks ------------------


def create_vpc_endpoint_checks(backend: Any, region: str, p: dict[str, str]) -> list[iam.Check]:
    """CreateVpcEndpoint (Service Authorization Reference, EC2: resource types vpc-endpoint
    (required), vpc, route-table, subnet, security-group). The new endpoint is
    ``vpc-endpoint/*`` with the tags requested for it (aws:RequestTag/*, aws:TagKeys) and
    ec2:VpceServiceName. Tags in TagSpecifications also need ec2:CreateTags on the new endpoint
    with ec2:CreateAction=CreateVpcEndpoint (EC2 User Guide, "Grant permission to tag Amazon EC2
    resources during creation": "If tags are specified in the resource-creating action, Amazon
    performs additional authorization on the ec2:CreateTags action")."""
    action = "ec2:CreateVpcEndpoint"
    tags = _tag_specification_tags(p, "vpc-endpoint")
    new = _ec2_arn(region, "vpc-endpoint", "*")
    new_context = {**request_tag_context(tags), "ec2:VpceServiceName": p.get("ServiceName")}
    checks = [iam.Check(action, new, new_context)]
    if p.get("VpcId"):
        checks.append(_existing(backend, region, action, p["VpcId"]))
    for name in ("RouteTableId", "SubnetId", "SecurityGroupId"):
        checks += [_existing(backend, region, action, rid) for rid in _indexed(p, name)]
    if tags:
        checks.append(iam.Check(
            "ec2:CreateTags", new, {**request_tag_context(tags), "ec2:CreateAction": "CreateVpcEndpoint"}
        ))
    return checks


def modify_vpc_endpoint_checks(backend: Any, region: str, p: dict[str, str]) -> list[iam.Check]:
    """ModifyVpcEndpoint: the endpoint (its current tags, ec2:VpceServiceName) and every route
    table, subnet and security group added or removed."""
    action = "ec2:ModifyVpcEndpoint"
    checks = [_existing(backend, region, action, p.get("VpcEndpointId", ""))]
    for name in ("AddRouteTableId", "RemoveRouteTableId", "AddSubnetId", "RemoveSubnetId",
                 "AddSecurityGroupId", "RemoveSecurityGroupId"):
        checks += [_existing(backend, region, action, rid) for rid in _indexed(p, name)]
    return checks


def delete_vpc_endpoints_checks(backend: Any, region: str, p: dict[str, str]) -> list[iam.Check]:
    """DeleteVpcEndpoints: each endpoint named; one denied denies the whole call."""
    return [
        _existing(backend, region, "ec2:DeleteVpcEndpoints", vid)
        for vid in _indexed(p, "VpcEndpointId")
    ]


def tag_checks(action: str) -> Any:
    """CreateTags / DeleteTags: each resource (its current tags, ec2:Vpc) with the request's
    aws:RequestTag/* and aws:TagKeys. No ec2:CreateAction: that key exists only when the tags
    come with a create action (EC2 User Guide, "Grant permission to tag Amazon EC2 resources
    during creation")."""

    def checks(backend: Any, region: str, p: dict[str, str]) -> list[iam.Check]:
        tags = request_tag_context(_indexed_tags(p, "Tag"))
        return [
            _existing(backend, region, f"ec2:{action}", rid, **tags)
            for rid in _indexed(p, "ResourceId")
        ]

    return checks


def prefix_list_entries_checks(backend: Any, region: str, p: dict[str, str]) -> list[iam.Check]:
    """GetManagedPrefixListEntries: resource prefix-list; an AWS-managed list (owner "AWS", as all
    of moto's service lists are) has the account field "aws":
    arn:aws:ec2:<region>:aws:prefix-list/<id>."""
    pl_id = p.get("PrefixListId", "")
    pl = backend.managed_prefix_lists.get(pl_id) if backend is not None else None
    owner = "aws" if pl is not None and str(pl.owner_id).lower() == "aws" else ACCOUNT_ID
    return [iam.Check("ec2:GetManagedPrefixListEntries",
                      f"arn:{PARTITION}:ec2:{region}:{owner}:prefix-list/{pl_id}")]


EC2_CHECKS = {
    "CreateVpcEndpoint": create_vpc_endpoint_checks,
    "ModifyVpcEndpoint": modify_vpc_endpoint_checks,
    "DeleteVpcEndpoints": delete_vpc_endpoints_checks,
    "CreateTags": tag_checks("CreateTags"),
    "DeleteTags": tag_checks("DeleteTags"),
    "GetManagedPrefixListEntries": prefix_list_entries_checks,
}


def _ec2_backend(region: str) -> Any:
    from moto.ec2.models import ec2_backends

    try:
        return ec2_backends[ACCOUNT_ID][region]
    except Exception:  # a region moto does not know
        return None


def dynamodb_table_arn(region: str, table_name: Any) -> str:
    """TableName may be a name or (DynamoDB accepts either) the table's ARN."""
    name = str(table_name)
    if name.startswith("arn:"):
        return name
    return f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"


def authorization_checks(request: AwsRequest, caller_arn: str) -> list[iam.Check]:
    """The checks a request needs. EC2 actions in EC2_CHECKS as modelled there, other EC2 actions
    (Describe*, ...) on "*". DynamoDB: the table of TableName when the request has one
    (DescribeTable: table/<name>), else "*" (ListTables). Anything else: <service>:<operation>
    on "*". Every check carries aws:RequestedRegion, aws:PrincipalArn, aws:PrincipalAccount."""
    account = caller_arn.split(":")[4] if caller_arn.count(":") >= 5 else ACCOUNT_ID
    common = {"aws:RequestedRegion": request.region, "aws:PrincipalArn": caller_arn,
              "aws:PrincipalAccount": account or ACCOUNT_ID}
    action = f"{request.service}:{request.operation}"
    if request.service == "ec2" and request.operation in EC2_CHECKS:
        with _ENDPOINT_LOCK:  # a consistent view of endpoints, routes and tags
            checks = EC2_CHECKS[request.operation](
                _ec2_backend(request.region), request.region, request.params
            )
    elif request.service == "dynamodb" and isinstance(request.body.get("TableName"), str):
        checks = [iam.Check(action, dynamodb_table_arn(request.region, request.body["TableName"]))]
    else:
        checks = [iam.Check(action, "*")]
    return [iam.Check(c.action, c.resource, iam.context_of({**common, **c.context})) for c in checks]


# Network path: which gateway endpoint (if any) a DynamoDB request from the subnet goes through --


def _find_subnet(subnet_id: str) -> tuple[str, Any] | None:
    """(region, subnet) among the EC2 regions moto has instantiated, or None."""
    from moto.ec2.models import ec2_backends

    for region, backend in list(dict.items(ec2_backends[ACCOUNT_ID])):
        try:
            return region, backend.get_subnet(subnet_id)
        except Exception:
            continue
    return None


def subnet_route_table(backend: Any, subnet: Any) -> Any:
    """Amazon VPC User Guide, "Subnet route tables": "Each subnet in your VPC must be associated
    with a route table... If you don't explicitly associate a subnet with a particular route
    table, the subnet is implicitly associated with the main route table." """
    tables = list(backend.route_tables.values())
    for table in tables:
        if subnet.id in list(table._associations.values()):
            return table
    for table in tables:
        if table.vpc_id == subnet.vpc_id and table.main_association_id is not None:
            return table
    return None


def gateway_endpoint_for_subnet(backend: Any, region: str, subnet: Any) -> Any:
    """The gateway endpoint a DynamoDB request from ``subnet`` goes through, or None ("over the
    internet"). PrivateLink guide, "Gateway endpoints": "Traffic from your VPC to Amazon S3 or
    DynamoDB is routed to the gateway endpoint" by the route DestinationPrefixListId (the
    service's prefix list) -> the endpoint, in the subnet's route table. The route is the one
    correction 1/4 add (_add_gateway_route: moto's Route with destination_prefix_list and
    gateway = the endpoint, so gateway_id is the vpce- id), found by moto's own route id."""
    table = subnet_route_table(backend, subnet)
    pl_id = _prefix_list_id_for(backend, f"com.amazonaws.{region}.dynamodb")
    if table is None or pl_id is None:
        return None
    route = _prefix_list_route(backend, table.id, pl_id)
    gateway_id = route.gateway_id if route is not None else None
    if not gateway_id or not gateway_id.startswith("vpce-"):
        return None
    endpoint = backend.vpc_end_points.get(gateway_id)
    if endpoint is None or endpoint.state == "deleted":
        return None
    return endpoint


class NetworkMisconfigured(Exception):
    """callerSubnet no longer exists (e.g. POST /moto-api/reset after setting it)."""


def endpoint_on_path(request: AwsRequest, subnet_id: str) -> Any:
    """The gateway endpoint on the path of a request sent from an instance in ``subnet_id``.
    Gateway endpoints serve their own region only, so a request to another region goes over
    the internet (None)."""
    found = _find_subnet(subnet_id)
    if found is None:
        raise NetworkMisconfigured(
            f"vpcgate-network: callerSubnet {subnet_id} does not exist (any more); "
            "set it again after POST /moto-api/reset, or DELETE /vpcgate-network/"
        )
    region, subnet = found
    if region != request.region:
        return None
    backend = _ec2_backend(region)
    with _ENDPOINT_LOCK:
        return gateway_endpoint_for_subnet(backend, region, subnet)


# Answers ------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def _request_id() -> str:
    return str(uuid.uuid4())


def ec2_unauthorized_message(caller_arn: str, check: iam.Check, decision: str) -> str:
    """Amazon EC2 API Reference, "Error codes": UnauthorizedOperation, "You are not authorized to
    perform this operation", followed (as EC2 sends it) by the IAM sentence and an encoded
    authorization failure message (a blob sts:DecodeAuthorizationMessage would decode; here
    random, it is not decodable)."""
    blob = base64.urlsafe_b64encode(os.urandom(120)).decode().rstrip("=")
    return (
        "You are not authorized to perform this operation. "
        f"{iam.denial_message(caller_arn, check, decision, 'identity')}. "
        f"Encoded authorization failure message: {blob}"
    )


def ec2_error_answer(code: str, message: str, status: int) -> Answer:
    request_id = _request_id()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{xml_escape(code)}</Code>"
        f"<Message>{xml_escape(message)}</Message></Error></Errors>"
        f"<RequestID>{request_id}</RequestID></Response>"
    ).encode()
    return Answer(status, "text/xml", body, [("x-amzn-RequestId", request_id)])


def json_error_answer(type_: str, message: str, status: int = 400) -> Answer:
    """DynamoDB's JSON error (Amazon DynamoDB Developer Guide, "Error handling": HTTP 400,
    {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": ...}), with the
    x-amz-crc32 checksum DynamoDB puts on every answer."""
    body = json.dumps({"__type": type_, "Message": message}, separators=(",", ":")).encode()
    return Answer(status, "application/x-amz-json-1.0", body, [
        ("x-amzn-RequestId", _request_id()), ("x-amz-crc32", str(zlib.crc32(body))),
    ])


def query_error_answer(code: str, message: str, status: int) -> Answer:
    """The query-protocol error document of STS/IAM-style APIs (ErrorResponse/Error)."""
    request_id = _request_id()
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{xml_escape(code)}</Code>"
        f"<Message>{xml_escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
        "</ErrorResponse>"
    ).encode()
    return Answer(status, "text/xml", body, [("x-amzn-RequestId", request_id)])


def denied_answer(
    request: AwsRequest, caller_arn: str, check: iam.Check, decision: str, policy_type: str
) -> Answer:
    """The access-denied error in the request's protocol: EC2 UnauthorizedOperation (HTTP 403),
    DynamoDB AccessDeniedException (HTTP 400), other JSON services AccessDeniedException,
    other query/REST services AccessDenied (HTTP 403)."""
    if request.service == "ec2":
        message = ec2_unauthorized_message(caller_arn, check, decision)
        return ec2_error_answer("UnauthorizedOperation", message, 403)
    message = iam.denial_message(caller_arn, check, decision, policy_type)
    if request.service == "dynamodb":
        return json_error_answer("com.amazon.coral.service#AccessDeniedException", message)
    if request.protocol == "json":
        return json_error_answer("AccessDeniedException", message)
    return query_error_answer("AccessDenied", message, 403)


def caller_identity_answer(access_key: str, arn: str) -> Answer:
    """AWS STS API Reference, GetCallerIdentity: "No permissions are required to perform this
    operation" (an explicit deny cannot stop it either). Answers the registered principal's ARN,
    its account, and a UserId derived from the ARN (AIDA... for users, AROA... for roles)."""
    account = arn.split(":")[4] if arn.count(":") >= 5 and arn.split(":")[4] else ACCOUNT_ID
    prefix = "AROA" if ":role/" in arn else "AIDA"
    user_id = prefix + hashlib.sha1(arn.encode()).hexdigest()[:17].upper()
    request_id = _request_id()
    body = (
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<GetCallerIdentityResult><Arn>{xml_escape(arn)}</Arn><UserId>{user_id}</UserId>"
        f"<Account>{account}</Account></GetCallerIdentityResult>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>"
    ).encode()
    return Answer(200, "text/xml", body, [("x-amzn-RequestId", request_id)])


def access_answer(
    request: AwsRequest, principals: dict[str, dict[str, Any]], caller_subnet: str | None
) -> Answer | None:
    """What to answer instead of moto, or None to let moto answer.

    Identity (IAM mode): a request signed with a registered access key id is evaluated against
    that principal's policy (IAM User Guide, "Policy evaluation logic"); other keys are not
    restricted. Network (network mode): a DynamoDB request, whatever its key, also needs the
    policy of the gateway endpoint on its path (PrivateLink guide, "Control access to VPC
    endpoints using endpoint policies": "An endpoint policy does not override or replace
    identity-based policies or resource-based policies"; both must allow). An explicit deny in
    either wins over implicit denies; between two implicit denies the identity-based one is
    reported. EC2 DryRun of an allowed request answers DryRunOperation without reaching moto.
    """
    principal = principals.get(request.access_key or "")
    if principal is not None and request.service == "sts" and request.operation == "GetCallerIdentity":
        return caller_identity_answer(request.access_key or "", principal["arn"])
    in_network = caller_subnet is not None and request.service == "dynamodb"
    if (principal is None and not in_network) or not request.operation:
        return None
    caller_arn = principal["arn"] if principal is not None else MOTO_CALLER_ARN
    checks = authorization_checks(request, caller_arn)
    outcomes = []  # (decision, check, policy type), identity first
    if principal is not None:
        outcomes.append((*iam.evaluate_checks(principal["policy"], checks), "identity"))
    if in_network:
        endpoint = endpoint_on_path(request, caller_subnet)
        if endpoint is not None:
            extra = {"aws:SourceVpce": endpoint.id, "aws:SourceVpc": endpoint.vpc_id}
            via = [iam.Check(c.action, c.resource, {**c.context, **iam.context_of(extra)}) for c in checks]
            outcomes.append((*iam.evaluate_checks(endpoint.policy_document, via, caller_arn), "endpoint"))
    for wanted in (iam.EXPLICIT_DENY, iam.IMPLICIT_DENY):
        for decision, check, policy_type in outcomes:
            if decision == wanted:
                return denied_answer(request, caller_arn, check, decision, policy_type)
    if principal is not None and request.service == "ec2" and _is_true(request.params.get("DryRun")):
        return ec2_error_answer(**_DRY_RUN)
    return None


# Control endpoints --------------------------------------------------------------------------


def _iam_state() -> dict[str, Any]:
    with _ACCESS_LOCK:
        return {"principals": json.loads(json.dumps(_PRINCIPALS))}


def _configure_iam(body: Any) -> None:
    """Apply one POST /vpcgate-iam/ body (replaces the set); ValueError (nothing changed) if it
    is invalid."""
    global _PRINCIPALS
    if not isinstance(body, dict) or set(body) != {"principals"}:
        raise ValueError('expected {"principals": {"<access key id>": {"arn": ..., "policy": ...}}}')
    principals = body["principals"]
    if not isinstance(principals, dict):
        raise ValueError("principals must be an object keyed by access key id")
    for key, spec in principals.items():
        if not key or any(c in key for c in "/, \t"):
            raise ValueError(f"invalid access key id {key!r}")
        if not isinstance(spec, dict) or set(spec) != {"arn", "policy"}:
            raise ValueError(f"principal {key}: expected exactly the fields arn and policy")
        arn = spec["arn"]
        if not isinstance(arn, str) or not re.fullmatch(r"arn:[\w-]+:(iam|sts)::\d{12}:\S+", arn):
            raise ValueError(f"principal {key}: arn must be an IAM/STS principal ARN")
        try:
            iam.validate_identity_policy(spec["policy"])
        except ValueError as e:
            raise ValueError(f"principal {key}: {e}") from None
    copy = json.loads(json.dumps(principals))
    with _ACCESS_LOCK:
        _PRINCIPALS = copy


def _clear_iam() -> None:
    global _PRINCIPALS
    with _ACCESS_LOCK:
        _PRINCIPALS = {}


def _network_state() -> dict[str, Any]:
    with _ACCESS_LOCK:
        return {"callerSubnet": _CALLER_SUBNET}


def _configure_network(body: Any) -> None:
    """Apply one POST /vpcgate-network/ body; ValueError (nothing changed) if it is invalid or
    names a subnet moto does not have."""
    global _CALLER_SUBNET
    if not isinstance(body, dict) or set(body) != {"callerSubnet"}:
        raise ValueError('expected {"callerSubnet": "subnet-..."} or {"callerSubnet": null}')
    subnet = body["callerSubnet"]
    if subnet is not None:
        if not isinstance(subnet, str) or not subnet.startswith("subnet-"):
            raise ValueError("callerSubnet must be a subnet id (subnet-...) or null")
        if _find_subnet(subnet) is None:
            raise ValueError(f"callerSubnet {subnet} does not exist")
    with _ACCESS_LOCK:
        _CALLER_SUBNET = subnet


def _clear_network() -> None:
    global _CALLER_SUBNET
    with _ACCESS_LOCK:
        _CALLER_SUBNET = None


class AccessEvaluation:
    """WSGI middleware in front of moto (behind FaultInjection): the /vpcgate-iam and
    /vpcgate-network control endpoints (trailing slash optional), and access_answer() for every
    AWS request while a mode is on. With both off, requests pass through untouched (the body is
    not even read); /moto-api/... always does."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") == IAM_PATH:
            return _json_control(environ, start_response, _configure_iam, _clear_iam, _iam_state)
        if path.rstrip("/") == NETWORK_PATH:
            return _json_control(
                environ, start_response, _configure_network, _clear_network, _network_state
            )
        with _ACCESS_LOCK:
            principals, subnet = _PRINCIPALS, _CALLER_SUBNET
        if (not principals and subnet is None) or path.startswith("/moto-api"):
            return self.app(environ, start_response)
        try:
            answer = access_answer(parse_aws_request(environ), principals, subnet)
        except NetworkMisconfigured as e:
            answer = json_error_answer("com.amazonaws.dynamodb.v20120810#InternalServerError", str(e), 500)
        if answer is None:
            return self.app(environ, start_response)
        return _respond(start_response, answer.status, answer.content_type, answer.body, answer.headers)


# --------------------------------------------------------------------------------------------
# Request throttling (off by default): AWS's EC2 token buckets, vpcgate_throttle.py, in front of
# everything else, so a throttled request is seen by nothing behind it.
# --------------------------------------------------------------------------------------------

THROTTLE_PATH = "/vpcgate-throttle"
EC2_API_VERSION = "2016-11-15"  # the Version= every EC2 query request carries
_THROTTLE = throttle.Throttle()


def _configure_throttle(body: Any) -> None:
    """Apply one POST /vpcgate-throttle/ body; ValueError (nothing changed) if it is invalid."""
    _THROTTLE.configure(throttle.parse_config(body))


def _account_of(request: AwsRequest, environ: dict[str, Any]) -> str:
    """The account moto serves the request as (BaseResponse.get_current_account): EC2 throttles
    per account and Region."""
    if os.environ.get("MOTO_ACCOUNT_ID"):
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from

    return get_account_id_from(request.access_key or "")


def ec2_throttle_scope(request: AwsRequest, environ: dict[str, Any]) -> str | None:
    """The "<account>/<region>" of an EC2 query request; None for anything else (DynamoDB's
    JSON protocol, STS and other query APIs), which EC2's buckets do not cover."""
    if request.protocol != "query" or not request.operation:
        return None
    if request.service != "ec2" and not (
        request.access_key is None and request.params.get("Version") == EC2_API_VERSION
    ):
        return None
    return f"{_account_of(request, environ)}/{request.region}"


class RequestThrottling:
    """Outermost WSGI middleware: the /vpcgate-throttle control endpoint (trailing slash
    optional), and while throttling is on a token for every EC2 request, else EC2's
    RequestLimitExceeded without passing it on. While off, requests pass through untouched
    (the body is not even read); /moto-api/... and /vpcgate-*/... always do."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") == THROTTLE_PATH:
            return _json_control(
                environ, start_response, _configure_throttle, _THROTTLE.clear, _THROTTLE.state
            )
        if not _THROTTLE.enabled or path.startswith(("/moto-api", "/vpcgate-")):
            return self.app(environ, start_response)
        request = parse_aws_request(environ)
        scope = ec2_throttle_scope(request, environ)
        if scope is not None and not _THROTTLE.admit(scope, request.operation):
            return _ec2_error_response(start_response, throttle.THROTTLED)
        return self.app(environ, start_response)


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


class _Stop(BaseException):
    """Raised by the SIGTERM/SIGINT handler in the main thread. A BaseException, as
    KeyboardInterrupt is: socketserver's _handle_request_noblock swallows any Exception raised
    while it hands a connection to a new thread (Thread.start() waits), so a signal landing
    there left the server running."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 = any free port")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--create-response-delay",
        type=float,
        default=0.0,
        help="fault injection: hold back each CreateVpcEndpoint answer this many seconds after creating",
    )
    parser.add_argument(
        "--describe-lag",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="fault injection: leave endpoints created less than SECONDS ago out of "
        "DescribeVpcEndpoints (EC2 eventual consistency)",
    )
    parser.add_argument(
        "--throttle",
        action="store_true",
        help="start with EC2 request throttling on, AWS's bucket sizes (see /vpcgate-throttle/)",
    )
    args = parser.parse_args(argv)
    if args.describe_lag < 0:
        parser.error("--describe-lag must be >= 0")
    global _CREATE_RESPONSE_DELAY, _DESCRIBE_LAG, _DESCRIBE_LAG_DEFAULT
    _CREATE_RESPONSE_DELAY = args.create_response_delay
    _DESCRIBE_LAG = _DESCRIBE_LAG_DEFAULT = args.describe_lag
    if args.throttle:
        _THROTTLE.configure(throttle.Config(enabled=True))

    # Before anything slow: a SIGTERM/SIGINT at any point ends us through the finally below.
    def stop(_signum: int, _frame: Any) -> None:
        raise _Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    tmpdir = None
    try:
        tmpdir = _prepare_environment()
        logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.ERROR)

        from werkzeug.serving import make_server

        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        apply_corrections()
        apply_fault_injection()

        app = RequestThrottling(
            FaultInjection(AccessEvaluation(DomainDispatcherApplication(create_backend_app)))
        )
        server = make_server(
            args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
        )
        port = server.server_address[1]
        os.environ["MOTO_PORT"] = str(port)  # as moto_server does; some services build URLs

        sys.stdout.write(f"READY {port}\n")
        sys.stdout.flush()
        # Nothing more on stdout: a caller that stopped reading it must never block us.
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdout = sys.stderr

        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
    except _Stop:
        pass
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Skip interpreter teardown (hundreds of moto modules, ~0.5 s): nothing is left to flush.
    os._exit(code)
