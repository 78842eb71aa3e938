"""Service Quotas, which LocalStack's community edition does not serve and moto barely models:
GetServiceQuota and GetAWSDefaultServiceQuota for the quotas deployer checks, with AWS's
published defaults, and the emulator account's applied values.

The applied values stand for an account whose quotas were raised so that a whole test suite's
stacks (which stay in the emulator until it stops) fit in one emulator run; AWS's defaults are
what GetAWSDefaultServiceQuota answers. See emulator/NOTES.md ("Service Quotas").
"""

from localstack.aws.api import RequestContext

from .common import aws_error

# (service code, quota code) -> (quota name, AWS's default, adjustable). AWS's quota pages and
# GetAWSDefaultServiceQuota, 2026: elb-limits (Classic Load Balancers per Region, 20),
# ec2-auto-scaling quotas (500 groups), RDS quotas (40 DB instances), ElastiCache quotas (300 nodes
# per Region), EC2 On-Demand instance quotas (5 vCPUs of the standard families for a new account), Amazon VPC
# quotas (5 VPCs per Region) and EC2-VPC Elastic IPs (5).
QUOTAS = {
    ("elasticloadbalancing", "L-E9E9831D"): ("Classic Load Balancers per Region", 20.0, True),
    ("autoscaling", "L-CDE20ADC"): ("Auto Scaling groups per region", 500.0, True),
    ("rds", "L-7B6409FD"): ("DB instances", 40.0, True),
    ("elasticache", "L-DFE45DF3"): ("Nodes per Region", 300.0, True),
    ("ec2", "L-1216C47A"): ("Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 5.0, True),
    ("vpc", "L-F678F1CE"): ("VPCs per Region", 5.0, True),
    ("vpc", "L-A4707A72"): ("Internet gateways per Region", 5.0, True),
    ("ec2", "L-0263D0A3"): ("EC2-VPC Elastic IPs", 5.0, True),
}

SERVICE_NAMES = {
    "elasticloadbalancing": "Elastic Load Balancing (ELB)",
    "autoscaling": "Amazon EC2 Auto Scaling",
    "rds": "Amazon Relational Database Service (Amazon RDS)",
    "elasticache": "Amazon ElastiCache",
    "ec2": "Amazon Elastic Compute Cloud (Amazon EC2)",
    "vpc": "Amazon Virtual Private Cloud (Amazon VPC)",
}

# The emulator account's applied values. A quota with none answers GetServiceQuota with
# NoSuchResourceException, as AWS does for a quota whose applied value is not available
# (aws/aws-cli#6629); GetAWSDefaultServiceQuota still answers for it.
APPLIED = {
    ("elasticloadbalancing", "L-E9E9831D"): 200.0,
    ("rds", "L-7B6409FD"): 200.0,
    ("ec2", "L-1216C47A"): 1152.0,
    ("vpc", "L-F678F1CE"): 100.0,
    ("vpc", "L-A4707A72"): 100.0,
    ("ec2", "L-0263D0A3"): 100.0,
}


def _quota(context: RequestContext, request: dict, applied: bool) -> dict:
    service, code = request.get("ServiceCode", ""), request.get("QuotaCode", "")
    known = QUOTAS.get((service, code))
    if known is None:
        if service not in SERVICE_NAMES:
            raise aws_error("NoSuchResourceException", "The request failed because the specified service does not exist.")
        raise aws_error("NoSuchResourceException", f"The request failed because the specified quota does not exist: {code}")
    name, default, adjustable = known
    account = context.account_id if applied else ""
    if applied and (service, code) not in APPLIED:
        raise aws_error("NoSuchResourceException", "The request failed because the specified resource does not exist.")
    value = APPLIED[(service, code)] if applied else default
    return {
        "Quota": {
            "ServiceCode": service,
            "ServiceName": SERVICE_NAMES[service],
            "QuotaArn": f"arn:aws:servicequotas:{context.region}:{account}:{service}/{code}",
            "QuotaCode": code,
            "QuotaName": name,
            "Value": value,
            "Unit": "None",
            "Adjustable": adjustable,
            "GlobalQuota": False,
        }
    }


def get_service_quota(context: RequestContext, request: dict):
    return _quota(context, request, applied=True)


def get_aws_default_service_quota(context: RequestContext, request: dict):
    return _quota(context, request, applied=False)


# Every other operation answers "not implemented", as LocalStack does for what it lacks.
OPERATIONS = {
    "GetServiceQuota": get_service_quota,
    "GetAWSDefaultServiceQuota": get_aws_default_service_quota,
}
