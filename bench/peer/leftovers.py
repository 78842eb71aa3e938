"""Lists what is left of a peer stack (what create.yml makes), with boto3; exit status 1 if anything.

    .bench/venv/bin/python bench/peer/leftovers.py STACK [--endpoint-url URL] [--region REGION]

Credentials come from the environment. Also lists orphaned image snapshots (a "Created by CreateImage"
snapshot whose image is gone), whichever stack they came from.
"""
import argparse
import re

import boto3

parser = argparse.ArgumentParser()
parser.add_argument("stack")
parser.add_argument("--endpoint-url")
parser.add_argument("--region", default="us-east-1")
args = parser.parse_args()
stack = args.stack


def client(service):
    return boto3.client(service, region_name=args.region, endpoint_url=args.endpoint_url)


def error_code(error):
    return error.response["Error"]["Code"]


ec2, rds, elasticache, elb, autoscaling = (client(s) for s in ("ec2", "rds", "elasticache", "elb", "autoscaling"))
left = []

for reservation in ec2.describe_instances(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Reservations"]:
    for instance in reservation["Instances"]:
        if instance["State"]["Name"] != "terminated":
            left.append(f"instance {instance['InstanceId']} ({instance['State']['Name']})")
for group in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{stack}-*"]}])["SecurityGroups"]:
    left.append(f"security group {group['GroupId']} {group['GroupName']}")
images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [f"{stack}-node-*"]}])["Images"]
for image in images:
    left.append(f"image {image['ImageId']} {image['Name']}")
image_ids = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
for snapshot in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
    match = re.match(r"Created by CreateImage\(.*\) for (ami-[0-9a-f]+)", snapshot.get("Description") or "")
    if match and match.group(1) not in image_ids:
        left.append(f"snapshot {snapshot['SnapshotId']} of deregistered {match.group(1)} (orphan)")
    elif match and match.group(1) in {i["ImageId"] for i in images}:
        left.append(f"snapshot {snapshot['SnapshotId']} of {match.group(1)}")
try:
    ec2.describe_launch_templates(LaunchTemplateNames=[f"{stack}-node"])
    left.append(f"launch template {stack}-node")
except ec2.exceptions.ClientError as error:
    if "NotFound" not in error_code(error):
        raise
for group in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-nodes"])["AutoScalingGroups"]:
    left.append(f"auto scaling group {group['AutoScalingGroupName']}")
try:
    elb.describe_load_balancers(LoadBalancerNames=[f"{stack}-lb"])
    left.append(f"load balancer {stack}-lb")
except elb.exceptions.AccessPointNotFoundException:
    pass
try:
    for db in rds.describe_db_instances(DBInstanceIdentifier=f"{stack}-db")["DBInstances"]:
        left.append(f"db instance {db['DBInstanceIdentifier']} ({db['DBInstanceStatus']})")
except rds.exceptions.DBInstanceNotFoundFault:
    pass
try:
    rds.describe_db_subnet_groups(DBSubnetGroupName=f"{stack}-db")
    left.append(f"db subnet group {stack}-db")
except rds.exceptions.DBSubnetGroupNotFoundFault:
    pass
try:
    for cluster in elasticache.describe_cache_clusters(CacheClusterId=f"{stack}-cache")["CacheClusters"]:
        left.append(f"cache cluster {cluster['CacheClusterId']} ({cluster['CacheClusterStatus']})")
except elasticache.exceptions.CacheClusterNotFoundFault:
    pass
try:
    elasticache.describe_cache_subnet_groups(CacheSubnetGroupName=f"{stack}-cache")
    left.append(f"cache subnet group {stack}-cache")
except elasticache.exceptions.CacheSubnetGroupNotFoundFault:
    pass

for line in left:
    print(line)
print(f"{stack}: {len(left)} left" if left else f"{stack}: nothing left")
raise SystemExit(1 if left else 0)
