"""Tests of the corrected moto emulator (tests/emulator/vpcgate_moto.py).

Run: .venv/bin/python -m pytest tests/emulator -q
The server is started exactly as the Rust harness starts it and spoken to with boto3.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
WRAPPER = HERE / "vpcgate_moto.py"
REGION = "us-east-1"
DDB = f"com.amazonaws.{REGION}.dynamodb"
S3 = f"com.amazonaws.{REGION}.s3"
DEFAULT_POLICY = (
    '{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
    '"Action":"*","Resource":"*"}]}'
)
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
os.environ.update(FAKE_ENV)


class Emulator:
    def __init__(self, proc: subprocess.Popen, port: int, start_seconds: float, stderr) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.start_seconds = start_seconds
        self.stderr = stderr

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.stderr.close()


def start_emulator(*extra: str, env: dict | None = None) -> Emulator:
    """Start the wrapper the way the harness does and wait for its `READY <port>` line."""
    stderr = tempfile.TemporaryFile()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(WRAPPER), "--host", "127.0.0.1", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, **FAKE_ENV, **(env or {})},
        cwd=tempfile.gettempdir(),
    )
    line = proc.stdout.readline().decode()
    elapsed = time.monotonic() - t0
    m = re.fullmatch(r"READY (\d+)\n", line)
    if not m:
        proc.kill()
        stderr.seek(0)
        raise RuntimeError(f"bad first line {line!r}; stderr: {stderr.read().decode()[-4000:]}")
    return Emulator(proc, int(m.group(1)), elapsed, stderr)


@pytest.fixture(scope="session")
def emulator():
    emu = start_emulator()
    yield emu
    assert emu.stop() == 0


def post(url: str) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b"")) as r:
        return r.read()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url) as r:
        return r.read()


def faults(emu, method: str = "GET", body=None, path: str = "/vpcgate-faults/") -> tuple[int, dict]:
    """Call the fault-injection control endpoint; (HTTP status, JSON answer)."""
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{emu.url}{path}", method=method, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


NO_FAULTS = {"describeLagSeconds": 0.0, "errors": {}}


@pytest.fixture(autouse=True)
def reset(emulator):
    post(f"{emulator.url}/moto-api/reset")
    assert faults(emulator, "DELETE") == (200, NO_FAULTS)


def client(emulator, service: str):
    return boto3.client(
        service,
        endpoint_url=emulator.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def ec2(emulator):
    return client(emulator, "ec2")


@pytest.fixture
def ec2_once(emulator):
    """EC2 client that never retries (botocore's retries max_attempts=1 still retries once)."""
    return boto3.client(
        "ec2",
        endpoint_url=emulator.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def ddb(emulator):
    return client(emulator, "dynamodb")


# ------------------------------------------------------------------------------- helpers


def error_of(exc: pytest.ExceptionInfo) -> tuple[str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]


def make_vpc(ec2) -> dict:
    """A VPC with a public subnet (route table with 0.0.0.0/0 -> igw) and a private subnet."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    rt_public = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    rt_private = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rt_public, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=rt_public, SubnetId=public)
    ec2.associate_route_table(RouteTableId=rt_private, SubnetId=private)
    extra = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    return {
        "vpc": vpc,
        "public_subnet": public,
        "private_subnet": private,
        "rt_public": rt_public,
        "rt_private": rt_private,
        "rt_extra": extra,
    }


def ddb_prefix_list(ec2) -> str:
    pls = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [DDB]}]
    )["PrefixLists"]
    assert len(pls) == 1
    return pls[0]["PrefixListId"]


def pl_routes(ec2, rt_id: str, pl_id: str) -> list[dict]:
    routes = ec2.describe_route_tables(RouteTableIds=[rt_id])["RouteTables"][0]["Routes"]
    return [r for r in routes if r.get("DestinationPrefixListId") == pl_id]


def route_target(ec2, rt_id: str, pl_id: str) -> str | None:
    routes = pl_routes(ec2, rt_id, pl_id)
    assert len(routes) <= 1
    return routes[0]["GatewayId"] if routes else None


def create_gw(ec2, vpc: str, rts: list[str], **kw) -> dict:
    return ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=kw.pop("ServiceName", DDB), VpcEndpointType="Gateway",
        RouteTableIds=rts, **kw,
    )["VpcEndpoint"]


def endpoint(ec2, vpce: str) -> dict:
    return ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce])["VpcEndpoints"][0]


def all_endpoints(ec2) -> list[dict]:
    return ec2.describe_vpc_endpoints()["VpcEndpoints"]


# ------------------------------------------------------------------------------- server


def test_start_protocol_and_clean_sigterm_exit():
    emu = start_emulator()
    try:
        assert emu.start_seconds < 15
        assert json.loads(post(f"{emu.url}/moto-api/reset"))["status"] == "ok"
        # Nothing recorded yet: an empty recording, not an HTTP 500.
        assert get(f"{emu.url}/moto-api/recorder/download-recording") == b""
        out = emu.proc.stdout.read1(4096) if hasattr(emu.proc.stdout, "read1") else b""
        assert out == b""  # nothing after the READY line (until exit)
    finally:
        t0 = time.monotonic()
        rc = emu.stop()
    assert rc == 0
    assert time.monotonic() - t0 < 5
    assert emu.proc.stdout.read() == b""


def test_server_start_time_recorded(emulator):
    # The session emulator's start (process spawn -> READY line); see README for figures.
    print(f"emulator start: {emulator.start_seconds:.2f}s")
    assert emulator.start_seconds < 15


def test_dynamodb_on_same_port(ddb):
    assert ddb.list_tables(Limit=1)["TableNames"] == []
    ddb.create_table(
        TableName="t1",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert ddb.list_tables(Limit=1)["TableNames"] == ["t1"]
    assert ddb.describe_table(TableName="t1")["Table"]["TableStatus"] == "ACTIVE"
    with pytest.raises(ClientError) as exc:
        ddb.describe_table(TableName="nope")
    assert error_of(exc)[0] == "ResourceNotFoundException"


def test_dynamodb_prefix_list_entries(ec2):
    pl = ddb_prefix_list(ec2)
    assert pl.startswith("pl-")
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=pl)["Entries"]
    assert entries and all(re.fullmatch(r"\d+\.\d+\.\d+\.\d+/\d+", e["Cidr"]) for e in entries)
    # The same list through the older DescribePrefixLists.
    names = {p["PrefixListName"]: p["PrefixListId"] for p in ec2.describe_prefix_lists()["PrefixLists"]}
    assert names[DDB] == pl


def test_recorder_counts_actions(emulator, ec2, ddb):
    base = f"{emulator.url}/moto-api/recorder"
    post(f"{base}/reset-recording")
    post(f"{base}/start-recording")
    ec2.describe_vpcs()
    ec2.describe_vpcs()
    ddb.list_tables()
    post(f"{base}/stop-recording")
    ec2.describe_vpcs()  # not recorded
    lines = [json.loads(x) for x in get(f"{base}/download-recording").decode().splitlines() if x]
    actions = []
    for entry in lines:
        target = {k.lower(): v for k, v in entry["headers"].items()}.get("x-amz-target")
        if target:
            actions.append(target)
        else:
            body = entry["body"]
            if entry.get("body_encoded"):
                import base64

                body = base64.b64decode(body).decode()
            actions.append(re.search(r"Action=(\w+)", body).group(1))
    assert actions == ["DescribeVpcs", "DescribeVpcs", "DynamoDB_20120810.ListTables"]
    post(f"{base}/reset-recording")


@pytest.mark.parametrize("value,expected", [("True", 1), ("False", 0)])
def test_recording_enabled_from_environment(value, expected):
    emu = start_emulator(env={"MOTO_ENABLE_RECORDING": value})
    try:
        client(emu, "ec2").describe_vpcs()
        recorded = get(f"{emu.url}/moto-api/recorder/download-recording").decode().splitlines()
        assert len(recorded) == expected
    finally:
        assert emu.stop() == 0


# ------------------------------------------------------------------------------- baseline


def test_create_routes_on_public_and_private_route_tables(ec2):
    v = make_vpc(ec2)
    pl = ddb_prefix_list(ec2)
    ep = create_gw(ec2, v["vpc"], [v["rt_public"], v["rt_private"]])
    vpce = ep["VpcEndpointId"]
    assert vpce.startswith("vpce-")
    assert ep["State"] == "available"  # lower case, as EC2 sends it
    assert ep["VpcEndpointType"] == "Gateway"
    assert sorted(ep["RouteTableIds"]) == sorted([v["rt_public"], v["rt_private"]])
    for rt in (v["rt_public"], v["rt_private"]):
        (route,) = pl_routes(ec2, rt, pl)
        assert route["GatewayId"] == vpce
        assert route["State"] == "active"
    assert route_target(ec2, v["rt_extra"], pl) is None
    # The route tables can be found by subnet association, as the operator does.
    found = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [v["private_subnet"]]}]
    )["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [v["rt_private"]]
    # Several endpoints for one service in one VPC are fine on different route tables.
    other = create_gw(ec2, v["vpc"], [v["rt_extra"]])["VpcEndpointId"]
    assert route_target(ec2, v["rt_extra"], pl) == other


def test_omitted_endpoint_type_is_gateway_and_deletable(ec2):
    v = make_vpc(ec2)
    ep = ec2.create_vpc_endpoint(VpcId=v["vpc"], ServiceName=DDB, RouteTableIds=[v["rt_private"]])
    assert ep["VpcEndpoint"]["VpcEndpointType"] == "Gateway"
    vpce = ep["VpcEndpoint"]["VpcEndpointId"]
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])["Unsuccessful"] == []
    assert endpoint(ec2, vpce)["State"] == "deleted"


def test_describe_filters(ec2):
    v = make_vpc(ec2)
    v2 = make_vpc(ec2)
    a = create_gw(
        ec2, v["vpc"], [v["rt_private"]],
        TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": [{"Key": "owner", "Value": "x"}]}],
    )["VpcEndpointId"]
    b = create_gw(ec2, v["vpc"], [v["rt_public"]], ServiceName=S3)["VpcEndpointId"]
    c = create_gw(ec2, v2["vpc"], [v2["rt_private"]])["VpcEndpointId"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[c])

    def ids(*filters):
        eps = ec2.describe_vpc_endpoints(
            Filters=[{"Name": n, "Values": vals} for n, vals in filters]
        )["VpcEndpoints"]
        return sorted(e["VpcEndpointId"] for e in eps)

    assert ids(("vpc-id", [v["vpc"]])) == sorted([a, b])
    assert ids(("service-name", [DDB])) == sorted([a, c])
    assert ids(("vpc-id", [v["vpc"]]), ("service-name", [DDB])) == [a]
    assert ids(("tag:owner", ["x"])) == [a]
    assert ids(("tag:owner", ["y"])) == []
    assert ids(("tag-key", ["owner"])) == [a]
    assert ids(("vpc-endpoint-state", ["available"])) == sorted([a, b])
    assert ids(("vpc-endpoint-state", ["deleted"])) == [c]
    assert ids(("vpc-endpoint-type", ["Gateway"])) == sorted([a, b, c])
    # Correction 9: vpc-endpoint-id was an HTTP 500 in moto 5.2.5.
    assert ids(("vpc-endpoint-id", [b])) == [b]
    assert ids(("vpc-endpoint-id", [a, c])) == sorted([a, c])
    # A deleted endpoint stays describable as deleted.
    assert endpoint(ec2, c)["State"] == "deleted"
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpc_endpoints(VpcEndpointIds=["vpce-0123456789abcdef0"])
    assert error_of(exc) == ("InvalidVpcEndpointId.NotFound", 400)


# ------------------------------------------------------------------------------- corrections


def test_1_modify_moves_routes(ec2):
    v = make_vpc(ec2)
    pl = ddb_prefix_list(ec2)
    vpce = create_gw(ec2, v["vpc"], [v["rt_public"]])["VpcEndpointId"]
    assert ec2.modify_vpc_endpoint(
        VpcEndpointId=vpce, AddRouteTableIds=[v["rt_private"]], RemoveRouteTableIds=[v["rt_public"]]
    )["Return"] is True
    assert endpoint(ec2, vpce)["RouteTableIds"] == [v["rt_private"]]
    assert route_target(ec2, v["rt_private"], pl) == vpce
    assert route_target(ec2, v["rt_public"], pl) is None

    # Unknown route table: InvalidRouteTableID.NotFound, nothing changed (not even the remove).
    with pytest.raises(ClientError) as exc:
        ec2.modify_vpc_endpoint(
            VpcEndpointId=vpce,
            AddRouteTableIds=["rtb-0123456789abcdef0"],
            RemoveRouteTableIds=[v["rt_private"]],
        )
    assert error_of(exc) == ("InvalidRouteTableID.NotFound", 400)
    assert endpoint(ec2, vpce)["RouteTableIds"] == [v["rt_private"]]
    assert route_target(ec2, v["rt_private"], pl) == vpce

    # A table that routes the prefix list through another endpoint: RouteAlreadyExists.
    other = create_gw(ec2, v["vpc"], [v["rt_extra"]])["VpcEndpointId"]
    with pytest.raises(ClientError) as exc:
        ec2.modify_vpc_endpoint(
            VpcEndpointId=vpce, AddRouteTableIds=[v["rt_extra"]], RemoveRouteTableIds=[v["rt_private"]]
        )
    assert error_of(exc) == ("RouteAlreadyExists", 400)
    assert endpoint(ec2, vpce)["RouteTableIds"] == [v["rt_private"]]
    assert route_target(ec2, v["rt_private"], pl) == vpce
    assert route_target(ec2, v["rt_extra"], pl) == other
    assert endpoint(ec2, other)["RouteTableIds"] == [v["rt_extra"]]

    # Re-adding a table the endpoint already has changes nothing.
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, AddRouteTableIds=[v["rt_private"]])
    assert endpoint(ec2, vpce)["RouteTableIds"] == [v["rt_private"]]
    assert len(pl_routes(ec2, v["rt_private"], pl)) == 1


def test_2_delete_after_modify(ec2):
    v = make_vpc(ec2)
    pl = ddb_prefix_list(ec2)
    vpce = create_gw(ec2, v["vpc"], [v["rt_public"]])["VpcEndpointId"]
    ec2.modify_vpc_endpoint(
        VpcEndpointId=vpce, AddRouteTableIds=[v["rt_private"]], RemoveRouteTableIds=[v["rt_public"]]
    )
    resp = ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Unsuccessful"] == []
    assert endpoint(ec2, vpce)["State"] == "deleted"
    for rt in (v["rt_public"], v["rt_private"], v["rt_extra"]):
        assert pl_routes(ec2, rt, pl) == []
    # The route table is free again for a new endpoint.
    again = create_gw(ec2, v["vpc"], [v["rt_private"]])["VpcEndpointId"]
    assert route_target(ec2, v["rt_private"], pl) == again


def test_3_client_token_idempotency(ec2):
    v = make_vpc(ec2)
    pl = ddb_prefix_list(ec2)
    first = ec2.create_vpc_endpoint(
        VpcId=v["vpc"], ServiceName=DDB, VpcEndpointType="Gateway",
        RouteTableIds=[v["rt_public"], v["rt_private"]], ClientToken="tok-1",
    )
    assert first["ClientToken"] == "tok-1"
    vpce = first["VpcEndpoint"]["VpcEndpointId"]
    # Same token, same parameters (route tables in another order): the original endpoint.
    second = ec2.create_vpc_endpoint(
        VpcId=v["vpc"], ServiceName=DDB, VpcEndpointType="Gateway",
        RouteTableIds=[v["rt_private"], v["rt_public"]], ClientToken="tok-1",
    )
    assert second["ClientToken"] == "tok-1"
    assert second["VpcEndpoint"]["VpcEndpointId"] == vpce
    assert [e["VpcEndpointId"] for e in all_endpoints(ec2)] == [vpce]
    assert route_target(ec2, v["rt_public"], pl) == vpce
    assert route_target(ec2, v["rt_private"], pl) == vpce

    # Same token, different parameters: IdempotentParameterMismatch, nothing created.
    variants = [
        {"RouteTableIds": [v["rt_public"]]},
        {"ServiceName": S3},
        {"PolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]})},
        {"VpcEndpointType": "Interface"},
        {"VpcId": make_vpc(ec2)["vpc"]},
    ]
    for change in variants:
        params = dict(
            VpcId=v["vpc"], ServiceName=DDB, VpcEndpointType="Gateway",
            RouteTableIds=[v["rt_public"], v["rt_private"]], ClientToken="tok-1",
        )
        params.update(change)
        with pytest.raises(ClientError) as exc:
            ec2.create_vpc_endpoint(**params)
        assert error_of(exc) == ("IdempotentParameterMismatch", 400), change
    assert [e["VpcEndpointId"] for e in all_endpoints(ec2)] == [vpce]

    # The default policy given explicitly is the same parameter as no policy.
    same = ec2.create_vpc_endpoint(
        VpcId=v["vpc"], ServiceName=DDB, VpcEndpointType="Gateway",
        RouteTableIds=[v["rt_public"], v["rt_private"]], ClientToken="tok-1",
        PolicyDocument=DEFAULT_POLICY,
    )
    assert same["VpcEndpoint"]["VpcEndpointId"] == vpce
    # Without a token every call is a new request (here: a conflict on the route tables).
    with pytest.raises(ClientError) as exc:
        create_gw(ec2, v["vpc"], [v["rt_public"]])
    assert error_of(exc)[0] == "RouteAlreadyExists"


def test_4_route_already_exists_on_create(ec2):
    v = make_vpc(ec2)
    pl = ddb_prefix_list(ec2)
    first = create_gw(ec2, v["vpc"], [v["rt_private"]])["VpcEndpointId"]
    with pytest.raises(ClientError) as exc:
        create_gw(ec2, v["vpc"], [v["rt_public"], v["rt_private"]])
    assert error_of(exc) == ("RouteAlreadyExists", 400)
    assert v["rt_private"] in exc.value.response["Error"]["Message"]
    assert [e["VpcEndpointId"] for e in all_endpoints(ec2)] == [first]
    assert route_target(ec2, v["rt_private"], pl) == first
    assert route_target(ec2, v["rt_public"], pl) is None
    # An unknown route table also fails the whole create and leaves nothing behind.
    with pytest.raises(ClientError) as exc:
        create_gw(ec2, v["vpc"], [v["rt_public"], "rtb-0123456789abcdef0"])
    assert error_of(exc) == ("InvalidRouteTableID.NotFound", 400)
    assert [e["VpcEndpointId"] for e in all_endpoints(ec2)] == [first]
    assert route_target(ec2, v["rt_public"], pl) is None
    # S3's prefix list is a different destination: no conflict with DynamoDB's route.
    s3 = create_gw(ec2, v["vpc"], [v["rt_private"]], ServiceName=S3)["VpcEndpointId"]
    assert route_target(ec2, v["rt_private"], pl) == first
    assert s3 != first


def test_5_unknown_service_name(ec2):
    v = make_vpc(ec2)
    with pytest.raises(ClientError) as exc:
        create_gw(ec2, v["vpc"], [v["rt_private"]], ServiceName="com.amazonaws.us-east-1.nosuch")
    assert error_of(exc) == ("InvalidServiceName", 400)
    with pytest.raises(ClientError) as exc:
        create_gw(ec2, v["vpc"], [v["rt_private"]], ServiceName="com.amazonaws.eu-west-1.dynamodb")
    assert error_of(exc)[0] == "InvalidServiceName"
    assert all_endpoints(ec2) == []
    assert create_gw(ec2, v["vpc"], [v["rt_private"]])["ServiceName"] == DDB
    assert create_gw(ec2, v["vpc"], [v["rt_public"]], ServiceName=S3)["ServiceName"] == S3
    # An unknown VPC is still reported as such.
    with pytest.raises(ClientError) as exc:
        create_gw(ec2, "vpc-0123456789abcdef0", [])
    assert error_of(exc)[0] == "InvalidVpcID.NotFound"


def test_6_default_policy_and_reset_policy(ec2):
    v = make_vpc(ec2)
    created = create_gw(ec2, v["vpc"], [v["rt_private"]])
    assert created["PolicyDocument"] == DEFAULT_POLICY
    vpce = created["VpcEndpointId"]
    assert endpoint(ec2, vpce)["PolicyDocument"] == DEFAULT_POLICY
    custom = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "dynamodb:GetItem", "Resource": "*"}]})
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=custom)
    assert endpoint(ec2, vpce)["PolicyDocument"] == custom
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, ResetPolicy=False)
    assert endpoint(ec2, vpce)["PolicyDocument"] == custom
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, ResetPolicy=True)
    assert endpoint(ec2, vpce)["PolicyDocument"] == DEFAULT_POLICY
    # A create with a policy keeps it verbatim.
    other = create_gw(ec2, v["vpc"], [v["rt_public"]], PolicyDocument=custom)
    assert other["PolicyDocument"] == custom


def test_7_delete_unknown_or_deleted_is_unsuccessful_item(ec2):
    v = make_vpc(ec2)
    pl = ddb_prefix_list(ec2)
    vpce = create_gw(ec2, v["vpc"], [v["rt_private"]])["VpcEndpointId"]
    unknown = "vpce-0123456789abcdef0"
    resp = ec2.delete_vpc_endpoints(VpcEndpointIds=[unknown, vpce])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    (item,) = resp["Unsuccessful"]
    assert item["ResourceId"] == unknown
    assert item["Error"]["Code"] == "InvalidVpcEndpoint.NotFound"
    assert unknown in item["Error"]["Message"]
    assert endpoint(ec2, vpce)["State"] == "deleted"
    assert pl_routes(ec2, v["rt_private"], pl) == []
    # Deleting it again: an Unsuccessful item too, still HTTP 200.
    resp = ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [(i["ResourceId"], i["Error"]["Code"]) for i in resp["Unsuccessful"]] == [
        (vpce, "InvalidVpcEndpoint.NotFound")
    ]


def test_8_dry_run(ec2):
    v = make_vpc(ec2)
    pl = ddb_prefix_list(ec2)

    # CreateVpcEndpoint
    with pytest.raises(ClientError) as exc:
        create_gw(ec2, v["vpc"], [v["rt_public"]], DryRun=True)
    assert error_of(exc) == ("DryRunOperation", 412)
    assert exc.value.response["Error"]["Message"] == (
        "Request would have succeeded, but DryRun flag is set."
    )
    assert all_endpoints(ec2) == []
    assert route_target(ec2, v["rt_public"], pl) is None
    vpce = create_gw(ec2, v["vpc"], [v["rt_public"]], DryRun=False)["VpcEndpointId"]
    assert route_target(ec2, v["rt_public"], pl) == vpce

    # ModifyVpcEndpoint
    with pytest.raises(ClientError) as exc:
        ec2.modify_vpc_endpoint(
            VpcEndpointId=vpce, AddRouteTableIds=[v["rt_private"]],
            RemoveRouteTableIds=[v["rt_public"]], ResetPolicy=True, DryRun=True,
        )
    assert error_of(exc) == ("DryRunOperation", 412)
    assert endpoint(ec2, vpce)["RouteTableIds"] == [v["rt_public"]]
    assert route_target(ec2, v["rt_public"], pl) == vpce
    assert route_target(ec2, v["rt_private"], pl) is None
    ec2.modify_vpc_endpoint(
        VpcEndpointId=vpce, AddRouteTableIds=[v["rt_private"]], RemoveRouteTableIds=[v["rt_public"]]
    )
    assert route_target(ec2, v["rt_private"], pl) == vpce

    # DeleteVpcEndpoints
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce], DryRun=True)
    assert error_of(exc) == ("DryRunOperation", 412)
    assert endpoint(ec2, vpce)["State"] == "available"
    assert route_target(ec2, v["rt_private"], pl) == vpce
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])["Unsuccessful"] == []
    assert endpoint(ec2, vpce)["State"] == "deleted"

    # The same mechanism moto already had on AuthorizeSecurityGroupEgress.
    sg = ec2.create_security_group(GroupName="g", Description="d", VpcId=v["vpc"])["GroupId"]
    perms = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl}]}]
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=perms, DryRun=True)
    assert error_of(exc) == ("DryRunOperation", 412)
    ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=perms)


def test_10_route_table_filter_by_destination_prefix_list(ec2):
    v = make_vpc(ec2)
    pl = ddb_prefix_list(ec2)
    vpce = create_gw(ec2, v["vpc"], [v["rt_private"], v["rt_extra"]])["VpcEndpointId"]

    def tables(*filters):
        found = ec2.describe_route_tables(
            Filters=[{"Name": n, "Values": vals} for n, vals in filters]
        )["RouteTables"]
        return sorted(t["RouteTableId"] for t in found)

    # Correction 10: route.destination-prefix-list-id was an HTTP 500 in moto 5.2.5.
    assert tables(("route.destination-prefix-list-id", [pl])) == sorted([v["rt_private"], v["rt_extra"]])
    assert tables(("vpc-id", [v["vpc"]]), ("route.destination-prefix-list-id", [pl])) == sorted(
        [v["rt_private"], v["rt_extra"]]
    )
    # route.gateway-id with the endpoint id already worked.
    assert tables(("route.gateway-id", [vpce])) == sorted([v["rt_private"], v["rt_extra"]])
    ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])
    assert tables(("route.destination-prefix-list-id", [pl])) == []


# ------------------------------------------------------------------------------- fault injection


def visible_ids(ec2, **kw) -> list[str]:
    return sorted(e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(**kw)["VpcEndpoints"])


def test_describe_lag_hides_new_endpoint_from_describe_only():
    lag = 1.5
    emu = start_emulator("--describe-lag", str(lag))
    try:
        assert faults(emu) == (200, {"describeLagSeconds": lag, "errors": {}})
        ec2 = client(emu, "ec2")
        v = make_vpc(ec2)
        pl = ddb_prefix_list(ec2)
        params = dict(
            VpcId=v["vpc"], ServiceName=DDB, VpcEndpointType="Gateway",
            RouteTableIds=[v["rt_private"]], ClientToken="lag-1",
        )
        t0 = time.monotonic()  # before the endpoint's creation ...
        vpce = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"]
        t1 = time.monotonic()  # ... and after it

        # DescribeVpcEndpoints does not show it, whatever the filters ...
        assert visible_ids(ec2) == []
        assert visible_ids(ec2, Filters=[{"Name": "vpc-endpoint-id", "Values": [vpce]}]) == []
        assert visible_ids(ec2, Filters=[{"Name": "vpc-id", "Values": [v["vpc"]]}]) == []
        # ... and naming it is answered as for an unknown id.
        with pytest.raises(ClientError) as exc:
            ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce])
        assert error_of(exc) == ("InvalidVpcEndpointId.NotFound", 400)
        assert vpce in exc.value.response["Error"]["Message"]

        # Every other action sees it: a retry with the same ClientToken, the routes, Modify.
        retry = ec2.create_vpc_endpoint(**params)
        assert retry["VpcEndpoint"]["VpcEndpointId"] == vpce
        assert retry["ClientToken"] == "lag-1"
        assert route_target(ec2, v["rt_private"], pl) == vpce
        ec2.modify_vpc_endpoint(VpcEndpointId=vpce, AddRouteTableIds=[v["rt_extra"]])
        assert route_target(ec2, v["rt_extra"], pl) == vpce
        assert visible_ids(ec2) == []
        assert time.monotonic() - t0 < lag  # all of the above ran inside the lag

        # After the lag it shows, as it is now.
        time.sleep(max(0.0, t1 + lag - time.monotonic()) + 0.05)
        assert visible_ids(ec2) == [vpce]
        assert sorted(endpoint(ec2, vpce)["RouteTableIds"]) == sorted([v["rt_private"], v["rt_extra"]])

        # The lag is per endpoint; naming a hidden one next to a visible one fails too.
        other = create_gw(ec2, v["vpc"], [v["rt_public"]], ServiceName=S3)["VpcEndpointId"]
        assert visible_ids(ec2) == [vpce]
        assert visible_ids(ec2, Filters=[{"Name": "vpc-endpoint-id", "Values": [vpce, other]}]) == [vpce]
        with pytest.raises(ClientError) as exc:
            ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce, other])
        assert error_of(exc) == ("InvalidVpcEndpointId.NotFound", 400)
        assert other in exc.value.response["Error"]["Message"]
        # Delete works on a hidden endpoint.
        assert ec2.delete_vpc_endpoints(VpcEndpointIds=[other])["Unsuccessful"] == []
        assert route_target(ec2, v["rt_public"], ddb_prefix_list(ec2)) is None
    finally:
        assert emu.stop() == 0


def test_describe_lag_set_at_run_time(emulator, ec2):
    v = make_vpc(ec2)
    vpce = create_gw(ec2, v["vpc"], [v["rt_private"]])["VpcEndpointId"]
    assert visible_ids(ec2) == [vpce]  # off by default
    assert faults(emulator, "POST", {"describeLagSeconds": 60}) == (
        200, {"describeLagSeconds": 60.0, "errors": {}}
    )
    # Measured from each endpoint's creation: the one just made is hidden now.
    assert visible_ids(ec2) == []
    assert visible_ids(ec2, Filters=[{"Name": "vpc-endpoint-id", "Values": [vpce]}]) == []
    # DELETE restores the --describe-lag value (here 0).
    assert faults(emulator, "DELETE") == (200, NO_FAULTS)
    assert visible_ids(ec2) == [vpce]


def test_injected_error_count_times_then_stops(emulator, ec2_once):
    ec2 = ec2_once
    v = make_vpc(ec2)
    status, state = faults(emulator, "POST", {
        "action": "DescribeRouteTables", "code": "RequestLimitExceeded",
        "message": "Request limit exceeded.", "count": 3,
    })
    assert status == 200
    assert state["errors"] == {"DescribeRouteTables": {
        "code": "RequestLimitExceeded", "message": "Request limit exceeded.", "status": 503, "count": 3,
    }}
    request_ids = set()
    for i in range(3):
        with pytest.raises(ClientError) as exc:
            ec2.describe_route_tables(RouteTableIds=[v["rt_private"]])
        assert error_of(exc) == ("RequestLimitExceeded", 503)  # 503 by default for this code
        assert exc.value.response["Error"]["Message"] == "Request limit exceeded."
        request_ids.add(exc.value.response["ResponseMetadata"]["RequestId"])
        # Other actions are untouched, their form bodies reach moto intact.
        assert ec2.describe_vpcs(VpcIds=[v["vpc"]])["Vpcs"][0]["CidrBlock"] == "10.0.0.0/16"
        assert faults(emulator)[1]["errors"].get("DescribeRouteTables", {}).get("count", 0) == 2 - i
    assert len(request_ids) == 3 and "" not in request_ids
    assert faults(emulator) == (200, NO_FAULTS)
    (table,) = ec2.describe_route_tables(RouteTableIds=[v["rt_private"]])["RouteTables"]
    assert table["RouteTableId"] == v["rt_private"]


def test_injected_error_until_cleared(emulator, ec2_once):
    ec2 = ec2_once
    v = make_vpc(ec2)
    assert faults(emulator, "POST", {
        "action": "CreateVpcEndpoint", "code": "InternalError",
        "message": "An internal error has occurred", "status": 500, "count": -1,
    })[0] == 200
    for _ in range(4):
        with pytest.raises(ClientError) as exc:
            create_gw(ec2, v["vpc"], [v["rt_private"]])
        assert error_of(exc) == ("InternalError", 500)
    assert faults(emulator)[1]["errors"]["CreateVpcEndpoint"]["count"] == -1
    # The failed requests never reached moto: nothing was created.
    assert all_endpoints(ec2) == []
    assert faults(emulator, "DELETE") == (200, NO_FAULTS)
    vpce = create_gw(ec2, v["vpc"], [v["rt_private"]])["VpcEndpointId"]
    assert visible_ids(ec2) == [vpce]


def test_injected_error_defaults_wire_format_and_bystanders(emulator, ec2_once, ddb):
    ec2 = ec2_once
    assert faults(emulator, "POST", {"action": "DescribeVpcs", "code": "UnauthorizedOperation",
                                     "message": "You are not <authorized> & that's it"})[1] == {
        "describeLagSeconds": 0.0,
        "errors": {"DescribeVpcs": {"code": "UnauthorizedOperation",
                                    "message": "You are not <authorized> & that's it",
                                    "status": 400, "count": 1}},
    }
    # moto's own endpoints, DynamoDB (JSON protocol, no Action=) and other EC2 actions pass.
    assert json.loads(post(f"{emulator.url}/moto-api/reset"))["status"] == "ok"
    assert ddb.list_tables()["TableNames"] == []
    ec2.describe_route_tables()
    # The error as sent: EC2's XML error document, the status, a request id.
    req = urllib.request.Request(
        emulator.url + "/", method="POST", data=b"Action=DescribeVpcs&Version=2016-11-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(req)
    assert http_error.value.code == 400
    assert http_error.value.headers["Content-Type"] == "text/xml"
    body = http_error.value.read().decode()
    m = re.fullmatch(
        r'<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error>'
        r"<Code>UnauthorizedOperation</Code>"
        r"<Message>You are not &lt;authorized&gt; &amp; that's it</Message></Error></Errors>"
        r"<RequestID>([0-9a-f-]{36})</RequestID></Response>",
        body,
    )
    assert m, body
    assert http_error.value.headers["x-amzn-RequestId"] == m.group(1)
    assert ec2.describe_vpcs()["Vpcs"]  # count 1: used up
    # Action= in the query string counts too; a new POST replaces the action's error;
    # count 0 removes it.
    for count in (5, 2):
        faults(emulator, "POST", {"action": "DescribeVpcs", "code": "Blocked", "count": count})
    assert faults(emulator)[1]["errors"]["DescribeVpcs"]["count"] == 2
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(f"{emulator.url}/?Action=DescribeVpcs&Version=2016-11-15")
    assert "<Code>Blocked</Code><Message>Blocked</Message>" in http_error.value.read().decode()
    assert faults(emulator, "POST", {"action": "DescribeVpcs", "code": "Blocked", "count": 0}) == (
        200, NO_FAULTS
    )


def test_fault_control_rejects_bad_requests(emulator):
    bad = [
        b"not json", [], {}, {"action": "DescribeVpcs"}, {"code": "X"},
        {"Action": "DescribeVpcs", "code": "X"}, {"action": "DescribeVpcs", "code": "X", "count": -2},
        {"action": "DescribeVpcs", "code": "X", "count": 1.5},
        {"action": "DescribeVpcs", "code": "X", "status": 200},
        {"action": "DescribeVpcs", "code": "X", "message": 3},
        {"describeLagSeconds": -1}, {"describeLagSeconds": "5"},
        {"describeLagSeconds": 5, "action": "DescribeVpcs"},  # nothing applied, not even the lag
    ]
    for body in bad:
        status, answer = faults(emulator, "POST", body)
        assert status == 400 and answer["error"], body
    assert faults(emulator) == (200, NO_FAULTS)
    assert faults(emulator, "PUT", b"{}")[0] == 405
    # Both spellings of the path, and lag and error in one body.
    both = {"describeLagSeconds": 0.5, "action": "DescribeVpcs", "code": "X"}
    status, state = faults(emulator, "POST", both, path="/vpcgate-faults")
    assert status == 200 and state["describeLagSeconds"] == 0.5 and list(state["errors"]) == ["DescribeVpcs"]


# ------------------------------------------------------------------------------- IAM evaluation
# The policy language (vpcgate_iam.py, pure functions) first, then /vpcgate-iam/ end to end.

sys.path.insert(0, str(HERE))
import vpcgate_iam as iam  # noqa: E402

ACCOUNT = "123456789012"
VPCGATE_ARN = f"arn:aws:iam::{ACCOUNT}:role/vpcgate"
VPCGATE_KEY = "AKIAVPCGATETEST00001"
MOTO_ARN = f"arn:aws:iam::{ACCOUNT}:user/moto"
UID = "vpcgate.dev/uid"
EC2_DENIED = re.compile(
    r"You are not authorized to perform this operation\. User: (?P<user>\S+) is not authorized to "
    r"perform: (?P<action>ec2:\w+) on resource: (?P<resource>\S+) (?P<why>because no identity-based "
    r"policy allows the (?P=action) action|with an explicit deny in an identity-based policy)\. "
    r"Encoded authorization failure message: [A-Za-z0-9_-]{40,}"
)


def vpcgate_policy(allowed_vpc: str) -> dict:
    """A least-privilege policy in the style vpcgate generates (Allow-with-conditions and an
    `ec2:Vpc` condition), to exercise the evaluator's operators and keys. The policy vpcgate
    really generates (`vpcgate iam-policy`) is run through this emulator by the Rust tests
    (tests/engine.rs `the_role_cannot_touch_endpoints_it_does_not_own`, tests/e2e.rs)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Describe", "Effect": "Allow", "Action": [
            "ec2:DescribeInstances", "ec2:DescribePrefixLists", "ec2:DescribeRouteTables",
            "ec2:DescribeSubnets", "ec2:DescribeVpcEndpoints", "ec2:DescribeVpcs",
            "dynamodb:ListTables"], "Resource": "*"},
        {"Sid": "CreateTaggedEndpoint", "Effect": "Allow", "Action": "ec2:CreateVpcEndpoint",
         "Resource": "arn:aws:ec2:*:*:vpc-endpoint/*",
         "Condition": {"Null": {f"aws:RequestTag/{UID}": "false"}}},
        {"Sid": "CreateEndpointInVpc", "Effect": "Allow", "Action": "ec2:CreateVpcEndpoint",
         "Resource": [f"arn:aws:ec2:*:*:vpc/{allowed_vpc}", "arn:aws:ec2:*:*:route-table/*"]},
        {"Sid": "TagOnCreate", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": "arn:aws:ec2:*:*:vpc-endpoint/*",
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateVpcEndpoint"},
                       "Null": {f"aws:RequestTag/{UID}": "false"}}},
        {"Sid": "ChangeOwnedEndpoints", "Effect": "Allow",
         "Action": ["ec2:ModifyVpcEndpoint", "ec2:DeleteVpcEndpoints", "ec2:CreateTags", "ec2:DeleteTags"],
         "Resource": "arn:aws:ec2:*:*:vpc-endpoint/*",
         "Condition": {"Null": {f"aws:ResourceTag/{UID}": "false"}}},
        {"Sid": "MoveRoutes", "Effect": "Allow", "Action": "ec2:ModifyVpcEndpoint",
         "Resource": "arn:aws:ec2:*:*:route-table/*",
         "Condition": {"ArnLike": {"ec2:Vpc": f"arn:aws:ec2:*:*:vpc/{allowed_vpc}"}}},
        {"Sid": "Probe", "Effect": "Allow", "Action": "dynamodb:DescribeTable",
         "Resource": "arn:aws:dynamodb:*:*:table/*"},
    ]}


def ctx(**pairs) -> dict:
    return iam.context_of({k.replace("__", "/").replace("_", ":", 1): v for k, v in pairs.items()})


def allow(statement: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}


def test_policy_actions_and_resources_match_like_iam():
    assert iam.action_matches("ec2:Describe*", "ec2:DescribeVpcs")
    assert iam.action_matches(["s3:*", "EC2:describevpc?"], "ec2:DescribeVpcs")  # case-insensitive
    assert not iam.action_matches("ec2:Describe*", "ec2:CreateTags")
    assert not iam.action_matches("ec2:DescribeVpc", "ec2:DescribeVpcs")  # whole string
    assert iam.action_matches("*", "dynamodb:DescribeTable")
    rt = "arn:aws:ec2:us-east-1:123456789012:route-table/rtb-1"
    assert iam.resource_matches("arn:aws:ec2:*:*:route-table/*", rt)
    assert iam.resource_matches("*", rt) and iam.resource_matches("*", "*")
    assert not iam.resource_matches("arn:aws:ec2:*:*:route-table/*", "*")  # needs Resource "*"
    assert not iam.resource_matches("arn:aws:ec2:*:*:vpc/*", rt)
    assert not iam.resource_matches("arn:aws:ec2:*:*:route-table/RTB-1", rt)  # case-sensitive
    # Each of the six ARN segments is matched on its own: * does not run across a colon.
    assert not iam.arn_match("arn:aws:ec2:*:route-table/*", rt)
    assert iam.arn_match("arn:aws:ec2:us-east-?:123456789012:route-table/rtb-?", rt)


def test_policy_condition_operators():
    c = ctx(aws_RequestTag__owner="team-a", ec2_Vpc="arn:aws:ec2:us-east-1:1:vpc/vpc-1",
            aws_TagKeys=["owner", "Name"], ec2_CreateAction="CreateVpcEndpoint", aws_SecureTransport=True)
    key = iam.condition_key_matches
    assert key("StringEquals", "aws:RequestTag/owner", ["x", "team-a"], c)  # values ORed
    assert not key("StringEquals", "aws:RequestTag/owner", "Team-A", c)
    assert key("StringEqualsIgnoreCase", "aws:RequestTag/owner", "Team-A", c)
    assert key("StringNotEquals", "aws:RequestTag/owner", ["x", "y"], c)
    assert not key("StringNotEquals", "aws:RequestTag/owner", ["x", "team-a"], c)
    assert key("StringLike", "aws:RequestTag/owner", "team-?", c)
    assert key("StringNotLike", "aws:RequestTag/owner", "b*", c)
    assert key("ArnLike", "ec2:Vpc", "arn:aws:ec2:*:*:vpc/vpc-1", c)
    assert key("ArnEquals", "ec2:Vpc", "arn:aws:ec2:*:*:vpc/vpc-*", c)  # same as ArnLike
    assert key("ArnNotLike", "ec2:Vpc", "arn:aws:ec2:*:*:vpc/vpc-2", c)
    assert not key("ArnNotEquals", "ec2:Vpc", "arn:aws:ec2:*:*:vpc/*", c)
    assert key("Bool", "aws:SecureTransport", "true", c) and key("Bool", "aws:SecureTransport", True, c)
    # Condition key names are case-insensitive.
    assert key("StringEquals", "EC2:CREATEACTION", "CreateVpcEndpoint", c)
    # Missing key: positive operators false, negated ones true; Null "true" true; IfExists true.
    for op in ("StringEquals", "StringLike", "ArnLike", "Bool", "StringEqualsIgnoreCase"):
        assert not key(op, "aws:RequestTag/missing", "*", c), op
    for op in ("StringNotEquals", "StringNotLike", "ArnNotLike", "ArnNotEquals"):
        assert key(op, "aws:RequestTag/missing", "*", c), op
    assert key("Null", "aws:RequestTag/missing", "true", c)
    assert not key("Null", "aws:RequestTag/missing", "false", c)
    assert key("Null", "aws:RequestTag/owner", "false", c) and key("Null", "aws:RequestTag/owner", False, c)
    assert key("StringEqualsIfExists", "aws:RequestTag/missing", "x", c)
    assert not key("StringEqualsIfExists", "aws:RequestTag/owner", "x", c)
    # Set operators on the multivalued aws:TagKeys.
    assert key("ForAllValues:StringEquals", "aws:TagKeys", ["owner", "Name", "extra"], c)
    assert not key("ForAllValues:StringEquals", "aws:TagKeys", ["owner"], c)
    assert key("ForAllValues:StringEquals", "aws:TagKeys", ["x"], ctx())  # no tags: vacuously true
    assert key("ForAnyValue:StringEquals", "aws:TagKeys", ["owner", "x"], c)
    assert not key("ForAnyValue:StringEquals", "aws:TagKeys", ["x"], c)
    assert not key("ForAnyValue:StringEquals", "aws:TagKeys", ["x"], ctx())
    assert key("ForAllValues:StringNotLike", "aws:TagKeys", ["aws:*"], c)
    # Several keys in one operator and several operators: all ANDed.
    assert iam.condition_matches({"StringEquals": {"aws:RequestTag/owner": "team-a",
                                                   "ec2:CreateAction": "CreateVpcEndpoint"},
                                  "Null": {"aws:RequestTag/owner": "false"}}, c)
    assert not iam.condition_matches({"StringEquals": {"aws:RequestTag/owner": "team-a",
                                                       "ec2:CreateAction": "CreateTags"}}, c)
    assert not iam.condition_matches({"NumericEquals": {"x": "1"}}, c)  # unsupported: not applied
    with pytest.raises(ValueError):
        iam.parse_operator("NumericLessThan")
    with pytest.raises(ValueError):
        iam.parse_operator("ForSomeValues:StringEquals")


def test_policy_evaluation_logic():
    check = iam.Check("ec2:DeleteVpcEndpoints", "arn:aws:ec2:us-east-1:1:vpc-endpoint/vpce-1",
                      ctx(**{"aws_ResourceTag__vpcgate.dev/uid": "u1"}))
    owned = {"Null": {f"aws:ResourceTag/{UID}": "false"}}
    def decide(statement: dict, c: iam.Check = check) -> str:
        return iam.evaluate_policy(allow(statement), c)

    assert decide({"Action": "ec2:*", "Resource": "*"}) == iam.ALLOW
    assert decide({"Action": "ec2:Describe*", "Resource": "*"}) == iam.IMPLICIT_DENY
    assert iam.evaluate_policy({"Statement": []}, check) == iam.IMPLICIT_DENY
    assert decide({"Action": "ec2:*", "Resource": "*", "Condition": owned}) == iam.ALLOW
    untagged = iam.Check(check.action, check.resource)
    assert decide({"Action": "ec2:*", "Resource": "*", "Condition": owned}, untagged) == iam.IMPLICIT_DENY
    # NotAction / NotResource.
    assert decide({"NotAction": "ec2:Create*", "Resource": "*"}) == iam.ALLOW
    assert decide({"NotAction": "ec2:Delete*", "Resource": "*"}) == iam.IMPLICIT_DENY
    assert decide({"Action": "*", "NotResource": "arn:aws:ec2:*:*:vpc/*"}) == iam.ALLOW
    # Explicit deny wins, whatever the order of the statements.
    both = {"Statement": [
        {"Effect": "Deny", "Action": "ec2:DeleteVpcEndpoints", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
    ]}
    assert iam.evaluate_policy(both, check) == iam.EXPLICIT_DENY
    both["Statement"].reverse()
    assert iam.evaluate_policy(both, check) == iam.EXPLICIT_DENY
    assert iam.evaluate_policy(json.dumps(both), check) == iam.EXPLICIT_DENY  # JSON text too
    # Endpoint (resource-type) policies: the statement must name the caller.
    me, other = "arn:aws:iam::123456789012:role/vpcgate", "arn:aws:iam::123456789012:user/moto"
    for principal, expected in [("*", True), ({"AWS": "*"}, True), ({"AWS": me}, True),
                                ({"AWS": [other, me]}, True), ({"AWS": other}, False),
                                ({"AWS": "123456789012"}, True),
                                ({"AWS": "arn:aws:iam::123456789012:root"}, True),
                                ({"AWS": "arn:aws:iam::999999999999:root"}, False),
                                ({"Service": "ec2.amazonaws.com"}, False)]:
        policy = allow({"Principal": principal, "Action": "*", "Resource": "*"})
        assert (iam.evaluate_policy(policy, check, me) == iam.ALLOW) is expected, principal
    assert iam.evaluate_policy(allow({"Action": "*", "Resource": "*"}), check, me) == iam.IMPLICIT_DENY
    # Every check of a request must be allowed; an explicit deny is reported before implicit ones.
    a = iam.Check("ec2:CreateVpcEndpoint", "arn:aws:ec2:us-east-1:1:vpc-endpoint/*")
    b = iam.Check("ec2:CreateVpcEndpoint", "arn:aws:ec2:us-east-1:1:vpc/vpc-2")
    d = iam.Check("ec2:CreateVpcEndpoint", "arn:aws:ec2:us-east-1:1:route-table/rtb-9")
    policy = {"Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:ec2:*:*:vpc-endpoint/*"},
        {"Effect": "Deny", "Action": "*", "Resource": "arn:aws:ec2:*:*:route-table/rtb-9"},
    ]}
    assert iam.evaluate_checks(policy, [a]) == (iam.ALLOW, None)
    assert iam.evaluate_checks(policy, [a, b]) == (iam.IMPLICIT_DENY, b)
    assert iam.evaluate_checks(policy, [a, b, d]) == (iam.EXPLICIT_DENY, d)


def test_policy_validation_and_messages():
    good = vpcgate_policy("vpc-1")
    iam.validate_identity_policy(good)
    iam.validate_identity_policy({"Statement": {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}})
    bad = [
        [], {}, {"Statement": []}, {"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "x", "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                        "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01"}}}]},
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                        "Condition": {"StringEquals": {"k": {"nested": 1}}}}]},
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}], "Extra": 1},
    ]
    for policy in bad:
        with pytest.raises(ValueError):
            iam.validate_identity_policy(policy)
    check = iam.Check("dynamodb:DescribeTable", "arn:aws:dynamodb:us-east-1:1:table/t")
    head = ("User: arn:aws:iam::1:role/r is not authorized to perform: dynamodb:DescribeTable on "
            "resource: arn:aws:dynamodb:us-east-1:1:table/t")
    assert iam.denial_message("arn:aws:iam::1:role/r", check, iam.IMPLICIT_DENY, "identity") == (
        f"{head} because no identity-based policy allows the dynamodb:DescribeTable action")
    assert iam.denial_message("arn:aws:iam::1:role/r", check, iam.EXPLICIT_DENY, "identity") == (
        f"{head} with an explicit deny in an identity-based policy")
    assert iam.denial_message("arn:aws:iam::1:role/r", check, iam.IMPLICIT_DENY, "endpoint") == (
        f"{head} because no VPC endpoint policy allows the dynamodb:DescribeTable action")
    assert iam.denial_message("arn:aws:iam::1:role/r", check, iam.EXPLICIT_DENY, "endpoint") == (
        f"{head} with an explicit deny in a VPC endpoint policy")


# ------------------------------------------------------------------------------- /vpcgate-iam/


def iam_mode(emu, method: str = "GET", body=None) -> tuple[int, dict]:
    return faults(emu, method, body, path="/vpcgate-iam/")


def network_mode(emu, method: str = "GET", body=None) -> tuple[int, dict]:
    return faults(emu, method, body, path="/vpcgate-network/")


@pytest.fixture(autouse=True)
def no_access_modes(emulator, reset):
    assert iam_mode(emulator, "DELETE") == (200, {"principals": {}})
    assert network_mode(emulator, "DELETE") == (200, {"callerSubnet": None})


def principal_client(emu, service: str, key: str = VPCGATE_KEY, region: str = REGION):
    return boto3.client(
        service, endpoint_url=emu.url, region_name=region, aws_access_key_id=key,
        aws_secret_access_key="secret", config=Config(retries={"total_max_attempts": 1}),
    )


def register(emu, policy: dict, arn: str = VPCGATE_ARN, key: str = VPCGATE_KEY) -> None:
    status, state = iam_mode(emu, "POST", {"principals": {key: {"arn": arn, "policy": policy}}})
    assert status == 200, state
    assert state == {"principals": {key: {"arn": arn, "policy": policy}}}


def unauthorized(exc: pytest.ExceptionInfo) -> re.Match:
    """The UnauthorizedOperation of a denied EC2 call, parsed (asserts its exact format)."""
    assert error_of(exc) == ("UnauthorizedOperation", 403)
    m = EC2_DENIED.fullmatch(exc.value.response["Error"]["Message"])
    assert m, exc.value.response["Error"]["Message"]
    return m


def uid_tags(uid: str = "u-1", **more) -> list[dict]:
    tags = [{"Key": UID, "Value": uid}] + [{"Key": k, "Value": v} for k, v in more.items()]
    return [{"ResourceType": "vpc-endpoint", "Tags": tags}]


def arn_of(kind: str, rid: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{rid}"


def test_iam_least_privilege_policy_end_to_end(emulator, ec2):
    v, outside = make_vpc(ec2), make_vpc(ec2)
    pl = ddb_prefix_list(ec2)
    register(emulator, vpcgate_policy(v["vpc"]))
    me, me_ddb = principal_client(emulator, "ec2"), principal_client(emulator, "dynamodb")
    assert iam_mode(emulator)[1]["principals"][VPCGATE_KEY]["arn"] == VPCGATE_ARN

    # Who am I: the registered ARN (always allowed, though the policy has no sts: action).
    ident = principal_client(emulator, "sts").get_caller_identity()
    assert (ident["Arn"], ident["Account"]) == (VPCGATE_ARN, ACCOUNT)
    assert ident["UserId"].startswith("AROA")
    assert client(emulator, "sts").get_caller_identity()["Arn"].endswith(":user/moto")  # moto's

    # Reads the policy allows; the DynamoDB probe reaches moto (the table does not exist).
    assert {x["VpcId"] for x in me.describe_vpcs()["Vpcs"]} >= {v["vpc"], outside["vpc"]}
    me.describe_route_tables(RouteTableIds=[v["rt_private"]])
    assert me_ddb.list_tables()["TableNames"] == []
    with pytest.raises(ClientError) as exc:
        me_ddb.describe_table(TableName="vpcgate-canary-abc")
    assert error_of(exc)[0] == "ResourceNotFoundException"
    # ... and one it does not: action on "*".
    with pytest.raises(ClientError) as exc:
        me.describe_security_groups()
    m = unauthorized(exc)
    assert (m["user"], m["action"], m["resource"]) == (VPCGATE_ARN, "ec2:DescribeSecurityGroups", "*")

    # Create: tagged, in the allowed VPC.
    ep = create_gw(me, v["vpc"], [v["rt_private"]], TagSpecifications=uid_tags(owner="team-a"))
    mine = ep["VpcEndpointId"]
    assert {t["Key"]: t["Value"] for t in ep["Tags"]} == {UID: "u-1", "owner": "team-a"}
    assert route_target(ec2, v["rt_private"], pl) == mine

    # Not untagged, not without the uid tag, not in another VPC; nothing is created.
    with pytest.raises(ClientError) as exc:
        create_gw(me, v["vpc"], [v["rt_public"]])
    m = unauthorized(exc)
    assert (m["action"], m["resource"]) == ("ec2:CreateVpcEndpoint", arn_of("vpc-endpoint", "*"))
    assert m["why"].startswith("because no identity-based policy allows")
    with pytest.raises(ClientError) as exc:
        create_gw(me, v["vpc"], [v["rt_public"]],
                  TagSpecifications=[{"ResourceType": "vpc-endpoint",
                                      "Tags": [{"Key": "owner", "Value": "x"}]}])
    assert unauthorized(exc)["resource"] == arn_of("vpc-endpoint", "*")
    with pytest.raises(ClientError) as exc:
        create_gw(me, outside["vpc"], [outside["rt_private"]], TagSpecifications=uid_tags())
    assert unauthorized(exc)["resource"] == arn_of("vpc", outside["vpc"])
    assert [e["VpcEndpointId"] for e in all_endpoints(ec2)] == [mine]
    assert route_target(ec2, v["rt_public"], pl) is None

    # Modify its route tables (within the allowed VPC) and its policy.
    me.modify_vpc_endpoint(VpcEndpointId=mine, AddRouteTableIds=[v["rt_extra"]],
                           RemoveRouteTableIds=[v["rt_private"]])
    assert (route_target(ec2, v["rt_extra"], pl), route_target(ec2, v["rt_private"], pl)) == (mine, None)
    custom = json.dumps(allow({"Principal": "*", "Action": "dynamodb:*", "Resource": "*"}))
    me.modify_vpc_endpoint(VpcEndpointId=mine, PolicyDocument=custom)
    assert endpoint(ec2, mine)["PolicyDocument"] == custom
    me.modify_vpc_endpoint(VpcEndpointId=mine, ResetPolicy=True)
    assert endpoint(ec2, mine)["PolicyDocument"] == DEFAULT_POLICY
    # A route table of another VPC: denied on that table (ec2:Vpc is not the allowed VPC).
    with pytest.raises(ClientError) as exc:
        me.modify_vpc_endpoint(VpcEndpointId=mine, AddRouteTableIds=[outside["rt_extra"]])
    m = unauthorized(exc)
    assert (m["action"], m["resource"]) == (
        "ec2:ModifyVpcEndpoint", arn_of("route-table", outside["rt_extra"])
    )

    # Tag and untag it.
    me.create_tags(Resources=[mine], Tags=[{"Key": "Name", "Value": "gate"}])
    me.delete_tags(Resources=[mine], Tags=[{"Key": "owner"}])
    assert {t["Key"] for t in endpoint(ec2, mine)["Tags"]} == {UID, "Name"}

    # An endpoint without the uid tag (made by the unrestricted key while the mode is on).
    foreign = create_gw(ec2, v["vpc"], [v["rt_public"]], TagSpecifications=[
        {"ResourceType": "vpc-endpoint", "Tags": [{"Key": "owner", "Value": "someone"}]}])["VpcEndpointId"]
    for call in (
        lambda: me.create_tags(Resources=[foreign], Tags=[{"Key": UID, "Value": "steal"}]),
        lambda: me.delete_tags(Resources=[foreign], Tags=[{"Key": "owner"}]),
        lambda: me.modify_vpc_endpoint(VpcEndpointId=foreign, ResetPolicy=True),
        lambda: me.delete_vpc_endpoints(VpcEndpointIds=[foreign]),
        lambda: me.delete_vpc_endpoints(VpcEndpointIds=[mine, foreign]),  # all or nothing
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert unauthorized(exc)["resource"] == arn_of("vpc-endpoint", foreign)
    assert {t["Key"]: t["Value"] for t in endpoint(ec2, foreign)["Tags"]} == {"owner": "someone"}
    assert endpoint(ec2, mine)["State"] == endpoint(ec2, foreign)["State"] == "available"

    # DryRun: DryRunOperation when allowed, UnauthorizedOperation when not; nothing changes.
    with pytest.raises(ClientError) as exc:
        create_gw(me, v["vpc"], [v["rt_private"]], TagSpecifications=uid_tags("u-2"), DryRun=True)
    assert error_of(exc) == ("DryRunOperation", 412)
    assert exc.value.response["Error"]["Message"] == "Request would have succeeded, but DryRun flag is set."
    with pytest.raises(ClientError) as exc:
        create_gw(me, v["vpc"], [v["rt_private"]], DryRun=True)
    assert unauthorized(exc)["action"] == "ec2:CreateVpcEndpoint"
    with pytest.raises(ClientError) as exc:
        me.delete_vpc_endpoints(VpcEndpointIds=[mine], DryRun=True)
    assert error_of(exc) == ("DryRunOperation", 412)
    with pytest.raises(ClientError) as exc:
        me.delete_vpc_endpoints(VpcEndpointIds=[foreign], DryRun=True)
    unauthorized(exc)
    with pytest.raises(ClientError) as exc:
        me.describe_vpcs(DryRun=True)
    assert error_of(exc) == ("DryRunOperation", 412)
    assert sorted(e["VpcEndpointId"] for e in all_endpoints(ec2)) == sorted([mine, foreign])
    assert endpoint(ec2, mine)["State"] == "available"

    # Delete it.
    assert me.delete_vpc_endpoints(VpcEndpointIds=[mine])["Unsuccessful"] == []
    assert endpoint(ec2, mine)["State"] == "deleted"
    assert route_target(ec2, v["rt_extra"], pl) is None

    # Mode off: the same key is not restricted any more.
    assert iam_mode(emulator, "DELETE") == (200, {"principals": {}})
    assert me.delete_vpc_endpoints(VpcEndpointIds=[foreign])["Unsuccessful"] == []


def test_iam_tag_on_create_needs_create_tags(emulator, ec2):
    """CreateVpcEndpoint with tags also needs ec2:CreateTags with ec2:CreateAction."""
    v = make_vpc(ec2)
    policy = vpcgate_policy(v["vpc"])
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "TagOnCreate"]
    register(emulator, policy)
    me = principal_client(emulator, "ec2")
    with pytest.raises(ClientError) as exc:
        create_gw(me, v["vpc"], [v["rt_private"]], TagSpecifications=uid_tags())
    m = unauthorized(exc)
    assert (m["action"], m["resource"]) == ("ec2:CreateTags", arn_of("vpc-endpoint", "*"))
    assert all_endpoints(ec2) == []
    # And TagOnCreate (ec2:CreateAction) does not allow a plain CreateTags: a key absent there.
    register(emulator, vpcgate_policy(v["vpc"]))
    foreign = create_gw(ec2, v["vpc"], [v["rt_public"]])["VpcEndpointId"]
    with pytest.raises(ClientError) as exc:
        me.create_tags(Resources=[foreign], Tags=[{"Key": UID, "Value": "u-1"}])
    assert unauthorized(exc)["resource"] == arn_of("vpc-endpoint", foreign)


def raw_call(emu, service: str, key: str, *, target: str | None = None, body=None,
             region: str = REGION) -> tuple[int, dict, bytes]:
    """A SigV4-signed POST as an SDK sends it; (status, headers, body) exactly as answered."""
    from urllib.parse import urlencode

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    if target:
        data = json.dumps(body or {}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
    else:
        data = urlencode(body).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    req = AWSRequest(method="POST", url=emu.url + "/", data=data, headers=headers)
    SigV4Auth(Credentials(key, "secret"), service, region).add_auth(req)
    http_req = urllib.request.Request(req.url, data=data, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(http_req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_iam_wire_formats_and_explicit_deny(emulator, ec2):
    v = make_vpc(ec2)
    vpce = create_gw(ec2, v["vpc"], [v["rt_private"]], TagSpecifications=uid_tags())["VpcEndpointId"]
    register(emulator, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["ec2:DeleteVpcEndpoints", "dynamodb:DescribeTable"],
         "Resource": "*"},
        {"Effect": "Deny", "Action": "ec2:GetManagedPrefixListEntries",
         "Resource": "arn:aws:ec2:*:aws:prefix-list/*"},
    ]})
    # EC2: HTTP 403, EC2's XML error document.
    status, headers, body = raw_call(emulator, "ec2", VPCGATE_KEY, body={
        "Action": "DeleteVpcEndpoints", "Version": "2016-11-15", "VpcEndpointId.1": vpce})
    assert (status, headers["Content-Type"]) == (403, "text/xml")
    m = re.fullmatch(
        r'<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error>'
        r"<Code>UnauthorizedOperation</Code><Message>(.*)</Message></Error></Errors>"
        r"<RequestID>[0-9a-f-]{36}</RequestID></Response>", body.decode())
    assert m and EC2_DENIED.fullmatch(m.group(1)), body
    assert m.group(1).startswith(
        f"You are not authorized to perform this operation. User: {VPCGATE_ARN} is not authorized to "
        f"perform: ec2:DeleteVpcEndpoints on resource: {arn_of('vpc-endpoint', vpce)} with an explicit "
        "deny in an identity-based policy. Encoded authorization failure message: ")
    assert endpoint(ec2, vpce)["State"] == "available"
    # Two denials carry different encoded messages.
    again = raw_call(emulator, "ec2", VPCGATE_KEY, body={
        "Action": "DeleteVpcEndpoints", "Version": "2016-11-15", "VpcEndpointId.1": vpce})[2]
    assert again.split(b"message: ")[1][:40] != body.split(b"message: ")[1][:40]

    # DynamoDB: HTTP 400, the JSON body exactly.
    status, headers, body = raw_call(emulator, "dynamodb", VPCGATE_KEY,
                                     target="DynamoDB_20120810.DescribeTable", body={"TableName": "orders"})
    assert (status, headers["Content-Type"]) == (400, "application/x-amz-json-1.0")
    assert json.loads(body) == {
        "__type": "com.amazon.coral.service#AccessDeniedException",
        "Message": f"User: {VPCGATE_ARN} is not authorized to perform: dynamodb:DescribeTable on "
                   f"resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders with an explicit deny in "
                   "an identity-based policy",
    }
    assert headers["x-amz-crc32"] == str(__import__("zlib").crc32(body))
    me_ddb = principal_client(emulator, "dynamodb")
    with pytest.raises(ClientError) as exc:
        me_ddb.describe_table(TableName="orders")
    assert error_of(exc) == ("AccessDeniedException", 400)
    assert me_ddb.list_tables()["TableNames"] == []

    # GetManagedPrefixListEntries names AWS's prefix list ARN (account field "aws").
    pl = ddb_prefix_list(ec2)
    with pytest.raises(ClientError) as exc:
        principal_client(emulator, "ec2").get_managed_prefix_list_entries(PrefixListId=pl)
    m = unauthorized(exc)
    assert m["resource"] == f"arn:aws:ec2:{REGION}:aws:prefix-list/{pl}"
    assert m["why"] == "with an explicit deny in an identity-based policy"

    # Another service (STS, query protocol) beyond GetCallerIdentity: <service>:<Action> on "*".
    register(emulator, allow({"Action": "ec2:Describe*", "Resource": "*"}))
    with pytest.raises(ClientError) as exc:
        principal_client(emulator, "sts").get_session_token()
    assert error_of(exc) == ("AccessDenied", 403)
    assert exc.value.response["Error"]["Message"] == (
        f"User: {VPCGATE_ARN} is not authorized to perform: sts:GetSessionToken on resource: * because "
        "no identity-based policy allows the sts:GetSessionToken action")
    assert principal_client(emulator, "sts").get_caller_identity()["Arn"] == VPCGATE_ARN
    # Other keys are never restricted.
    assert client(emulator, "sts").get_session_token()["Credentials"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])


def test_iam_control_rejects_bad_requests(emulator):
    good = {"arn": VPCGATE_ARN, "policy": allow({"Action": "*", "Resource": "*"})}
    register(emulator, good["policy"])
    before = iam_mode(emulator)
    bad = [
        b"not json", None, [], {}, {"principals": []}, {"principals": {}, "extra": 1},
        {"principals": {"": good}}, {"principals": {"AKIA/X": good}},
        {"principals": {"AKIAX": {"arn": VPCGATE_ARN}}},
        {"principals": {"AKIAX": {**good, "name": "x"}}},
        {"principals": {"AKIAX": {**good, "arn": "vpcgate"}}},
        {"principals": {"AKIAX": {**good, "policy": json.dumps(good["policy"])}}},
        {"principals": {"AKIAX": {**good, "policy": {"Statement": [{"Effect": "Allow", "Action": "*"}]}}}},
        {"principals": {"OK": good, "AKIAX": {**good, "policy": {"Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*",
             "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}}]}}}},
    ]
    for body in bad:
        status, answer = iam_mode(emulator, "POST", b"null" if body is None else body)
        assert status == 400 and answer["error"], body
    assert iam_mode(emulator) == before  # nothing changed
    assert iam_mode(emulator, "PUT", b"{}")[0] == 405
    # A POST replaces the whole set; {} turns the mode off; without the trailing slash too.
    status, state = faults(emulator, "POST", {"principals": {"AKIAOTHER": good}}, path="/vpcgate-iam")
    assert status == 200 and list(state["principals"]) == ["AKIAOTHER"]
    assert iam_mode(emulator, "POST", {"principals": {}}) == (200, {"principals": {}})


# ------------------------------------------------------------------------------- /vpcgate-network/

CANARY = "vpcgate-canary-abc"
CANARY_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{CANARY}"
CANARY_DENY = {"Sid": "VpcgateCanary", "Effect": "Deny", "Principal": "*",
               "Action": "dynamodb:DescribeTable", "Resource": CANARY_ARN}


def endpoint_policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def denied_by(exc: pytest.ExceptionInfo) -> str:
    assert error_of(exc) == ("AccessDeniedException", 400)
    return exc.value.response["Error"]["Message"]


def describe_canary_error(ddb) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        ddb.describe_table(TableName=CANARY)
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def main_route_table(ec2, vpc: str) -> str:
    (table,) = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]},
    ])["RouteTables"]
    return table["RouteTableId"]


def test_network_endpoint_policy_on_the_callers_path(emulator, ec2, ddb):
    v = make_vpc(ec2)
    subnet_a, rt_a = v["private_subnet"], v["rt_private"]
    subnet_b, rt_b = v["public_subnet"], v["rt_public"]
    allow_all = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
    e1_policy = endpoint_policy(allow_all, CANARY_DENY)
    e1 = create_gw(ec2, v["vpc"], [rt_a], PolicyDocument=e1_policy)["VpcEndpointId"]
    explicit = (f"User: {MOTO_ARN} is not authorized to perform: dynamodb:DescribeTable on resource: "
                f"{CANARY_ARN} with an explicit deny in a VPC endpoint policy")

    # Off by default: no evaluation.
    assert describe_canary_error(ddb)[0] == "ResourceNotFoundException"

    # Caller in subnet A: through E1, whose policy denies the canary explicitly.
    assert network_mode(emulator, "POST", {"callerSubnet": subnet_a}) == (200, {"callerSubnet": subnet_a})
    assert describe_canary_error(ddb) == ("AccessDeniedException", explicit)
    assert ddb.list_tables()["TableNames"] == []
    with pytest.raises(ClientError) as exc:
        ddb.describe_table(TableName="orders")
    assert error_of(exc)[0] == "ResourceNotFoundException"  # allowed; moto answers
    status, _, body = raw_call(emulator, "dynamodb", "testing", target="DynamoDB_20120810.DescribeTable",
                               body={"TableName": CANARY})
    assert (status, json.loads(body)) == (
        400, {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": explicit})

    # Caller in subnet B: no route to DynamoDB's prefix list, over the internet: moto answers.
    assert network_mode(emulator, "POST", {"callerSubnet": subnet_b})[0] == 200
    assert describe_canary_error(ddb)[0] == "ResourceNotFoundException"

    # E2 on table B allows only DescribeTable on table/orders.
    orders = {"Effect": "Allow", "Principal": "*", "Action": "dynamodb:DescribeTable",
              "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"}
    e2 = create_gw(ec2, v["vpc"], [rt_b], PolicyDocument=endpoint_policy(orders))["VpcEndpointId"]
    assert describe_canary_error(ddb) == ("AccessDeniedException", (
        f"User: {MOTO_ARN} is not authorized to perform: dynamodb:DescribeTable on resource: {CANARY_ARN} "
        "because no VPC endpoint policy allows the dynamodb:DescribeTable action"))
    with pytest.raises(ClientError) as exc:
        ddb.list_tables()
    assert denied_by(exc) == (
        f"User: {MOTO_ARN} is not authorized to perform: dynamodb:ListTables on resource: * "
        "because no VPC endpoint policy allows the dynamodb:ListTables action")
    with pytest.raises(ClientError) as exc:
        ddb.describe_table(TableName="orders")
    assert error_of(exc)[0] == "ResourceNotFoundException"

    # The path follows the routes: E2 moved off table B -> over the internet; ResetPolicy on E1.
    ec2.modify_vpc_endpoint(VpcEndpointId=e2, RemoveRouteTableIds=[rt_b])
    assert ddb.list_tables()["TableNames"] == []
    network_mode(emulator, "POST", {"callerSubnet": subnet_a})
    ec2.modify_vpc_endpoint(VpcEndpointId=e1, ResetPolicy=True)
    assert describe_canary_error(ddb)[0] == "ResourceNotFoundException"
    ec2.modify_vpc_endpoint(VpcEndpointId=e1, PolicyDocument=endpoint_policy(allow_all, CANARY_DENY))
    assert describe_canary_error(ddb)[0] == "AccessDeniedException"
    ec2.delete_vpc_endpoints(VpcEndpointIds=[e1])
    assert describe_canary_error(ddb)[0] == "ResourceNotFoundException"

    # A subnet without an explicit association uses its VPC's main route table.
    subnet_c = ec2.create_subnet(VpcId=v["vpc"], CidrBlock="10.0.3.0/24")["Subnet"]["SubnetId"]
    create_gw(ec2, v["vpc"], [main_route_table(ec2, v["vpc"])], PolicyDocument=e1_policy)
    network_mode(emulator, "POST", {"callerSubnet": subnet_c})
    assert describe_canary_error(ddb) == ("AccessDeniedException", explicit)
    # A gateway endpoint serves its own region only: a call to another region goes around it.
    other_region = boto3.client("dynamodb", endpoint_url=emulator.url, region_name="us-west-2",
                                aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError) as exc:
        other_region.describe_table(TableName=CANARY)
    assert error_of(exc)[0] == "ResourceNotFoundException"
    # EC2 is not affected by the network mode.
    assert ec2.describe_vpcs(VpcIds=[v["vpc"]])["Vpcs"]

    # Off again: no evaluation.
    assert network_mode(emulator, "POST", {"callerSubnet": None}) == (200, {"callerSubnet": None})
    assert describe_canary_error(ddb)[0] == "ResourceNotFoundException"


def test_network_principals_and_identity_precedence(emulator, ec2, ddb):
    v = make_vpc(ec2)
    only_vpcgate = {"Effect": "Allow", "Principal": {"AWS": [VPCGATE_ARN]}, "Action": "dynamodb:*",
                    "Resource": "*"}
    create_gw(ec2, v["vpc"], [v["rt_private"]], PolicyDocument=endpoint_policy(only_vpcgate, CANARY_DENY))
    network_mode(emulator, "POST", {"callerSubnet": v["private_subnet"]})
    register(emulator, vpcgate_policy(v["vpc"]))
    me = principal_client(emulator, "dynamodb")

    # The endpoint policy names the registered principal: it may list tables, moto's user may not.
    assert me.list_tables()["TableNames"] == []
    with pytest.raises(ClientError) as exc:
        ddb.list_tables()
    assert denied_by(exc).startswith(f"User: {MOTO_ARN} is not authorized to perform: dynamodb:ListTables")
    # Identity allows the canary (Probe), the endpoint denies it explicitly.
    with pytest.raises(ClientError) as exc:
        me.describe_table(TableName=CANARY)
    assert denied_by(exc) == (f"User: {VPCGATE_ARN} is not authorized to perform: dynamodb:DescribeTable on "
                              f"resource: {CANARY_ARN} with an explicit deny in a VPC endpoint policy")
    # Identity denies implicitly, the endpoint explicitly: the explicit deny is reported.
    register(emulator, allow({"Action": "dynamodb:ListTables", "Resource": "*"}))
    with pytest.raises(ClientError) as exc:
        me.describe_table(TableName=CANARY)
    assert denied_by(exc).endswith("with an explicit deny in a VPC endpoint policy")
    # Both deny implicitly: the identity-based reason first.
    with pytest.raises(ClientError) as exc:
        me.put_item(TableName="orders", Item={"pk": {"S": "1"}})
    assert denied_by(exc).endswith("because no identity-based policy allows the dynamodb:PutItem action")
    # Identity denies explicitly, the endpoint implicitly: identity's explicit deny.
    register(emulator, {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                      {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"}]})
    ec2.modify_vpc_endpoint(VpcEndpointId=ec2.describe_vpc_endpoints()["VpcEndpoints"][0]["VpcEndpointId"],
                            PolicyDocument=endpoint_policy({**only_vpcgate, "Action": "dynamodb:GetItem"}))
    with pytest.raises(ClientError) as exc:
        me.put_item(TableName="orders", Item={"pk": {"S": "1"}})
    assert denied_by(exc).endswith("with an explicit deny in an identity-based policy")
    with pytest.raises(ClientError) as exc:
        me.describe_table(TableName="orders")
    assert denied_by(exc).endswith("because no VPC endpoint policy allows the dynamodb:DescribeTable action")


def test_network_control_rejects_bad_requests(emulator, ec2):
    v = make_vpc(ec2)
    for body in (b"not json", {}, [], {"callerSubnet": 3}, {"callerSubnet": "vpc-1"},
                 {"callerSubnet": "subnet-0123456789abcdef0"},
                 {"callerSubnet": v["private_subnet"], "x": 1}):
        status, answer = network_mode(emulator, "POST", body)
        assert status == 400 and answer["error"], body
    assert network_mode(emulator) == (200, {"callerSubnet": None})
    status, state = faults(emulator, "POST", {"callerSubnet": v["private_subnet"]}, path="/vpcgate-network")
    assert (status, state) == (200, {"callerSubnet": v["private_subnet"]})
    # The subnet vanished (moto reset): DynamoDB calls fail loudly rather than skip the check.
    post(f"{emulator.url}/moto-api/reset")
    status, _, body = raw_call(emulator, "dynamodb", "testing", target="DynamoDB_20120810.ListTables")
    assert status == 500 and "does not exist" in json.loads(body)["Message"]
    assert network_mode(emulator, "DELETE") == (200, {"callerSubnet": None})
    assert client(emulator, "dynamodb").list_tables()["TableNames"] == []


def test_an_injected_delay_slows_the_action_and_changes_nothing_else(emulator, ec2):
    """`delaySeconds` makes the next requests of an action slow, then moto answers them."""
    import time as _time
    status, _ = faults(emulator, "POST", {"action": "DescribeVpcs", "delaySeconds": 0.5, "count": 2})
    assert status == 200
    started = _time.monotonic()
    ec2.describe_vpcs()
    assert _time.monotonic() - started >= 0.5
    ec2.describe_vpcs()
    started = _time.monotonic()
    ec2.describe_vpcs()
    assert _time.monotonic() - started < 0.5, "count 2: the third is not delayed"
    status, _ = faults(emulator, "POST", {"action": "DescribeVpcs", "delaySeconds": 0, "count": 1})
    assert status == 400
    status, _ = faults(emulator, "POST", {"action": "X", "delaySeconds": 1, "code": "Y"})
    assert status == 400


# ------------------------------------------------------------------------------- /vpcgate-throttle/
# AWS's EC2 token buckets (vpcgate_throttle.py): the bucket arithmetic on a fake clock first, then
# the control endpoint and the middleware end to end.

import vpcgate_throttle as throttling  # noqa: E402

SCOPE = f"{ACCOUNT}/{REGION}"
VPCE_ACTIONS = ("CreateVpcEndpoint", "DeleteVpcEndpoints", "ModifyVpcEndpoint")
THROTTLE_OFF = {
    "enabled": False,
    "scale": 1.0,
    "buckets": {action: {"capacity": 4, "refill": 0.3} for action in VPCE_ACTIONS},
    "nonMutating": {"capacity": 100, "refill": 20},
    "default": {"capacity": 50, "refill": 5},
    "counters": {},
    "tokens": {},
}


def throttle_mode(emu, method: str = "GET", body=None) -> tuple[int, dict]:
    return faults(emu, method, body, path="/vpcgate-throttle/")


@pytest.fixture(autouse=True)
def no_throttle(emulator, reset):
    assert throttle_mode(emulator, "DELETE") == (200, THROTTLE_OFF)


def throttle_on(emu, **body) -> dict:
    status, state = throttle_mode(emu, "POST", {"enabled": True, **body})
    assert status == 200, state
    return state


def outcome(call) -> str:
    """The call's error code, or "ok": a sequence of calls then reads as one list."""
    try:
        call()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


def test_token_bucket_arithmetic_on_a_fake_clock():
    now = [0.0]
    t = throttling.Throttle(clock=lambda: now[0])
    config = throttling.parse_config(
        {"enabled": True, "scale": 2, "default": {"capacity": 3, "refill": 0.5}}
    )
    t.configure(config)
    assert [t.admit("a/r", "CreateTags") for _ in range(4)] == [True, True, True, False]
    assert t.admit("a/other-region", "CreateTags")  # each account and Region its own buckets
    now[0] = 0.5  # refill 0.5/s x scale 2 = 1 token/s: half a token is not enough
    assert not t.admit("a/r", "DeleteTags")  # CreateTags and DeleteTags share the default bucket
    now[0] = 1.0
    assert t.admit("a/r", "DeleteTags")
    now[0] = 100.0
    state = t.state()
    assert state["tokens"]["a/r"] == {"default": 3}  # never above capacity
    assert state["counters"] == {
        "CreateTags": {"allowed": 4, "throttled": 1},
        "DeleteTags": {"allowed": 1, "throttled": 1},
    }
    assert [throttling.bucket_of(config, a) for a in (
        "DescribeVpcs", "GetManagedPrefixListEntries", "ListImagesInRecycleBin",
        "SearchTransitGatewayRoutes", "CreateVpcEndpoint", "AuthorizeSecurityGroupEgress",
    )] == ["nonMutating"] * 4 + ["CreateVpcEndpoint", "default"]
    t.configure(throttling.parse_config({"enabled": False}))
    assert t.admit("a/r", "CreateTags") and t.state()["counters"] == {}


def test_throttle_off_by_default(emulator, ec2_once):
    assert throttle_mode(emulator) == (200, THROTTLE_OFF)
    for _ in range(30):
        ec2_once.describe_vpcs()
    assert throttle_mode(emulator) == (200, THROTTLE_OFF)  # nothing even counted


def test_a_mutating_action_has_its_own_bucket(emulator, ec2_once):
    ec2 = ec2_once
    v = make_vpc(ec2)
    state = throttle_on(emulator, buckets={"CreateVpcEndpoint": {"capacity": 2, "refill": 0.5}})
    assert state["buckets"]["CreateVpcEndpoint"] == {"capacity": 2, "refill": 0.5}
    assert state["buckets"]["ModifyVpcEndpoint"] == {"capacity": 4, "refill": 0.3}  # AWS's, kept
    # A DryRun takes a token too.
    assert outcome(lambda: create_gw(ec2, v["vpc"], [v["rt_private"]], DryRun=True)) == "DryRunOperation"
    vpce = create_gw(ec2, v["vpc"], [v["rt_private"]])["VpcEndpointId"]
    with pytest.raises(ClientError) as exc:
        create_gw(ec2, v["vpc"], [v["rt_public"]])
    assert error_of(exc) == ("RequestLimitExceeded", 503)
    assert exc.value.response["Error"]["Message"] == "Request limit exceeded."
    # The throttled request never reached moto; other actions draw from other buckets.
    assert [e["VpcEndpointId"] for e in all_endpoints(ec2)] == [vpce]
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, AddRouteTableIds=[v["rt_extra"]])
    time.sleep(2.1)  # 0.5 tokens/s: one token again
    assert outcome(lambda: create_gw(ec2, v["vpc"], [v["rt_public"]])) == "ok"
    assert outcome(lambda: create_gw(ec2, v["vpc"], [v["rt_public"]])) == "RequestLimitExceeded"
    state = throttle_mode(emulator)[1]
    assert state["counters"]["CreateVpcEndpoint"] == {"allowed": 3, "throttled": 2}
    assert state["counters"]["ModifyVpcEndpoint"] == {"allowed": 1, "throttled": 0}
    assert 0 <= state["tokens"][SCOPE]["CreateVpcEndpoint"] < 1
    assert state["tokens"][SCOPE]["ModifyVpcEndpoint"] >= 3


def test_non_mutating_actions_share_one_bucket(emulator, ec2_once):
    ec2 = ec2_once
    v = make_vpc(ec2)
    throttle_on(emulator, nonMutating={"capacity": 5, "refill": 0})
    assert [outcome(ec2.describe_vpcs) for _ in range(3)] == ["ok"] * 3
    assert [outcome(ec2.describe_route_tables) for _ in range(3)] == ["ok", "ok", "RequestLimitExceeded"]
    assert outcome(ec2.describe_vpcs) == "RequestLimitExceeded"
    assert outcome(lambda: ec2.get_managed_prefix_list_entries(PrefixListId="pl-1")) == (
        "RequestLimitExceeded"
    )
    # Mutating actions draw from the default bucket; another Region has buckets of its own.
    ec2.create_tags(Resources=[v["vpc"]], Tags=[{"Key": "k", "Value": "v"}])
    other = boto3.client(
        "ec2", endpoint_url=emulator.url, region_name="eu-west-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}),
    )
    assert outcome(other.describe_vpcs) == "ok"
    state = throttle_mode(emulator)[1]
    assert state["counters"] == {
        "CreateTags": {"allowed": 1, "throttled": 0},
        "DescribeRouteTables": {"allowed": 2, "throttled": 1},
        "DescribeVpcs": {"allowed": 4, "throttled": 1},
        "GetManagedPrefixListEntries": {"allowed": 0, "throttled": 1},
    }
    assert state["tokens"][SCOPE]["nonMutating"] == 0
    assert 49 <= state["tokens"][SCOPE]["default"] <= 50
    assert state["tokens"][f"{ACCOUNT}/eu-west-1"] == {"nonMutating": 4}


def test_only_ec2_requests_are_throttled(emulator, ec2_once, ddb):
    empty = {"capacity": 0, "refill": 0}
    throttle_on(emulator, nonMutating=empty, default=empty)
    assert outcome(ec2_once.describe_vpcs) == "RequestLimitExceeded"
    assert outcome(lambda: ec2_once.create_tags(
        Resources=["vpc-12345678"], Tags=[{"Key": "k", "Value": "v"}])) == "RequestLimitExceeded"
    # DynamoDB (JSON protocol), STS (another query API) and the control endpoints pass.
    for _ in range(20):
        assert ddb.list_tables()["TableNames"] == []
    sts = client(emulator, "sts")
    for _ in range(3):
        assert sts.get_caller_identity()["Account"] == ACCOUNT
    assert json.loads(post(f"{emulator.url}/moto-api/reset"))["status"] == "ok"
    assert faults(emulator) == (200, NO_FAULTS)
    assert iam_mode(emulator) == (200, {"principals": {}})
    # Unsigned EC2 query requests too, answered in EC2's XML error format.
    req = urllib.request.Request(
        emulator.url + "/", method="POST", data=b"Action=DescribeVpcs&Version=2016-11-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(req)
    assert http_error.value.code == 503
    assert http_error.value.headers["Content-Type"] == "text/xml"
    assert re.fullmatch(
        r'<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error>'
        r"<Code>RequestLimitExceeded</Code><Message>Request limit exceeded\.</Message>"
        r"</Error></Errors><RequestID>[0-9a-f-]{36}</RequestID></Response>",
        http_error.value.read().decode(),
    )
    assert throttle_mode(emulator)[1]["counters"] == {
        "CreateTags": {"allowed": 0, "throttled": 1},
        "DescribeVpcs": {"allowed": 0, "throttled": 2},
    }


def test_throttling_comes_before_fault_injection_and_iam(emulator, ec2_once):
    faults(emulator, "POST", {"action": "DescribeVpcs", "code": "InternalError", "count": 1})
    register(emulator, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    throttle_on(emulator, nonMutating={"capacity": 0, "refill": 0})
    assert outcome(ec2_once.describe_vpcs) == "RequestLimitExceeded"
    me = principal_client(emulator, "ec2")
    assert outcome(me.describe_vpcs) == "RequestLimitExceeded"
    # Neither reached the injected error, which is still there.
    assert faults(emulator)[1]["errors"]["DescribeVpcs"]["count"] == 1


def test_throttle_control_rejects_bad_requests(emulator):
    bucket = {"capacity": 2, "refill": 1}
    bad = [
        (b"not json", "JSON"), ([], "object"), ({}, "enabled"), ({"enabled": "yes"}, "enabled"),
        ({"enabled": True, "scale": 0}, "scale"), ({"enabled": True, "scale": "2"}, "scale"),
        (b'{"enabled": true, "scale": NaN}', "scale"),
        ({"enabled": True, "bucket": {}}, "bucket"),
        ({"enabled": True, "buckets": []}, "buckets"),
        ({"enabled": True, "buckets": {"createVpcEndpoint": bucket}}, "createVpcEndpoint"),
        ({"enabled": True, "buckets": {"CreateVpcEndpoint": {"capacity": 2}}},
         "buckets.CreateVpcEndpoint.refill"),
        ({"enabled": True, "buckets": {"CreateVpcEndpoint": {"capacity": 1.5, "refill": 1}}},
         "buckets.CreateVpcEndpoint.capacity"),
        ({"enabled": True, "buckets": {"CreateTags": bucket}, "nonMutating": {"capacity": 5, "refill": -1}},
         "nonMutating.refill"),  # nothing applied, not even the valid bucket
        ({"enabled": True, "default": {**bucket, "burst": 2}}, "default"),
        ({"enabled": True, "default": 5}, "default"),
    ]
    for body, field in bad:
        status, answer = throttle_mode(emulator, "POST", body)
        assert status == 400 and field in answer["error"], (body, answer)
    assert throttle_mode(emulator) == (200, THROTTLE_OFF)
    assert throttle_mode(emulator, "PUT", b"{}")[0] == 405
    # Both spellings of the path; "enabled" alone is AWS's sizes.
    status, state = faults(emulator, "POST", {"enabled": True, "scale": 0.5}, path="/vpcgate-throttle")
    assert (status, state) == (200, {**THROTTLE_OFF, "enabled": True, "scale": 0.5})


def test_delete_turns_throttling_off_and_clears_counters(emulator, ec2_once):
    ec2 = ec2_once
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    throttle_on(emulator, default={"capacity": 1, "refill": 0})
    tags = {"Resources": [vpc], "Tags": [{"Key": "k", "Value": "v"}]}
    assert outcome(lambda: ec2.create_tags(**tags)) == "ok"
    # CreateTags and DeleteTags share the default bucket.
    assert outcome(lambda: ec2.delete_tags(**tags)) == "RequestLimitExceeded"
    assert throttle_mode(emulator)[1]["counters"] == {
        "CreateTags": {"allowed": 1, "throttled": 0},
        "DeleteTags": {"allowed": 0, "throttled": 1},
    }
    assert throttle_mode(emulator, "DELETE") == (200, THROTTLE_OFF)
    assert [outcome(lambda: ec2.create_tags(**tags)) for _ in range(5)] == ["ok"] * 5
    assert throttle_mode(emulator) == (200, THROTTLE_OFF)


def test_buckets_hold_under_concurrent_requests(emulator, ec2_once):
    from concurrent.futures import ThreadPoolExecutor

    throttle_on(emulator, nonMutating={"capacity": 10, "refill": 0})
    with ThreadPoolExecutor(12) as pool:  # botocore clients are thread-safe
        results = list(pool.map(lambda _: outcome(ec2_once.describe_vpcs), range(24)))
    assert sorted(results) == ["RequestLimitExceeded"] * 14 + ["ok"] * 10
    assert throttle_mode(emulator)[1]["counters"] == {"DescribeVpcs": {"allowed": 10, "throttled": 14}}


def test_throttle_flag_starts_with_aws_sizes():
    emu = start_emulator("--throttle")
    try:
        assert throttle_mode(emu) == (200, {**THROTTLE_OFF, "enabled": True})
        ec2 = boto3.client(
            "ec2", endpoint_url=emu.url, region_name=REGION, aws_access_key_id="testing",
            aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}),
        )

        def create() -> None:
            ec2.create_vpc_endpoint(
                VpcId="vpc-12345678", ServiceName=DDB, VpcEndpointType="Gateway", DryRun=True
            )

        results = [outcome(create) for _ in range(5)]
        assert "RequestLimitExceeded" not in results[:4] and results[4] == "RequestLimitExceeded"
    finally:
        assert emu.stop() == 0
