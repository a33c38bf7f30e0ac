"""Creates the walkthrough's AWS side in the emulator: a VPC with a public and a private subnet,
each with its own route table, and the DynamoDB table `Music`. Prints shell assignments."""

import sys

import boto3


def main(url: str) -> None:
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    ec2 = boto3.client("ec2", **kw)
    ddb = boto3.client("dynamodb", **kw)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    out = {"VPC_ID": vpc}
    for tier, cidr in (("public", "10.0.1.0/24"), ("private", "10.0.2.0/24")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
        rtb = ec2.create_route_table(
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "route-table", "Tags": [{"Key": "tier", "Value": tier}]}],
        )["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
        out[f"{tier.upper()}_SUBNET"] = subnet
        out[f"{tier.upper()}_RTB"] = rtb
    ddb.create_table(
        TableName="Music",
        AttributeDefinitions=[{"AttributeName": "Artist", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for k, v in out.items():
        print(f"{k}={v}")


if __name__ == "__main__":
    main(sys.argv[1])
