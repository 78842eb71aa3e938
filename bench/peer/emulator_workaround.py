"""Two calls the amazon.aws modules cannot make against the emulator (see README.md).

    python emulator_workaround.py elb-create-bare NAME --subnet ID... --security-group ID...
        --listener PORT:INSTANCE_PORT... [--scheme internet-facing]
    python emulator_workaround.py elb-delete NAME
    python emulator_workaround.py lt-delete NAME

elb-create-bare: amazon.aws.elb_classic_lb describes the attributes of the load balancer before it
creates it, and the emulator answers DescribeLoadBalancerAttributes of a missing load balancer with a
500 instead of LoadBalancerNotFound. This creates it bare (listeners, subnets, security groups) when
it is missing; the module then manages everything else. Prints "created" or "exists".

elb-delete: the same 500 fails amazon.aws.elb_classic_lb state=absent (it describes the load balancer
once more after deleting it, and before, when it is already gone). Prints "deleted" or "absent".

lt-delete: amazon.aws.ec2_launch_template state=absent first deletes every non-default version with
DeleteLaunchTemplateVersions, which the emulator does not implement (501, retried for ~2 minutes).
DeleteLaunchTemplate alone deletes the template with all its versions. Prints "deleted" or "absent".

Common options: --region REGION, --endpoint-url URL; credentials come from the environment.
"""
import argparse

import boto3

parser = argparse.ArgumentParser()
parser.add_argument("--region")
parser.add_argument("--endpoint-url")
commands = parser.add_subparsers(dest="command", required=True)
elb_parser = commands.add_parser("elb-create-bare")
elb_parser.add_argument("name")
elb_parser.add_argument("--subnet", action="append", required=True)
elb_parser.add_argument("--security-group", action="append", required=True)
elb_parser.add_argument("--listener", action="append", required=True)
elb_parser.add_argument("--scheme", default="internet-facing")
elb_delete_parser = commands.add_parser("elb-delete")
elb_delete_parser.add_argument("name")
lt_parser = commands.add_parser("lt-delete")
lt_parser.add_argument("name")
args = parser.parse_args()


def client(service):
    return boto3.client(service, region_name=args.region, endpoint_url=args.endpoint_url or None)


if args.command == "elb-create-bare":
    elb = client("elb")
    try:
        elb.describe_load_balancers(LoadBalancerNames=[args.name])
        print("exists")
    except elb.exceptions.AccessPointNotFoundException:
        listeners = []
        for spec in args.listener:
            port, instance_port = (int(p) for p in spec.split(":"))
            listeners.append({"Protocol": "HTTP", "LoadBalancerPort": port,
                              "InstanceProtocol": "HTTP", "InstancePort": instance_port})
        elb.create_load_balancer(LoadBalancerName=args.name, Listeners=listeners, Subnets=args.subnet,
                                 SecurityGroups=args.security_group, Scheme=args.scheme)
        print("created")
elif args.command == "elb-delete":
    elb = client("elb")
    try:
        elb.describe_load_balancers(LoadBalancerNames=[args.name])
    except elb.exceptions.AccessPointNotFoundException:
        print("absent")
    else:
        elb.delete_load_balancer(LoadBalancerName=args.name)
        print("deleted")
else:
    ec2 = client("ec2")
    try:
        templates = ec2.describe_launch_templates(LaunchTemplateNames=[args.name])["LaunchTemplates"]
    except ec2.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "InvalidLaunchTemplateName.NotFoundException":
            raise
        templates = []
    for template in templates:
        ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])
    print("deleted" if templates else "absent")
