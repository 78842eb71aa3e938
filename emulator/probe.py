#!/usr/bin/env python3
"""Capability probe for deployer's emulator (LocalStack + emulator/plugin).

Calls every AWS operation deployer relies on, with the parameters it uses, and prints one line per
finding:  OK (behaves as AWS does), QUIRK (works, but differs from AWS: says how), MISSING (not
implemented), FAIL (broken), INFO (a fact worth knowing, e.g. ids). emulator/NOTES.md is written
from its output.

Run it against a running emulator with the venv's Python (boto3 is in the lock):
    scripts/emulator start && .emulator/venv/bin/python emulator/probe.py
It uses AWS_ENDPOINT_URL when set, else http://127.0.0.1:${DEPLOYER_EMULATOR_PORT:-4566}; region
us-east-1, credentials test/test. Every name carries a random suffix, so it can be re-run against the
same emulator; it deletes what it creates. Exit status 1 when any FAIL was seen.
"""

import base64
import os
import sys
import time
import traceback
import uuid

import boto3
from botocore import handlers
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL") or "http://127.0.0.1:%s" % os.environ.get(
    "DEPLOYER_EMULATOR_PORT", "4566"
)
REGION = "us-east-1"
SUFFIX = uuid.uuid4().hex[:6]
STABLE_AMI = "ami-760aaa0f"  # amzn-ami-hvm-2017.09.1.20171103-x86_64-gp2, from moto's amis.json

results: list[tuple[str, str, str]] = []


def client(name):
    return boto3.client(
        name,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def report(status: str, op: str, detail: str = "") -> None:
    results.append((status, op, detail))
    print(f"{status:7} {op}: {detail}", flush=True)


def error_code(fn, *args, **kwargs) -> str | None:
    """Calls fn and returns the AWS error code it raised, or None if it succeeded."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def expect_error(op: str, wanted: str, fn, *args, **kwargs) -> None:
    code = error_code(fn, *args, **kwargs)
    if code == wanted:
        report("OK", op, f"error {code}")
    elif code is None:
        report("QUIRK", op, f"succeeded; AWS answers {wanted}")
    else:
        report("QUIRK", op, f"error {code}; AWS answers {wanted}")


def compare(op: str, sent: dict, got: dict, context: str = "") -> list[str]:
    """Reports which sent attributes come back (equal) in a describe; returns the names that differ."""
    wrong = []
    for key, want in sent.items():
        have = got.get(key, "<absent>")
        if have != want:
            wrong.append(f"{key}={have!r} (sent {want!r})")
    if wrong:
        report("QUIRK", op, f"{context}not reported back as sent: " + "; ".join(wrong))
    else:
        report("OK", op, f"{context}all of {', '.join(sent)} reported back")
    return wrong


def section(name, fn, *args):
    print(f"\n== {name}", flush=True)
    try:
        return fn(*args)
    except Exception as e:  # keep probing the other services
        report("FAIL", name, f"probe aborted: {type(e).__name__}: {e}")
        traceback.print_exc()
        return None


# ---------------------------------------------------------------- STS, IAM, Secrets Manager, ACM


def probe_sts():
    identity = client("sts").get_caller_identity()
    report("INFO", "STS.GetCallerIdentity", f"Account {identity['Account']}, Arn {identity['Arn']}")
    return identity["Account"]


def probe_iam():
    iam = client("iam")
    role, profile = f"probe-role-{SUFFIX}", f"probe-profile-{SUFFIX}"
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":'
        '"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    )
    tags = [{"Key": "deployer:stack", "Value": "probe"}]
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, Tags=tags)
    got = iam.get_role(RoleName=role)["Role"]
    report(
        "OK" if got.get("Tags") == tags else "QUIRK",
        "IAM.CreateRole(Tags, AssumeRolePolicyDocument)",
        f"GetRole Tags={got.get('Tags')}, trust policy type {type(got['AssumeRolePolicyDocument']).__name__}",
    )
    expect_error("IAM.CreateRole (again)", "EntityAlreadyExists", iam.create_role,
                 RoleName=role, AssumeRolePolicyDocument=trust)
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"*"}]}'
    iam.put_role_policy(RoleName=role, PolicyName="inline", PolicyDocument=policy)
    doc = iam.get_role_policy(RoleName=role, PolicyName="inline")["PolicyDocument"]
    report("OK", "IAM.PutRolePolicy/GetRolePolicy", f"document back as {type(doc).__name__}")
    iam.create_instance_profile(InstanceProfileName=profile, Tags=tags)
    expect_error("IAM.CreateInstanceProfile (again)", "EntityAlreadyExists",
                 iam.create_instance_profile, InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    ip = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    roles = [r["RoleName"] for r in ip["Roles"]]
    report("OK" if roles == [role] else "QUIRK", "IAM.AddRoleToInstanceProfile/GetInstanceProfile",
           f"Roles={roles}, Arn={ip['Arn']}, Tags in GetInstanceProfile={ip.get('Tags')}")
    expect_error("IAM.AddRoleToInstanceProfile (again)", "LimitExceeded",
                 iam.add_role_to_instance_profile, InstanceProfileName=profile, RoleName=role)
    listed = iam.list_instance_profile_tags(InstanceProfileName=profile)["Tags"]
    report("OK" if listed == tags else "QUIRK", "IAM.ListInstanceProfileTags", f"{listed}")
    iam.delete_role_policy(RoleName=role, PolicyName="inline")
    expect_error("IAM.GetRolePolicy (deleted)", "NoSuchEntity", iam.get_role_policy,
                 RoleName=role, PolicyName="inline")
    expect_error("IAM.DeleteRole (still in a profile)", "DeleteConflict", iam.delete_role, RoleName=role)
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=profile)
    iam.delete_role(RoleName=role)
    expect_error("IAM.GetInstanceProfile (deleted)", "NoSuchEntity", iam.get_instance_profile,
                 InstanceProfileName=profile)
    expect_error("IAM.GetRole (deleted)", "NoSuchEntity", iam.get_role, RoleName=role)
    report("OK", "IAM.DeleteRolePolicy/RemoveRoleFromInstanceProfile/DeleteInstanceProfile/DeleteRole", "")


def probe_secretsmanager():
    sm = client("secretsmanager")
    name = f"probe/secret-{SUFFIX}"
    token = str(uuid.uuid4())
    tags = [{"Key": "deployer:stack", "Value": "probe"}]
    first = sm.create_secret(Name=name, SecretString="s3cret", Tags=tags, ClientRequestToken=token)
    again = error_code(sm.create_secret, Name=name, SecretString="s3cret", Tags=tags, ClientRequestToken=token)
    if again is None:
        report("OK", "SecretsManager.CreateSecret (same ClientRequestToken and value)", "idempotent: succeeds again")
    else:
        report("QUIRK", "SecretsManager.CreateSecret (same ClientRequestToken and value)",
               f"error {again}; AWS treats it as idempotent (succeeds, same VersionId)")
    expect_error("SecretsManager.CreateSecret (same name, other token)", "ResourceExistsException",
                 sm.create_secret, Name=name, SecretString="other", ClientRequestToken=str(uuid.uuid4()))
    desc = sm.describe_secret(SecretId=name)
    report("OK" if desc.get("Tags") == tags else "QUIRK", "SecretsManager.DescribeSecret", f"Tags={desc.get('Tags')}")
    value = sm.get_secret_value(SecretId=name)
    report("OK" if value["SecretString"] == "s3cret" and value["VersionId"] == first["VersionId"] == token else "QUIRK",
           "SecretsManager.GetSecretValue", f"VersionId == ClientRequestToken: {value['VersionId'] == token}")
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    code = error_code(sm.describe_secret, SecretId=name)
    report("OK" if code == "ResourceNotFoundException" else "QUIRK",
           "SecretsManager.DeleteSecret(ForceDeleteWithoutRecovery)",
           f"then DescribeSecret -> {code or 'still described (scheduled)'}")


def probe_acm():
    acm = client("acm")
    arn = acm.request_certificate(DomainName=f"probe-{SUFFIX}.example.com", ValidationMethod="DNS")["CertificateArn"]
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    report("OK", "ACM.RequestCertificate", f"ARN {arn.split(':')[0]}:...:certificate/<uuid>, Status {cert['Status']}")
    return arn


# ---------------------------------------------------------------- EC2


def probe_ec2(account):
    ec2 = client("ec2")
    facts = {}
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        report("QUIRK", "EC2.DescribeVpcs", "no default VPC")
        return None
    vpc = vpcs[0]
    facts["vpc"] = vpc["VpcId"]
    report("INFO", "EC2.DescribeVpcs", f"default VPC {vpc['VpcId']} {vpc['CidrBlock']}")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    subnets.sort(key=lambda s: s["AvailabilityZone"])
    facts["subnets"] = [(s["SubnetId"], s["AvailabilityZone"]) for s in subnets]
    report("INFO", "EC2.DescribeSubnets(default VPC)",
           f"{len(subnets)} subnets: " + ", ".join(f"{s['AvailabilityZone']}={s['SubnetId']}" for s in subnets))

    images = ec2.describe_images(ImageIds=[STABLE_AMI])["Images"]
    report("OK" if images else "QUIRK", f"EC2.DescribeImages({STABLE_AMI})",
           images[0]["Name"] if images else "absent")
    owned = ec2.describe_images(Owners=["amazon"])["Images"]
    report("INFO", "EC2.DescribeImages(Owners=amazon)", f"{len(owned)} images")
    expect_error("EC2.RunInstances(unknown AMI)", "InvalidAMIID.NotFound", ec2.run_instances,
                 ImageId="ami-00000000000000000", MinCount=1, MaxCount=1, InstanceType="t3.micro")

    # --- security groups
    tag_spec = lambda rtype: [{"ResourceType": rtype, "Tags": [{"Key": "deployer:stack", "Value": "probe"}]}]
    lb_sg = ec2.create_security_group(GroupName=f"probe-lb-{SUFFIX}", Description="lb", VpcId=vpc["VpcId"],
                                      TagSpecifications=tag_spec("security-group"))["GroupId"]
    node_sg = ec2.create_security_group(GroupName=f"probe-nodes-{SUFFIX}", Description="nodes", VpcId=vpc["VpcId"],
                                        TagSpecifications=tag_spec("security-group"))["GroupId"]
    facts["lb_sg"], facts["node_sg"] = lb_sg, node_sg
    described = ec2.describe_security_groups(GroupIds=[lb_sg])["SecurityGroups"][0]
    report("OK" if described.get("Tags") == tag_spec("x")[0]["Tags"] else "QUIRK",
           "EC2.CreateSecurityGroup(TagSpecifications)", f"DescribeSecurityGroups Tags={described.get('Tags')}")
    egress = described.get("IpPermissionsEgress", [])
    default_egress = any(p.get("IpProtocol") == "-1" and {"CidrIp": "0.0.0.0/0"} in p.get("IpRanges", []) for p in egress)
    report("OK" if default_egress else "QUIRK", "EC2 default egress rule", f"present={default_egress}")
    expect_error("EC2.CreateSecurityGroup (same name)", "InvalidGroup.Duplicate", ec2.create_security_group,
                 GroupName=f"probe-lb-{SUFFIX}", Description="lb", VpcId=vpc["VpcId"])

    ec2.authorize_security_group_ingress(GroupId=lb_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https from anywhere"}]}])
    auth = ec2.authorize_security_group_ingress(GroupId=node_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
        "UserIdGroupPairs": [{"GroupId": lb_sg, "Description": "from the lb"}]}])
    report("OK" if auth.get("SecurityGroupRules") else "QUIRK", "EC2.AuthorizeSecurityGroupIngress",
           f"response SecurityGroupRules: {len(auth.get('SecurityGroupRules', []))}")
    expect_error("EC2.AuthorizeSecurityGroupIngress (duplicate)", "InvalidPermission.Duplicate",
                 ec2.authorize_security_group_ingress, GroupId=lb_sg, IpPermissions=[{
                     "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    lb_perm = ec2.describe_security_groups(GroupIds=[lb_sg])["SecurityGroups"][0]["IpPermissions"]
    report("OK" if lb_perm and lb_perm[0]["IpRanges"][0].get("Description") == "https from anywhere" else "QUIRK",
           "EC2.DescribeSecurityGroups IpRanges Description", f"{lb_perm}")
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [node_sg]}])["SecurityGroupRules"]
    ingress = [r for r in rules if not r["IsEgress"]]
    egress_rules = [r for r in rules if r["IsEgress"]]
    ref = ingress[0].get("ReferencedGroupInfo") if ingress else None
    report("OK" if ref and ref.get("GroupId") == lb_sg and ingress[0].get("Description") == "from the lb" else "QUIRK",
           "EC2.DescribeSecurityGroupRules(group-id)",
           f"{len(ingress)} ingress + {len(egress_rules)} egress; ReferencedGroupInfo={ref}, "
           f"Description={ingress[0].get('Description') if ingress else None}, CidrIpv4={ingress[0].get('CidrIpv4') if ingress else None}")
    lb_rules = [r for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [lb_sg]}])
                ["SecurityGroupRules"] if not r["IsEgress"]]
    report("INFO", "EC2.DescribeSecurityGroupRules(CIDR rule)",
           f"CidrIpv4={lb_rules[0].get('CidrIpv4')}, Description={lb_rules[0].get('Description')}, "
           f"Tags={lb_rules[0].get('Tags')}, rule id {lb_rules[0]['SecurityGroupRuleId'][:4]}...")

    code = error_code(ec2.delete_security_group, GroupId=lb_sg)
    still = bool(ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [lb_sg]}])["SecurityGroups"])
    if code == "DependencyViolation" and still:
        report("OK", "EC2.DeleteSecurityGroup (referenced by another group's rule)", "error DependencyViolation")
    else:
        report("QUIRK", "EC2.DeleteSecurityGroup (referenced by another group's rule)",
               f"error {code}, group still exists: {still}; AWS answers DependencyViolation")
        if not still:  # recreate the lb group so the rest of the probe has it
            lb_sg = ec2.create_security_group(GroupName=f"probe-lb2-{SUFFIX}", Description="lb", VpcId=vpc["VpcId"],
                                              TagSpecifications=tag_spec("security-group"))["GroupId"]
            facts["lb_sg"] = lb_sg

    if ingress:
        ec2.revoke_security_group_ingress(GroupId=node_sg, SecurityGroupRuleIds=[ingress[0]["SecurityGroupRuleId"]])
        left = [r for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [node_sg]}])
                ["SecurityGroupRules"] if not r["IsEgress"]]
        report("OK" if not left else "QUIRK", "EC2.RevokeSecurityGroupIngress(SecurityGroupRuleIds)",
               f"ingress rules left: {len(left)}")
    expect_error("EC2.RevokeSecurityGroupIngress(unknown rule id)", "InvalidSecurityGroupRuleId.NotFound",
                 ec2.revoke_security_group_ingress, GroupId=node_sg, SecurityGroupRuleIds=["sgr-0123456789abcdef0"])
    # put the lb -> nodes rule back for the ASG/ELB part
    ec2.authorize_security_group_ingress(GroupId=node_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": lb_sg}]}])

    # --- IAM instance profile for the launch template
    iam = client("iam")
    profile = f"probe-lt-profile-{SUFFIX}"
    profile_arn = iam.create_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Arn"]
    facts["profile"] = profile

    # --- launch templates
    user_data = base64.b64encode(b"#!/bin/sh\necho hello > /tmp/hello\n").decode()
    lt_name = f"probe-lt-{SUFFIX}"
    data = {
        "ImageId": STABLE_AMI,
        "InstanceType": "t3.micro",
        "UserData": user_data,
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False, "Groups": [node_sg]}],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda",
                                 "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
        "IamInstanceProfile": {"Arn": profile_arn},
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "deployer:stack", "Value": "probe"}]}],
    }
    token = f"probe-{SUFFIX}"
    created = ec2.create_launch_template(LaunchTemplateName=lt_name, ClientToken=token, LaunchTemplateData=data,
                                         TagSpecifications=tag_spec("launch-template"))["LaunchTemplate"]
    lt_id = created["LaunchTemplateId"]
    facts["lt_id"] = lt_id
    report("OK" if created.get("Tags") else "QUIRK", "EC2.CreateLaunchTemplate(TagSpecifications launch-template)",
           f"Tags in response={created.get('Tags')}")
    listed = ec2.describe_launch_templates(LaunchTemplateNames=[lt_name])["LaunchTemplates"][0]
    report("OK" if listed.get("Tags") else "QUIRK", "EC2.DescribeLaunchTemplates Tags", f"{listed.get('Tags')}")
    again = error_code(ec2.create_launch_template, LaunchTemplateName=lt_name, ClientToken=token,
                       LaunchTemplateData=data, TagSpecifications=tag_spec("launch-template"))
    report("OK" if again is None else "QUIRK", "EC2.CreateLaunchTemplate (same ClientToken)",
           "idempotent" if again is None else f"error {again}; AWS returns the same template")
    expect_error("EC2.CreateLaunchTemplate (same name, new token)",
                 "InvalidLaunchTemplateName.AlreadyExistsException", ec2.create_launch_template,
                 LaunchTemplateName=lt_name, LaunchTemplateData=data)
    version = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Versions=["1"])["LaunchTemplateVersions"][0]
    back = version["LaunchTemplateData"]
    compare("EC2.DescribeLaunchTemplateVersions", {k: data[k] for k in data}, back, "v1 LaunchTemplateData: ")

    data2 = dict(data)
    data2.pop("NetworkInterfaces")
    data2["SecurityGroupIds"] = [node_sg]
    data2["IamInstanceProfile"] = {"Name": profile}
    data2["InstanceType"] = "t3.small"
    v2 = ec2.create_launch_template_version(LaunchTemplateId=lt_id, SourceVersion="1", LaunchTemplateData=data2,
                                           ClientToken=f"{token}-v2")["LaunchTemplateVersion"]
    report("OK", "EC2.CreateLaunchTemplateVersion", f"VersionNumber {v2['VersionNumber']}")
    back2 = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Versions=["2"])["LaunchTemplateVersions"][0]
    compare("EC2.DescribeLaunchTemplateVersions", {k: data2[k] for k in ("SecurityGroupIds", "IamInstanceProfile", "InstanceType")},
            back2["LaunchTemplateData"], "v2 (SourceVersion 1, SecurityGroupIds + profile Name): ")
    if "NetworkInterfaces" in back2["LaunchTemplateData"]:
        report("INFO", "EC2.CreateLaunchTemplateVersion(SourceVersion)", "v2 inherited v1's NetworkInterfaces (as AWS does)")
    ec2.modify_launch_template(LaunchTemplateId=lt_id, DefaultVersion="2")
    lt = ec2.describe_launch_templates(LaunchTemplateIds=[lt_id])["LaunchTemplates"][0]
    report("OK" if (lt["DefaultVersionNumber"], lt["LatestVersionNumber"]) == (2, 2) else "QUIRK",
           "EC2.ModifyLaunchTemplate(DefaultVersion)",
           f"Default {lt['DefaultVersionNumber']}, Latest {lt['LatestVersionNumber']}")
    all_versions = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id)["LaunchTemplateVersions"]
    report("INFO", "EC2.DescribeLaunchTemplateVersions(all)",
           f"versions {[v['VersionNumber'] for v in all_versions]}, DefaultVersion flags {[v['DefaultVersion'] for v in all_versions]}")

    # --- RunInstances idempotency
    run = dict(ImageId=STABLE_AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro", ClientToken=f"run-{SUFFIX}",
               SubnetId=facts["subnets"][0][0],
               TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "deployer:stack", "Value": f"probe-{SUFFIX}"}]}])
    first = ec2.run_instances(**run)["Instances"][0]["InstanceId"]
    second = ec2.run_instances(**run)["Instances"][0]["InstanceId"]
    if first == second:
        report("OK", "EC2.RunInstances(ClientToken)", "repeat returns the same instance")
    else:
        report("QUIRK", "EC2.RunInstances(ClientToken)", "ignored: a repeat with the same token launches a second instance")
    state = ec2.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0]["State"]["Name"]
    report("INFO", "EC2.RunInstances state", f"instance is '{state}' immediately")
    ec2.terminate_instances(InstanceIds=list({first, second}))

    lt_run = ec2.run_instances(LaunchTemplate={"LaunchTemplateId": lt_id, "Version": "1"}, MinCount=1, MaxCount=1,
                               SubnetId=facts["subnets"][0][0])["Instances"][0]
    inst = ec2.describe_instances(InstanceIds=[lt_run["InstanceId"]])["Reservations"][0]["Instances"][0]
    got = {
        "ImageId": inst.get("ImageId"),
        "MetadataOptions.HttpTokens": inst.get("MetadataOptions", {}).get("HttpTokens"),
        "SecurityGroups": [g["GroupId"] for g in inst.get("SecurityGroups", [])],
        "IamInstanceProfile": inst.get("IamInstanceProfile", {}).get("Arn"),
        "Tags": inst.get("Tags"),
        "PublicIpAddress": inst.get("PublicIpAddress"),
    }
    report("INFO", "EC2.RunInstances(LaunchTemplate v1)", f"instance got {got}")
    ec2.terminate_instances(InstanceIds=[lt_run["InstanceId"]])
    return facts


def probe_ec2_bake(facts):
    """What deployer's bake does: a builder instance, powered off, imaged with tags on the image and its
    snapshots, then the image deregistered and its snapshots deleted, the builder terminated."""
    ec2 = client("ec2")
    tags = [{"Key": "deployer:stack", "Value": f"probe-bake-{SUFFIX}"}]
    tag_filter = [{"Name": "tag:deployer:stack", "Values": [f"probe-bake-{SUFFIX}"]}]
    root = ec2.describe_images(ImageIds=[STABLE_AMI])["Images"][0]["RootDeviceName"]
    run = dict(
        ImageId=STABLE_AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=facts["subnets"][0][0],
        SecurityGroupIds=[facts["node_sg"]], ClientToken=f"bake-{SUFFIX}",
        UserData=base64.b64encode(b"#!/bin/sh\npoweroff\n").decode(),
        InstanceInitiatedShutdownBehavior="stop",
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        BlockDeviceMappings=[{"DeviceName": root, "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "Encrypted": True,
                                                          "DeleteOnTermination": True}}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}],
    )
    launched = ec2.run_instances(**run)["Instances"][0]
    builder = launched["InstanceId"]
    inst = ec2.describe_instances(InstanceIds=[builder])["Reservations"][0]["Instances"][0]
    tokens = inst.get("MetadataOptions", {}).get("HttpTokens")
    report("OK" if tokens == "required" else "QUIRK", "EC2.RunInstances(MetadataOptions HttpTokens=required)",
           f"instance HttpTokens={tokens}")
    behaviour = ec2.describe_instance_attribute(InstanceId=builder, Attribute="instanceInitiatedShutdownBehavior")
    behaviour = behaviour.get("InstanceInitiatedShutdownBehavior", {}).get("Value")
    report("OK" if behaviour == "stop" else "QUIRK", "EC2.RunInstances(InstanceInitiatedShutdownBehavior=stop)",
           f"DescribeInstanceAttribute -> {behaviour}; user data is never run, so the instance never powers itself "
           "off: stop it with StopInstances")
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [builder]}])["Volumes"]
    got = [(v["Attachments"][0]["Device"], v["Size"], v.get("VolumeType"), v.get("Encrypted"), v.get("Tags"))
           for v in volumes]
    report("OK" if got == [(root, 20, "gp3", True, tags)] else "QUIRK",
           "EC2.RunInstances(BlockDeviceMappings Encrypted, TagSpecifications volume)",
           f"run state {launched['State']['Name']}, described {inst['State']['Name']}; volumes {got}")

    plain = client("ec2")  # botocore base64-decodes GetConsoleOutput itself: look at what came over the wire
    plain.meta.events.unregister("after-call.ec2.GetConsoleOutput", handlers.decode_console_output)
    raw = plain.get_console_output(InstanceId=builder, Latest=True).get("Output") or ""
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8", "replace")
        report("OK", "EC2.GetConsoleOutput", f"Output is base64 (as AWS), {len(text)} characters decoded: "
               f"{text.splitlines()[0][:40] if text else ''!r}...")
    except ValueError:
        report("QUIRK", "EC2.GetConsoleOutput", f"Output is not base64 (AWS sends base64): {raw[:40]!r}")

    stopping = ec2.stop_instances(InstanceIds=[builder])["StoppingInstances"][0]
    state = ec2.describe_instances(InstanceIds=[builder])["Reservations"][0]["Instances"][0]["State"]["Name"]
    report("INFO", "EC2.StopInstances", f"response {stopping['PreviousState']['Name']} -> "
           f"{stopping['CurrentState']['Name']}; described '{state}' at once")

    name = f"probe-image-{SUFFIX}"
    image = ec2.create_image(InstanceId=builder, Name=name, Description="probe",
                             TagSpecifications=[{"ResourceType": "image", "Tags": tags},
                                                {"ResourceType": "snapshot", "Tags": tags}])["ImageId"]
    described = ec2.describe_images(ImageIds=[image])["Images"][0]
    snapshots = [m["Ebs"]["SnapshotId"] for m in described["BlockDeviceMappings"] if m.get("Ebs", {}).get("SnapshotId")]
    by_tag = [i["ImageId"] for i in ec2.describe_images(Owners=["self"], Filters=tag_filter)["Images"]]
    snaps_by_tag = sorted(s["SnapshotId"] for s in
                          ec2.describe_snapshots(OwnerIds=["self"], Filters=tag_filter)["Snapshots"])
    report("OK" if by_tag == [image] and snapshots and snaps_by_tag == sorted(snapshots) else "QUIRK",
           "EC2.CreateImage(TagSpecifications image + snapshot)",
           f"DescribeImages(Owners=self, tag filter) {by_tag == [image]}, DescribeSnapshots(OwnerIds=self, tag filter) "
           f"finds its snapshots {snaps_by_tag == sorted(snapshots)}; image state '{described['State']}' at once")
    snapshot = ec2.describe_snapshots(SnapshotIds=snapshots[:1])["Snapshots"][0] if snapshots else {}
    report("QUIRK" if described.get("RootDeviceName") != root or snapshot.get("VolumeSize") != 20 else "OK",
           "EC2.CreateImage image shape",
           f"RootDeviceName {described.get('RootDeviceName')} (builder {root}), {len(snapshots)} snapshot(s): "
           f"{snapshot.get('VolumeSize')} GiB, Encrypted {snapshot.get('Encrypted')}, mapping "
           f"{described['BlockDeviceMappings'][0].get('Ebs', {}).get('VolumeType')} (the builder's volume was 20 GiB gp3 "
           "encrypted; AWS snapshots each of the instance's volumes)")
    expect_error("EC2.CreateImage (same name)", "InvalidAMIName.Duplicate", ec2.create_image,
                 InstanceId=builder, Name=name)
    snapshot_spec = [{"ResourceType": "snapshot", "Tags": tags}]
    expect_error("EC2.CreateImage (unknown instance, snapshot tags)", "InvalidInstanceID.NotFound", ec2.create_image,
                 InstanceId="i-0123456789abcdef0", Name=f"{name}-x", TagSpecifications=snapshot_spec)
    expect_error("EC2.CreateImage (TagSpecifications volume + snapshot)", "InvalidParameterValue", ec2.create_image,
                 InstanceId=builder, Name=f"{name}-y", TagSpecifications=snapshot_spec + [
                     {"ResourceType": "volume", "Tags": tags}])
    expect_error("EC2.CreateImage (DryRun, snapshot tags)", "DryRunOperation", ec2.create_image,
                 InstanceId=builder, Name=f"{name}-z", DryRun=True, TagSpecifications=snapshot_spec)
    all_mine = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    foreign = [s for s in all_mine if s.get("OwnerId") != facts["account"]]
    report("OK" if not foreign else "QUIRK", "EC2.DescribeSnapshots(OwnerIds=self, no filter)",
           f"{len(all_mine)} snapshots, {len(foreign)} of other owners" +
           ("; OwnerIds is ignored (the snapshots of moto's bundled AMIs are listed): always add a tag filter"
            if foreign else ""))

    expect_error("EC2.DeleteSnapshot (image still registered)", "InvalidSnapshot.InUse", ec2.delete_snapshot,
                 SnapshotId=snapshots[0])
    ec2.deregister_image(ImageId=image)
    after = ec2.describe_images(ImageIds=[image])["Images"]
    report("INFO", "EC2.DeregisterImage", "then DescribeImages(ImageIds) -> "
           + (f"state {after[0]['State']}" if after else "[] (gone at once)"))
    for snap in snapshots:
        ec2.delete_snapshot(SnapshotId=snap)
    code = error_code(ec2.describe_snapshots, SnapshotIds=snapshots)
    report("OK" if code == "InvalidSnapshot.NotFound" else "QUIRK", "EC2.DeleteSnapshot (after DeregisterImage)",
           f"then DescribeSnapshots -> {code or 'still described'}")
    expect_error("EC2.DeregisterImage (again)", "InvalidAMIID.Unavailable", ec2.deregister_image, ImageId=image)
    again = ec2.create_image(InstanceId=builder, Name=name)["ImageId"]
    report("OK", "EC2.CreateImage (name of a deregistered image)", "accepted")
    mappings = ec2.describe_images(ImageIds=[again])["Images"][0]["BlockDeviceMappings"]
    ec2.deregister_image(ImageId=again)
    for snap in [m["Ebs"]["SnapshotId"] for m in mappings if m.get("Ebs", {}).get("SnapshotId")]:
        ec2.delete_snapshot(SnapshotId=snap)

    terminating = ec2.terminate_instances(InstanceIds=[builder])["TerminatingInstances"][0]
    listed = [i["State"]["Name"] for r in ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [builder]}])
              ["Reservations"] for i in r["Instances"]]
    left = ec2.describe_volumes(Filters=tag_filter)["Volumes"]
    report("INFO", "EC2.TerminateInstances", f"response {terminating['PreviousState']['Name']} -> "
           f"{terminating['CurrentState']['Name']}; DescribeInstances then lists it as {listed} (moto keeps terminated "
           f"instances until the emulator stops; AWS about an hour); DeleteOnTermination volume gone: {not left}")


def cleanup_ec2(facts):
    if not facts:
        return
    ec2 = client("ec2")
    if facts.get("lt_id"):
        name = ec2.describe_launch_templates(LaunchTemplateIds=[facts["lt_id"]])["LaunchTemplates"][0]["LaunchTemplateName"]
        ec2.delete_launch_template(LaunchTemplateId=facts["lt_id"])
        by_name = error_code(ec2.describe_launch_templates, LaunchTemplateNames=[name])
        by_id = error_code(ec2.describe_launch_templates, LaunchTemplateIds=[facts["lt_id"]])
        by_id = by_id or f"no error, {len(ec2.describe_launch_templates(LaunchTemplateIds=[facts['lt_id']])['LaunchTemplates'])} templates"
        report("OK" if by_name and by_id.startswith("Invalid") else "QUIRK", "EC2.DeleteLaunchTemplate",
               f"then DescribeLaunchTemplates by name -> {by_name}, by id -> {by_id} "
               "(AWS: InvalidLaunchTemplateName.NotFoundException / InvalidLaunchTemplateId.NotFound)")
    for key in ("node_sg", "lb_sg"):
        if facts.get(key):
            if key == "node_sg":
                perms = ec2.describe_security_groups(GroupIds=[facts[key]])["SecurityGroups"][0]["IpPermissions"]
                if perms:
                    ec2.revoke_security_group_ingress(GroupId=facts[key], IpPermissions=perms)
            code = error_code(ec2.delete_security_group, GroupId=facts[key])
            if code:
                report("FAIL", "EC2.DeleteSecurityGroup (cleanup)", f"{facts[key]}: {code}")
    if facts.get("profile"):
        client("iam").delete_instance_profile(InstanceProfileName=facts["profile"])


# ---------------------------------------------------------------- RDS


def probe_rds(facts):
    rds, sm = client("rds"), client("secretsmanager")
    group = f"probe-db-subnets-{SUFFIX}"
    tags = [{"Key": "deployer:stack", "Value": "probe"}, {"Key": "deployer:component", "Value": "db"}]
    subnet_ids = [s for s, _ in facts["subnets"][:2]]
    sg = rds.create_db_subnet_group(DBSubnetGroupName=group, DBSubnetGroupDescription="probe",
                                    SubnetIds=subnet_ids, Tags=tags)["DBSubnetGroup"]
    sg_tags = rds.list_tags_for_resource(ResourceName=sg["DBSubnetGroupArn"])["TagList"]
    report("OK" if sg_tags == tags else "QUIRK", "RDS.CreateDBSubnetGroup(Tags)",
           f"ListTagsForResource={sg_tags}, VpcId {sg.get('VpcId')}, status {sg.get('SubnetGroupStatus')}")
    expect_error("RDS.CreateDBSubnetGroup (again)", "DBSubnetGroupAlreadyExists", rds.create_db_subnet_group,
                 DBSubnetGroupName=group, DBSubnetGroupDescription="probe", SubnetIds=subnet_ids)

    db = f"probe-db-{SUFFIX}"
    params = dict(
        DBInstanceIdentifier=db, Engine="postgres", EngineVersion="16.3", DBInstanceClass="db.m4.large",
        AllocatedStorage=250, StorageType="gp2", StorageEncrypted=True, MultiAZ=True, Port=5432,
        PubliclyAccessible=False, DeletionProtection=True, BackupRetentionPeriod=7, AutoMinorVersionUpgrade=True,
        ManageMasterUserPassword=True, MasterUsername="deployer", DBName="app",
        VpcSecurityGroupIds=[facts["node_sg"]], DBSubnetGroupName=group, Tags=tags, CopyTagsToSnapshot=True,
    )
    created = rds.create_db_instance(**params)["DBInstance"]
    report("INFO", "RDS.CreateDBInstance", f"status in response '{created['DBInstanceStatus']}'")
    expect_error("RDS.CreateDBInstance (again)", "DBInstanceAlreadyExists", rds.create_db_instance, **params)
    inst = rds.describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]
    report("OK" if inst["DBInstanceStatus"] == "available" else "INFO", "RDS.DescribeDBInstances status",
           f"'{inst['DBInstanceStatus']}' immediately")
    flat = dict(inst)
    flat["VpcSecurityGroupIds"] = [g["VpcSecurityGroupId"] for g in inst.get("VpcSecurityGroups", [])]
    flat["DBSubnetGroupName"] = inst.get("DBSubnetGroup", {}).get("DBSubnetGroupName")
    flat["MasterUsername"] = inst.get("MasterUsername")
    flat["Tags"] = inst.get("TagList")
    flat["Port"] = inst.get("Endpoint", {}).get("Port")
    flat["ManageMasterUserPassword"] = bool(inst.get("MasterUserSecret"))
    sent = {k: v for k, v in params.items() if k != "DBInstanceIdentifier"}
    compare("RDS.DescribeDBInstances", sent, flat)
    report("INFO", "RDS.DescribeDBInstances Endpoint",
           f"{inst.get('Endpoint')}, DbInstancePort={inst.get('DbInstancePort')}, AZ {inst.get('AvailabilityZone')}, "
           f"SecondaryAZ {inst.get('SecondaryAvailabilityZone')}, KmsKeyId {inst.get('KmsKeyId')}")
    secret = inst.get("MasterUserSecret")
    if not secret:
        report("QUIRK", "RDS MasterUserSecret", "absent with ManageMasterUserPassword=true")
    else:
        code = error_code(sm.describe_secret, SecretId=secret["SecretArn"])
        value = None if code else sm.get_secret_value(SecretId=secret["SecretArn"])["SecretString"]
        report("OK" if not code and value and '"password"' in value else "QUIRK", "RDS MasterUserSecret",
               f"SecretArn {secret['SecretArn'].split(':secret:')[-1]}, status {secret.get('SecretStatus')}, "
               f"in Secrets Manager: {'no (' + code + ')' if code else 'yes'}"
               + (f", value keys {sorted(__import__('json').loads(value))}" if value else ""))
    arn = inst["DBInstanceArn"]
    listed = rds.list_tags_for_resource(ResourceName=arn)["TagList"]
    report("OK" if listed == tags else "QUIRK", "RDS.ListTagsForResource(db)", f"{listed}")

    mod = rds.modify_db_instance(DBInstanceIdentifier=db, DBInstanceClass="db.m5.large", BackupRetentionPeriod=14,
                                 DeletionProtection=False, ApplyImmediately=True)["DBInstance"]
    now = rds.describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]
    changed = {"DBInstanceClass": "db.m5.large", "BackupRetentionPeriod": 14, "DeletionProtection": False}
    wrong = [f"{k}={now.get(k)!r}" for k, v in changed.items() if now.get(k) != v]
    report("OK" if not wrong else "QUIRK", "RDS.ModifyDBInstance(ApplyImmediately)",
           "reflected at once" if not wrong else "not reflected: " + ", ".join(wrong))
    report("INFO", "RDS.ModifyDBInstance response", f"status '{mod['DBInstanceStatus']}', PendingModifiedValues {mod.get('PendingModifiedValues')}")
    rds.modify_db_instance(DBInstanceIdentifier=db, DBInstanceClass="db.m5.xlarge", ApplyImmediately=False)
    later = rds.describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]
    report("OK" if later["DBInstanceClass"] == "db.m5.large" and later.get("PendingModifiedValues", {}).get("DBInstanceClass") == "db.m5.xlarge" else "QUIRK",
           "RDS.ModifyDBInstance(ApplyImmediately=false)",
           f"DBInstanceClass now {later['DBInstanceClass']}, PendingModifiedValues {later.get('PendingModifiedValues')} "
           "(AWS keeps the class and lists it as pending until the maintenance window)")
    rds.modify_db_instance(DBInstanceIdentifier=db, DeletionProtection=True, ApplyImmediately=True)
    expect_error("RDS.DeleteDBInstance (DeletionProtection on)", "InvalidParameterCombination", rds.delete_db_instance,
                 DBInstanceIdentifier=db, SkipFinalSnapshot=True)
    rds.modify_db_instance(DBInstanceIdentifier=db, DeletionProtection=False, ApplyImmediately=True)
    expect_error("RDS.DeleteDBSubnetGroup (in use)", "InvalidDBSubnetGroupStateFault", rds.delete_db_subnet_group,
                 DBSubnetGroupName=group)
    expect_error("RDS.DeleteDBInstance (no final snapshot decision)", "InvalidParameterCombination",
                 rds.delete_db_instance, DBInstanceIdentifier=db)
    if error_code(rds.describe_db_instances, DBInstanceIdentifier=db):  # it was deleted: make it again
        rds.create_db_instance(**dict(params, DeletionProtection=False))
    expect_error("RDS.CreateDBInstance (unknown DBSubnetGroupName)", "DBSubnetGroupNotFoundFault",
                 rds.create_db_instance, **dict(params, DBInstanceIdentifier=f"probe-dbx-{SUFFIX}",
                                                DBSubnetGroupName=f"nope-{SUFFIX}"))
    snap = f"probe-final-{SUFFIX}"
    deleted = rds.delete_db_instance(DBInstanceIdentifier=db, FinalDBSnapshotIdentifier=snap)["DBInstance"]
    code = error_code(rds.describe_db_instances, DBInstanceIdentifier=db)
    report("INFO", "RDS.DeleteDBInstance(FinalDBSnapshotIdentifier)",
           f"response status '{deleted['DBInstanceStatus']}', then DescribeDBInstances -> {code or 'still there'}")
    snaps = rds.describe_db_snapshots(DBSnapshotIdentifier=snap)["DBSnapshots"] if not error_code(
        rds.describe_db_snapshots, DBSnapshotIdentifier=snap) else []
    if snaps:
        stags = rds.list_tags_for_resource(ResourceName=snaps[0]["DBSnapshotArn"])["TagList"]
        report("OK" if snaps[0].get("TagList") == tags or stags == tags else "QUIRK", "RDS final snapshot",
               f"in DescribeDBSnapshots, type {snaps[0].get('SnapshotType')}, status {snaps[0].get('Status')}, "
               f"TagList {snaps[0].get('TagList')}, ListTagsForResource {stags}, Encrypted {snaps[0].get('Encrypted')}")
        rds.delete_db_snapshot(DBSnapshotIdentifier=snap)
    else:
        report("QUIRK", "RDS final snapshot", "not in DescribeDBSnapshots")

    db2 = f"probe-db2-{SUFFIX}"
    rds.create_db_instance(DBInstanceIdentifier=db2, Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="deployer", MasterUserPassword="password123",
                           DBSubnetGroupName=group)
    rds.delete_db_instance(DBInstanceIdentifier=db2, SkipFinalSnapshot=True)
    code = error_code(rds.describe_db_instances, DBInstanceIdentifier=db2)
    report("OK" if code == "DBInstanceNotFound" else "QUIRK", "RDS.DeleteDBInstance(SkipFinalSnapshot)",
           f"then DescribeDBInstances -> {code or 'still there'}")
    expect_error("RDS.DescribeDBInstances (unknown)", "DBInstanceNotFound", rds.describe_db_instances,
                 DBInstanceIdentifier=f"nope-{SUFFIX}")
    if secret:
        code = error_code(sm.describe_secret, SecretId=secret["SecretArn"])
        report("OK" if code == "ResourceNotFoundException" else "INFO", "RDS managed secret after DeleteDBInstance",
               f"DescribeSecret -> {code or 'still there'} (AWS deletes it with the instance)")
    rds.delete_db_subnet_group(DBSubnetGroupName=group)
    expect_error("RDS.DeleteDBSubnetGroup, then DescribeDBSubnetGroups", "DBSubnetGroupNotFoundFault",
                 rds.describe_db_subnet_groups, DBSubnetGroupName=group)


# ---------------------------------------------------------------- ElastiCache


def probe_elasticache(facts):
    ec = client("elasticache")
    group = f"probe-cache-subnets-{SUFFIX}"
    tags = [{"Key": "deployer:stack", "Value": "probe"}, {"Key": "deployer:component", "Value": "cache"}]
    subnet_ids = [s for s, _ in facts["subnets"][:2]]
    csg = ec.create_cache_subnet_group(CacheSubnetGroupName=group, CacheSubnetGroupDescription="probe",
                                       SubnetIds=subnet_ids, Tags=tags)["CacheSubnetGroup"]
    listed = ec.list_tags_for_resource(ResourceName=csg["ARN"])["TagList"]
    report("OK" if listed == tags else "QUIRK", "ElastiCache.CreateCacheSubnetGroup(Tags)",
           f"ListTagsForResource={listed}, VpcId {csg.get('VpcId')}, Subnets[].SubnetAvailabilityZone {[s.get('SubnetAvailabilityZone') for s in csg.get('Subnets', [])]}")
    expect_error("ElastiCache.CreateCacheSubnetGroup (again)", "CacheSubnetGroupAlreadyExists",
                 ec.create_cache_subnet_group, CacheSubnetGroupName=group, CacheSubnetGroupDescription="probe",
                 SubnetIds=subnet_ids)

    rg = f"probe-cache-{SUFFIX}"
    params = dict(
        ReplicationGroupId=rg, ReplicationGroupDescription="probe cache", Engine="redis", EngineVersion="7.1",
        CacheNodeType="cache.m3.medium", NumCacheClusters=2, AutomaticFailoverEnabled=True, MultiAZEnabled=True,
        Port=6379, CacheSubnetGroupName=group, SecurityGroupIds=[facts["node_sg"]], AtRestEncryptionEnabled=True,
        TransitEncryptionEnabled=True, AuthToken="a-long-auth-token-0123456789", Tags=tags,
    )
    created = ec.create_replication_group(**params)["ReplicationGroup"]
    report("INFO", "ElastiCache.CreateReplicationGroup", f"status in response '{created['Status']}'")
    expect_error("ElastiCache.CreateReplicationGroup (unknown CacheSubnetGroupName)", "CacheSubnetGroupNotFoundFault",
                 ec.create_replication_group, **dict(params, ReplicationGroupId=f"probe-cx-{SUFFIX}",
                                                     CacheSubnetGroupName=f"nope-{SUFFIX}"))
    expect_error("ElastiCache.CreateReplicationGroup (again)", "ReplicationGroupAlreadyExists",
                 ec.create_replication_group, **params)
    got = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    node_group = got["NodeGroups"][0]
    report("INFO", "ElastiCache.DescribeReplicationGroups",
           f"status '{got['Status']}', PrimaryEndpoint {node_group.get('PrimaryEndpoint')}, "
           f"ReaderEndpoint {node_group.get('ReaderEndpoint')}, MemberClusters {got.get('MemberClusters')}")
    compare("ElastiCache.DescribeReplicationGroups",
            {"Description": "probe cache", "CacheNodeType": "cache.m3.medium", "AutomaticFailover": "enabled",
             "MultiAZ": "enabled", "AtRestEncryptionEnabled": True, "TransitEncryptionEnabled": True,
             "AuthTokenEnabled": True, "Engine": "redis", "ClusterEnabled": False},
            got)
    members = got.get("MemberClusters", [])
    report("OK" if len(members) == 2 and len(node_group.get("NodeGroupMembers", [])) == 2 else "QUIRK",
           "ElastiCache NumCacheClusters=2", f"MemberClusters {members}, NodeGroupMembers "
           f"{[(m.get('CacheClusterId'), m.get('CurrentRole'), m.get('PreferredAvailabilityZone')) for m in node_group.get('NodeGroupMembers', [])]}")
    if members:
        code = error_code(ec.describe_cache_clusters, CacheClusterId=members[0])
        if code:
            report("QUIRK", "ElastiCache.DescribeCacheClusters(member)", f"error {code}: member clusters are not real")
        else:
            cluster = ec.describe_cache_clusters(CacheClusterId=members[0])["CacheClusters"][0]
            compare("ElastiCache.DescribeCacheClusters(member)",
                    {"EngineVersion": "7.1", "CacheSubnetGroupName": group, "CacheNodeType": "cache.m3.medium",
                     "ReplicationGroupId": rg, "SecurityGroups": [{"SecurityGroupId": facts["node_sg"], "Status": "active"}],
                     "CacheClusterStatus": "available"}, cluster)
    listed = ec.list_tags_for_resource(ResourceName=got["ARN"])["TagList"]
    report("OK" if listed == tags else "QUIRK", "ElastiCache.ListTagsForResource(replication group)", f"{listed}")

    code = error_code(ec.modify_replication_group, ReplicationGroupId=rg, CacheNodeType="cache.m5.large",
                      AutomaticFailoverEnabled=False, MultiAZEnabled=False, SecurityGroupIds=[facts["lb_sg"]],
                      ApplyImmediately=True)
    if code:
        report("MISSING", "ElastiCache.ModifyReplicationGroup", f"error {code}")
    else:
        now = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
        wrong = compare("ElastiCache.ModifyReplicationGroup(ApplyImmediately)",
                        {"CacheNodeType": "cache.m5.large", "AutomaticFailover": "disabled", "MultiAZ": "disabled"},
                        now, "then DescribeReplicationGroups: ")
        if members and not error_code(ec.describe_cache_clusters, CacheClusterId=members[0]):
            cluster = ec.describe_cache_clusters(CacheClusterId=members[0])["CacheClusters"][0]
            sgs = [g["SecurityGroupId"] for g in cluster.get("SecurityGroups", [])]
            report("OK" if sgs == [facts["lb_sg"]] else "QUIRK", "ElastiCache.ModifyReplicationGroup(SecurityGroupIds)",
                   f"member cluster SecurityGroups {sgs}")
        ec.modify_replication_group(ReplicationGroupId=rg, CacheNodeType="cache.m5.xlarge", ApplyImmediately=False)
        later = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
        report("INFO", "ElastiCache.ModifyReplicationGroup(ApplyImmediately=false)",
               f"CacheNodeType now {later['CacheNodeType']} (applied at once; AWS waits for the maintenance window)")
        expect_error("ElastiCache.ModifyReplicationGroup (unknown)", "ReplicationGroupNotFoundFault",
                     ec.modify_replication_group, ReplicationGroupId=f"nope-{SUFFIX}", ApplyImmediately=True,
                     CacheNodeType="cache.m5.large")
        expect_error("ElastiCache.ModifyReplicationGroup (MultiAZ without failover)", "InvalidParameterCombination",
                     ec.modify_replication_group, ReplicationGroupId=rg, MultiAZEnabled=True,
                     AutomaticFailoverEnabled=False, ApplyImmediately=True)

    expect_error("ElastiCache.DeleteCacheSubnetGroup (in use)", "CacheSubnetGroupInUse",
                 ec.delete_cache_subnet_group, CacheSubnetGroupName=group)
    deleted = ec.delete_replication_group(ReplicationGroupId=rg)["ReplicationGroup"]
    code = error_code(ec.describe_replication_groups, ReplicationGroupId=rg)
    report("OK" if code == "ReplicationGroupNotFoundFault" else "QUIRK", "ElastiCache.DeleteReplicationGroup",
           f"response status '{deleted['Status']}', then DescribeReplicationGroups -> {code or 'still there: ' + ec.describe_replication_groups(ReplicationGroupId=rg)['ReplicationGroups'][0]['Status']}")
    expect_error("ElastiCache.DescribeReplicationGroups (unknown)", "ReplicationGroupNotFoundFault",
                 ec.describe_replication_groups, ReplicationGroupId=f"nope-{SUFFIX}")
    code = error_code(ec.delete_cache_subnet_group, CacheSubnetGroupName=group)
    if code:
        report("MISSING" if "NotImplemented" in code or code == "InvalidAction" else "QUIRK",
               "ElastiCache.DeleteCacheSubnetGroup", f"error {code}")
    else:
        expect_error("ElastiCache.DeleteCacheSubnetGroup, then DescribeCacheSubnetGroups", "CacheSubnetGroupNotFoundFault",
                     ec.describe_cache_subnet_groups, CacheSubnetGroupName=group)
    expect_error("ElastiCache.DeleteCacheSubnetGroup (unknown)", "CacheSubnetGroupNotFoundFault",
                 ec.delete_cache_subnet_group, CacheSubnetGroupName=f"nope-{SUFFIX}")


# ---------------------------------------------------------------- ELB + Auto Scaling


def probe_elb_and_autoscaling(facts, cert_arn):
    elb, asg_api, ec2 = client("elb"), client("autoscaling"), client("ec2")
    name = f"probe-lb-{SUFFIX}"[:32]
    subnets = [facts["subnets"][0][0], facts["subnets"][1][0]]
    tags = [{"Key": "deployer:stack", "Value": "probe"}, {"Key": "deployer:component", "Value": "lb"}]
    listeners = [
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 8080},
        {"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstanceProtocol": "HTTP", "InstancePort": 8080,
         "SSLCertificateId": cert_arn},
    ]
    created = elb.create_load_balancer(LoadBalancerName=name, Listeners=listeners, Subnets=subnets,
                                       SecurityGroups=[facts["lb_sg"]], Scheme="internet-facing", Tags=tags)
    report("INFO", "ELB.CreateLoadBalancer", f"DNSName {created['DNSName']}")
    code = error_code(elb.create_load_balancer, LoadBalancerName=name, Listeners=listeners, Subnets=subnets,
                      SecurityGroups=[facts["lb_sg"]], Scheme="internet-facing", Tags=tags)
    report("INFO", "ELB.CreateLoadBalancer (same name, same config)",
           "succeeds (idempotent)" if code is None else f"error {code} (whether real Classic ELB treats an identical "
           "repeat as idempotent is not documented: describe before creating)")
    code = error_code(elb.create_load_balancer, LoadBalancerName=name, Listeners=listeners[:1], Subnets=subnets,
                      Scheme="internet-facing")
    report("OK" if code == "DuplicateLoadBalancerName" else "QUIRK", "ELB.CreateLoadBalancer (same name, other config)",
           f"{'error ' + code if code else 'succeeds'}; AWS answers DuplicateLoadBalancerName")
    bogus = cert_arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    code = error_code(elb.create_load_balancer, LoadBalancerName=f"probe-lbx-{SUFFIX}", Subnets=subnets,
                      Listeners=[dict(listeners[1], SSLCertificateId=bogus)])
    report("OK" if code == "CertificateNotFound" else "INFO", "ELB HTTPS listener with unknown certificate ARN",
           f"{'error ' + code if code else 'accepted (no check)'}; AWS answers CertificateNotFound")
    if code is None:
        elb.delete_load_balancer(LoadBalancerName=f"probe-lbx-{SUFFIX}")

    lb = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    back = [l["Listener"] for l in lb["ListenerDescriptions"]]
    back_https = next((l for l in back if l["LoadBalancerPort"] == 443), {})
    report("OK" if back_https.get("InstanceProtocol") == "HTTP" else "QUIRK", "ELB.DescribeLoadBalancers listeners",
           f"HTTPS listener InstanceProtocol={back_https.get('InstanceProtocol')} (sent HTTP); "
           f"SSLCertificateId back: {back_https.get('SSLCertificateId') == cert_arn}; PolicyNames "
           f"{[l.get('PolicyNames') for l in lb['ListenerDescriptions']]}")
    compare("ELB.DescribeLoadBalancers",
            {"Scheme": "internet-facing", "SecurityGroups": [facts["lb_sg"]], "Subnets": sorted(subnets),
             "VPCId": facts["vpc"], "AvailabilityZones": sorted([facts["subnets"][0][1], facts["subnets"][1][1]])},
            dict(lb, Subnets=sorted(lb.get("Subnets", [])), AvailabilityZones=sorted(lb.get("AvailabilityZones", []))))
    report("INFO", "ELB.DescribeLoadBalancers", f"DNSName {lb.get('DNSName')}, HealthCheck {lb.get('HealthCheck')}, "
           f"CanonicalHostedZoneNameID {lb.get('CanonicalHostedZoneNameID')}, SourceSecurityGroup {lb.get('SourceSecurityGroup')}")
    described_tags = elb.describe_tags(LoadBalancerNames=[name])["TagDescriptions"][0]["Tags"]
    report("OK" if sorted(described_tags, key=str) == sorted(tags, key=str) else "QUIRK", "ELB.DescribeTags", f"{described_tags}")

    hc = {"Target": "HTTP:8080/health", "Interval": 10, "Timeout": 5, "UnhealthyThreshold": 3, "HealthyThreshold": 2}
    elb.configure_health_check(LoadBalancerName=name, HealthCheck=hc)
    got_hc = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]["HealthCheck"]
    report("OK" if got_hc == hc else "QUIRK", "ELB.ConfigureHealthCheck", f"described back {got_hc}")

    attributes = {
        "CrossZoneLoadBalancing": {"Enabled": True},
        "ConnectionDraining": {"Enabled": True, "Timeout": 120},
        "ConnectionSettings": {"IdleTimeout": 90},
        "AdditionalAttributes": [{"Key": "elb.http.desyncmitigationmode", "Value": "defensive"}],
    }
    code = error_code(elb.modify_load_balancer_attributes, LoadBalancerName=name, LoadBalancerAttributes=attributes)
    if code:
        report("QUIRK", "ELB.ModifyLoadBalancerAttributes", f"error {code}")
    got_attrs = elb.describe_load_balancer_attributes(LoadBalancerName=name)["LoadBalancerAttributes"]
    wrong = [f"{k}={got_attrs.get(k)}" for k, v in attributes.items()
             if (got_attrs.get(k) != v if k != "AdditionalAttributes"
                 else not any(a in got_attrs.get(k, []) for a in v))]
    report("OK" if not wrong and not code else "QUIRK", "ELB.ModifyLoadBalancerAttributes/DescribeLoadBalancerAttributes",
           "all four returned as set" if not wrong else "differs: " + "; ".join(wrong))

    policy = f"probe-tls-{SUFFIX}"
    elb.create_load_balancer_policy(LoadBalancerName=name, PolicyName=policy, PolicyTypeName="SSLNegotiationPolicyType",
                                    PolicyAttributes=[{"AttributeName": "Reference-Security-Policy",
                                                       "AttributeValue": "ELBSecurityPolicy-TLS-1-2-2017-01"}])
    elb.set_load_balancer_policies_of_listener(LoadBalancerName=name, LoadBalancerPort=443, PolicyNames=[policy])
    pols = elb.describe_load_balancer_policies(LoadBalancerName=name, PolicyNames=[policy])["PolicyDescriptions"]
    lds = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]["ListenerDescriptions"]
    on_listener = next((l.get("PolicyNames") for l in lds if l["Listener"]["LoadBalancerPort"] == 443), None)
    report("OK" if pols and pols[0].get("PolicyTypeName") == "SSLNegotiationPolicyType" and on_listener == [policy] else "QUIRK",
           "ELB.CreateLoadBalancerPolicy(SSLNegotiationPolicyType)+SetLoadBalancerPoliciesOfListener",
           f"DescribeLoadBalancerPolicies {pols}; listener 443 PolicyNames {on_listener}")
    all_pols = elb.describe_load_balancer_policies(LoadBalancerName=name)["PolicyDescriptions"]
    report("INFO", "ELB.DescribeLoadBalancerPolicies(all)", f"{[p['PolicyName'] for p in all_pols]}")
    elb.create_lb_cookie_stickiness_policy(LoadBalancerName=name, PolicyName=f"lbcookie-{SUFFIX}", CookieExpirationPeriod=60)
    elb.create_app_cookie_stickiness_policy(LoadBalancerName=name, PolicyName=f"appcookie-{SUFFIX}", CookieName="SESSION")
    pols = {p["PolicyName"]: p for p in elb.describe_load_balancer_policies(LoadBalancerName=name)["PolicyDescriptions"]}
    report("OK" if f"lbcookie-{SUFFIX}" in pols and f"appcookie-{SUFFIX}" in pols else "QUIRK",
           "ELB.CreateLBCookieStickinessPolicy/CreateAppCookieStickinessPolicy",
           f"described: {[(n, p.get('PolicyTypeName')) for n, p in pols.items() if 'cookie' in n]}; Policies in "
           f"DescribeLoadBalancers: {elb.describe_load_balancers(LoadBalancerNames=[name])['LoadBalancerDescriptions'][0].get('Policies')}")

    elb.create_load_balancer_listeners(LoadBalancerName=name, Listeners=[
        {"Protocol": "TCP", "LoadBalancerPort": 8443, "InstanceProtocol": "TCP", "InstancePort": 8443}])
    ports = [l["Listener"]["LoadBalancerPort"] for l in
             elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]["ListenerDescriptions"]]
    code = error_code(elb.create_load_balancer_listeners, LoadBalancerName=name, Listeners=[
        {"Protocol": "TCP", "LoadBalancerPort": 8443, "InstanceProtocol": "TCP", "InstancePort": 9000}])
    elb.delete_load_balancer_listeners(LoadBalancerName=name, LoadBalancerPorts=[8443])
    ports_after = [l["Listener"]["LoadBalancerPort"] for l in
                   elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]["ListenerDescriptions"]]
    report("OK" if 8443 in ports and 8443 not in ports_after else "QUIRK",
           "ELB.CreateLoadBalancerListeners/DeleteLoadBalancerListeners", f"ports after create {ports}, after delete {ports_after}")
    report("OK" if code == "DuplicateListener" else "QUIRK", "ELB.CreateLoadBalancerListeners (same port, other config)",
           f"{'error ' + code if code else 'succeeds'}; AWS answers DuplicateListener")
    elb.apply_security_groups_to_load_balancer(LoadBalancerName=name, SecurityGroups=[facts["lb_sg"], facts["node_sg"]])
    sgs = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]["SecurityGroups"]
    report("OK" if sgs == [facts["lb_sg"], facts["node_sg"]] else "QUIRK", "ELB.ApplySecurityGroupsToLoadBalancer", f"{sgs}")
    elb.apply_security_groups_to_load_balancer(LoadBalancerName=name, SecurityGroups=[facts["lb_sg"]])
    health = elb.describe_instance_health(LoadBalancerName=name)["InstanceStates"]
    report("OK", "ELB.DescribeInstanceHealth (no instances)", f"{health}")

    # --- Auto Scaling group on that ELB
    asg = f"probe-asg-{SUFFIX}"
    asg_tags = [{"Key": "deployer:stack", "Value": "probe", "PropagateAtLaunch": True},
                {"Key": "Name", "Value": f"probe-node-{SUFFIX}", "PropagateAtLaunch": True},
                {"Key": "deployer:component", "Value": "nodes", "PropagateAtLaunch": False}]
    params = dict(AutoScalingGroupName=asg, LaunchTemplate={"LaunchTemplateId": facts["lt_id"], "Version": "1"},
                  MinSize=2, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=",".join(subnets), LoadBalancerNames=[name],
                  HealthCheckType="ELB", HealthCheckGracePeriod=300, Tags=asg_tags)
    asg_api.create_auto_scaling_group(**params)
    expect_error("AutoScaling.CreateAutoScalingGroup (again)", "AlreadyExists", asg_api.create_auto_scaling_group, **params)
    group = asg_api.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])["AutoScalingGroups"][0]
    flat = dict(group, VPCZoneIdentifier=",".join(sorted(group.get("VPCZoneIdentifier", "").split(","))),
                Tags=sorted([{k: t[k] for k in ("Key", "Value", "PropagateAtLaunch")} for t in group.get("Tags", [])], key=str))
    compare("AutoScaling.DescribeAutoScalingGroups",
            {"LaunchTemplate": {"LaunchTemplateId": facts["lt_id"], "Version": "1",
                                "LaunchTemplateName": f"probe-lt-{SUFFIX}"},
             "MinSize": 2, "MaxSize": 4, "DesiredCapacity": 2, "VPCZoneIdentifier": ",".join(sorted(subnets)),
             "LoadBalancerNames": [name], "HealthCheckType": "ELB", "HealthCheckGracePeriod": 300,
             "Tags": sorted(asg_tags, key=str)}, flat)
    instances = group.get("Instances", [])
    report("INFO", "AutoScaling.DescribeAutoScalingGroups Instances",
           f"{[(i['InstanceId'], i.get('AvailabilityZone'), i.get('LifecycleState'), i.get('HealthStatus'), i.get('LaunchTemplate')) for i in instances]}; "
           f"AvailabilityZones {group.get('AvailabilityZones')}, Status {group.get('Status')}")
    ids = [i["InstanceId"] for i in instances]
    if ids:
        reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        real = [i for r in reservations for i in r["Instances"]]
        inst_tags = {t["Key"]: t["Value"] for t in real[0].get("Tags", [])}
        zones = sorted({i["Placement"]["AvailabilityZone"] for i in real})
        report("OK" if len(zones) == 2 else "QUIRK", "ASG instances spread over the group's subnets/AZs",
               f"instances in AZs {zones}, subnets {sorted({i.get('SubnetId') for i in real})}")
        report("OK" if len(real) == len(ids) else "QUIRK", "ASG instances in EC2.DescribeInstances",
               f"{len(real)}/{len(ids)} found, states {[i['State']['Name'] for i in real]}, subnets "
               f"{sorted({i.get('SubnetId') for i in real})}, tags on instance {inst_tags}, SecurityGroups "
               f"{[g['GroupId'] for g in real[0].get('SecurityGroups', [])]}, ImageId {real[0].get('ImageId')}")
    health = elb.describe_instance_health(LoadBalancerName=name)["InstanceStates"]
    report("OK" if sorted(h["InstanceId"] for h in health) == sorted(ids) else "QUIRK",
           "ASG instances registered with the ELB (DescribeInstanceHealth)",
           f"{[(h['InstanceId'], h['State']) for h in health]}")
    lb_instances = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]["Instances"]
    report("INFO", "ELB.DescribeLoadBalancers Instances", f"{lb_instances}")

    ec2.create_launch_template_version(LaunchTemplateId=facts["lt_id"], SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.large"})
    latest = ec2.describe_launch_templates(LaunchTemplateIds=[facts["lt_id"]])["LaunchTemplates"][0]["LatestVersionNumber"]
    asg_api.update_auto_scaling_group(AutoScalingGroupName=asg, MinSize=3, MaxSize=6, DesiredCapacity=3,
                                      LaunchTemplate={"LaunchTemplateId": facts["lt_id"], "Version": str(latest)})
    group = asg_api.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])["AutoScalingGroups"][0]
    report("OK" if (group["MinSize"], group["MaxSize"], group["DesiredCapacity"], group["LaunchTemplate"].get("Version"))
           == (3, 6, 3, str(latest)) else "QUIRK", "AutoScaling.UpdateAutoScalingGroup(sizes, LaunchTemplate version)",
           f"Min/Max/Desired {group['MinSize']}/{group['MaxSize']}/{group['DesiredCapacity']}, LaunchTemplate "
           f"{group['LaunchTemplate']}, {len(group['Instances'])} instances, their LT versions "
           f"{sorted((i.get('LaunchTemplate') or {}).get('Version', '?') for i in group['Instances'])}")
    health = elb.describe_instance_health(LoadBalancerName=name)["InstanceStates"]
    report("INFO", "ELB.DescribeInstanceHealth after scale-out", f"{len(health)} instances registered")
    code = error_code(asg_api.start_instance_refresh, AutoScalingGroupName=asg)
    report("INFO", "AutoScaling.StartInstanceRefresh", f"{'error ' + code if code else 'works'}")
    code = error_code(asg_api.delete_auto_scaling_group, AutoScalingGroupName=asg)
    report("OK" if code == "ResourceInUse" else "QUIRK", "AutoScaling.DeleteAutoScalingGroup (instances, no ForceDelete)",
           f"{'error ' + code if code else 'succeeds'}; AWS answers ResourceInUse")
    if code:
        asg_api.delete_auto_scaling_group(AutoScalingGroupName=asg, ForceDelete=True)
    left = asg_api.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])["AutoScalingGroups"]
    ids = [i["InstanceId"] for i in group["Instances"]]
    states = sorted({i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]})
    report("OK" if not left else "INFO", "AutoScaling.DeleteAutoScalingGroup(ForceDelete)",
           f"group {'gone at once' if not left else 'still described: ' + str(left[0].get('Status'))}; instance states {states}")
    health = elb.describe_instance_health(LoadBalancerName=name)["InstanceStates"]
    report("INFO", "ELB after the ASG is deleted", f"{len(health)} instances still registered")

    elb.delete_load_balancer(LoadBalancerName=name)
    code = error_code(elb.describe_load_balancers, LoadBalancerNames=[name])
    report("OK" if code == "LoadBalancerNotFound" else "QUIRK", "ELB.DeleteLoadBalancer",
           f"then DescribeLoadBalancers -> {code or 'still there'}")
    code = error_code(elb.delete_load_balancer, LoadBalancerName=name)
    report("OK" if code is None else "QUIRK", "ELB.DeleteLoadBalancer (again)", f"{'error ' + code if code else 'succeeds (as AWS)'}")


# ---------------------------------------------------------------- Auto Scaling: sizes, scaling, policies, schedules


def probe_autoscaling_scaling(facts):
    """A group set up the way deployer sets one up (launch template by name, version 1; a Classic ELB with
    an HTTP:80 listener; two default subnets in two AZs; 2/4/2), then resized, scaled out and in, instances
    terminated, policies and scheduled actions put, and the group deleted."""
    asg_api, ec2, elb = client("autoscaling"), client("ec2"), client("elb")
    lt_name, lb, group_name = f"probe-scale-lt-{SUFFIX}", f"probe-slb-{SUFFIX}", f"probe-scale-{SUFFIX}"
    try:
        _probe_autoscaling_scaling(facts, lt_name, lb, group_name)
    finally:  # whatever an aborted probe left behind (each fails harmlessly when already gone)
        error_code(asg_api.delete_auto_scaling_group, AutoScalingGroupName=group_name, ForceDelete=True)
        error_code(elb.delete_load_balancer, LoadBalancerName=lb)
        error_code(ec2.delete_launch_template, LaunchTemplateName=lt_name)


def _probe_autoscaling_scaling(facts, lt_name, lb, group_name):
    asg_api, ec2, elb = client("autoscaling"), client("ec2"), client("elb")
    subnets = [facts["subnets"][0][0], facts["subnets"][1][0]]
    user_data = base64.b64encode(b"#!/bin/sh\necho v1\n").decode()
    lt_id = ec2.create_launch_template(LaunchTemplateName=lt_name, LaunchTemplateData={
        "ImageId": STABLE_AMI, "InstanceType": "t3.micro", "UserData": user_data,
        "SecurityGroupIds": [facts["node_sg"]]})["LaunchTemplate"]["LaunchTemplateId"]
    elb.create_load_balancer(LoadBalancerName=lb, Subnets=subnets, Listeners=[
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}])

    def group():
        return asg_api.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"][0]

    def members():
        """(instance id, AZ, launch template version) of the group's instances."""
        return sorted((i["InstanceId"], i["AvailabilityZone"], (i.get("LaunchTemplate") or {}).get("Version"))
                      for i in group()["Instances"])

    def in_service():
        return sorted(h["InstanceId"] for h in elb.describe_instance_health(LoadBalancerName=lb)["InstanceStates"]
                      if h["State"] == "InService")

    def ec2_view(ids):
        found = [i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]
        return {i["InstanceId"]: (i["State"]["Name"], i.get("SubnetId"), i["InstanceType"]) for i in found}

    def zones(view):
        counts = {}
        for _, zone, _ in view:
            counts[zone] = counts.get(zone, 0) + 1
        return counts

    def sizes():
        g = group()
        return g["MinSize"], g["MaxSize"], g["DesiredCapacity"], len(g["Instances"])

    def message(fn, **kwargs):
        try:
            fn(**kwargs)
        except ClientError as e:
            return f"{e.response['Error']['Code']}: {e.response['Error']['Message']}"
        return None

    asg_api.create_auto_scaling_group(
        AutoScalingGroupName=group_name, LaunchTemplate={"LaunchTemplateName": lt_name, "Version": "1"},
        LoadBalancerNames=[lb], HealthCheckType="ELB", VPCZoneIdentifier=",".join(subnets),
        MinSize=2, MaxSize=4, DesiredCapacity=2,
        TerminationPolicies=["OldestLaunchTemplate", "OldestInstance"], DefaultInstanceWarmup=60)
    g = group()
    compare("AutoScaling.CreateAutoScalingGroup(TerminationPolicies, DefaultInstanceWarmup)",
            {"TerminationPolicies": ["OldestLaunchTemplate", "OldestInstance"], "DefaultInstanceWarmup": 60}, g)
    first = members()
    report("OK" if len(first) == 2 and len(zones(first)) == 2 and in_service() == sorted(i for i, _, _ in first)
           else "QUIRK", "ASG (launch template by name) instances", f"{first}; ELB InService {len(in_service())}")

    # --- sizes (UpdateAutoScalingGroup takes any subset of MinSize / MaxSize / DesiredCapacity)
    wanted = "ValidationError: Desired capacity:5 must be between the specified min size:2 and max size:4"
    got = message(asg_api.update_auto_scaling_group, AutoScalingGroupName=group_name, DesiredCapacity=5)
    report("OK" if got == wanted else "QUIRK", "AutoScaling.UpdateAutoScalingGroup(DesiredCapacity only, above max)",
           f"{got or 'succeeded'}; AWS: {wanted}")
    got = message(asg_api.update_auto_scaling_group, AutoScalingGroupName=group_name, MaxSize=1)
    report("OK" if got and got.startswith("ValidationError: Max bound, 1, must be greater than or equal to min bound, 2")
           else "QUIRK", "AutoScaling.UpdateAutoScalingGroup(MaxSize only, below min)", f"{got or 'succeeded'}")
    asg_api.update_auto_scaling_group(AutoScalingGroupName=group_name, MinSize=3)
    report("OK" if sizes() == (3, 4, 3, 3) else "QUIRK", "AutoScaling.UpdateAutoScalingGroup(MinSize only, above desired)",
           f"Min/Max/Desired/instances {sizes()} (AWS raises desired to the new min: (3, 4, 3, 3))")
    for label, value, bound in (("above max", 9, "above max value 4"), ("below min", 1, "below min value 3")):
        got = message(asg_api.set_desired_capacity, AutoScalingGroupName=group_name, DesiredCapacity=value)
        report("OK" if got and got.startswith("ValidationError") and bound in got else "QUIRK",
               f"AutoScaling.SetDesiredCapacity ({label})", f"{got or 'succeeded'}")

    # --- TerminationPolicies / DefaultInstanceWarmup on update
    asg_api.update_auto_scaling_group(AutoScalingGroupName=group_name, TerminationPolicies=["NewestInstance"],
                                      DefaultInstanceWarmup=120)
    compare("AutoScaling.UpdateAutoScalingGroup(TerminationPolicies, DefaultInstanceWarmup)",
            {"TerminationPolicies": ["NewestInstance"], "DefaultInstanceWarmup": 120}, group())
    asg_api.update_auto_scaling_group(AutoScalingGroupName=group_name, DefaultInstanceWarmup=-1,
                                      TerminationPolicies=["OldestLaunchTemplate", "OldestInstance"])
    warmup = group().get("DefaultInstanceWarmup", "<absent>")
    report("OK" if warmup == "<absent>" else "QUIRK", "AutoScaling.UpdateAutoScalingGroup(DefaultInstanceWarmup=-1)",
           f"then DefaultInstanceWarmup {warmup} (AWS: absent)")

    # --- a new launch template version (full data, user data included), then scale out
    v2 = ec2.create_launch_template_version(LaunchTemplateId=lt_id, LaunchTemplateData={
        "ImageId": STABLE_AMI, "InstanceType": "t3.small", "UserData": base64.b64encode(b"#!/bin/sh\necho v2\n").decode(),
        "SecurityGroupIds": [facts["node_sg"]]})["LaunchTemplateVersion"]["VersionNumber"]
    code = error_code(ec2.modify_launch_template, LaunchTemplateName=lt_name, DefaultVersion=str(v2))
    default = ec2.describe_launch_templates(LaunchTemplateIds=[lt_id])["LaunchTemplates"][0]["DefaultVersionNumber"]
    report("OK" if code is None and default == v2 else "QUIRK", "EC2.ModifyLaunchTemplate(LaunchTemplateName, DefaultVersion)",
           f"{'error ' + code if code else 'works'}; DefaultVersionNumber {default}")
    asg_api.update_auto_scaling_group(AutoScalingGroupName=group_name,
                                      LaunchTemplate={"LaunchTemplateName": lt_name, "Version": str(v2)})
    before = {i for i, _, _ in members()}
    got = message(asg_api.update_auto_scaling_group, AutoScalingGroupName=group_name, DesiredCapacity=4)
    now = members()
    new = [m for m in now if m[0] not in before]
    view = ec2_view([m[0] for m in new]) if new else {}
    good = (got is None and sizes() == (3, 4, 4, 4) and [m[2] for m in new] == [str(v2)]
            and all(v[2] == "t3.small" for v in view.values()) and set(zones(now).values()) == {2}
            and in_service() == sorted(m[0] for m in now))
    report("OK" if good else "FAIL", "AutoScaling.UpdateAutoScalingGroup(DesiredCapacity only, scale-out)",
           f"{got or 'accepted'}; new {new} {view}; AZs {zones(now)}; ELB InService {len(in_service())}/{len(now)}")
    asg_api.update_auto_scaling_group(AutoScalingGroupName=group_name, MaxSize=6)
    before = {i for i, _, _ in members()}
    asg_api.set_desired_capacity(AutoScalingGroupName=group_name, DesiredCapacity=6)
    now = members()
    new = [m for m in now if m[0] not in before]
    view = ec2_view([m[0] for m in now])
    good = (sizes() == (3, 6, 6, 6) and [m[2] for m in new] == [str(v2)] * 2 and set(zones(now).values()) == {3}
            and {v[1] for v in view.values()} == set(subnets) and in_service() == sorted(m[0] for m in now))
    report("OK" if good else "QUIRK", "AutoScaling.SetDesiredCapacity (scale-out)",
           f"new {new}; AZs {zones(now)}; subnets {sorted({v[1] for v in view.values()})}; "
           f"ELB InService {len(in_service())}/{len(now)}")

    # --- TerminateInstanceInAutoScalingGroup
    victim = next(m for m in members() if m[2] == "1")[0]
    activity = asg_api.terminate_instance_in_auto_scaling_group(InstanceId=victim, ShouldDecrementDesiredCapacity=True)
    now = members()
    state = ec2_view([victim])[victim][0]
    good = (sizes() == (3, 6, 5, 5) and victim not in {m[0] for m in now} and state == "terminated"
            and victim not in in_service() and len(in_service()) == 5)
    report("OK" if good else "QUIRK", "AutoScaling.TerminateInstanceInAutoScalingGroup(ShouldDecrementDesiredCapacity=true)",
           f"Min/Max/Desired/instances {sizes()}; instance {state}, in ELB {victim in in_service()}; "
           f"Activity {activity['Activity'].get('StatusCode')} '{activity['Activity'].get('Description')}'")
    before = {m[0] for m in members()}
    victim = next(m for m in members() if m[2] == "1")[0]
    asg_api.terminate_instance_in_auto_scaling_group(InstanceId=victim, ShouldDecrementDesiredCapacity=False)
    now = members()
    new = [m for m in now if m[0] not in before]
    state = ec2_view([victim])[victim][0]
    good = (sizes() == (3, 6, 5, 5) and state == "terminated" and victim not in in_service() and len(new) == 1
            and new[0][2] == str(v2) and in_service() == sorted(m[0] for m in now) and set(zones(now).values()) <= {2, 3})
    report("OK" if good else "QUIRK", "AutoScaling.TerminateInstanceInAutoScalingGroup(ShouldDecrementDesiredCapacity=false)",
           f"Min/Max/Desired/instances {sizes()}; instance {state}; replacement {new}; AZs {zones(now)}; "
           f"ELB InService {len(in_service())}")

    # --- scale-in: the AZ with the most instances first, then the termination policies (old version first)
    before = members()
    asg_api.update_auto_scaling_group(AutoScalingGroupName=group_name, DesiredCapacity=3)
    now = members()
    gone = [m for m in before if m not in now]
    old_left = [m for m in now if m[2] != str(v2)]
    good = (sizes() == (3, 6, 3, 3) and set(zones(now).values()) <= {1, 2} and len(zones(now)) == 2
            and not old_left and in_service() == sorted(m[0] for m in now)
            and all(v[0] == "terminated" for v in ec2_view([m[0] for m in gone]).values()))
    report("OK" if good else "QUIRK", "AutoScaling scale-in (UpdateAutoScalingGroup DesiredCapacity 5 -> 3)",
           f"terminated {gone}; left {now}; AZs {zones(now)}; ELB InService {len(in_service())}")
    got = message(asg_api.terminate_instance_in_auto_scaling_group, InstanceId=now[0][0],
                  ShouldDecrementDesiredCapacity=True)
    report("OK" if got and got.startswith("ValidationError") else "QUIRK",
           "AutoScaling.TerminateInstanceInAutoScalingGroup(decrement at min size)", f"{got or 'succeeded'}")
    expect_error("AutoScaling.TerminateInstanceInAutoScalingGroup(unknown instance)", "ValidationError",
                 asg_api.terminate_instance_in_auto_scaling_group, InstanceId="i-00000000000000000",
                 ShouldDecrementDesiredCapacity=True)

    # --- target tracking scaling policy
    policy = f"probe-cpu-{SUFFIX}"
    tracking = {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                "TargetValue": 60.0, "DisableScaleIn": False}
    put = asg_api.put_scaling_policy(AutoScalingGroupName=group_name, PolicyName=policy, PolicyType="TargetTrackingScaling",
                                     TargetTrackingConfiguration=tracking, EstimatedInstanceWarmup=120)
    arn = put.get("PolicyARN")
    report("OK" if arn and len(put.get("Alarms", [])) == 2 else "QUIRK", "AutoScaling.PutScalingPolicy(TargetTrackingScaling)",
           f"PolicyARN {arn}; Alarms {[a['AlarmName'] for a in put.get('Alarms', [])]}")
    described = asg_api.describe_policies(AutoScalingGroupName=group_name)["ScalingPolicies"]
    compare("AutoScaling.DescribePolicies", {
        "PolicyName": policy, "PolicyARN": arn, "PolicyType": "TargetTrackingScaling", "TargetTrackingConfiguration": tracking,
        "EstimatedInstanceWarmup": 120, "Enabled": True, "Alarms": put.get("Alarms")}, described[0] if described else {})
    tracking2 = dict(tracking, TargetValue=70.0, DisableScaleIn=True)
    again = asg_api.put_scaling_policy(AutoScalingGroupName=group_name, PolicyName=policy, PolicyType="TargetTrackingScaling",
                                       TargetTrackingConfiguration=tracking2, EstimatedInstanceWarmup=180)
    described = asg_api.describe_policies(AutoScalingGroupName=group_name)["ScalingPolicies"]
    good = (again.get("PolicyARN") == arn and len(described) == 1
            and described[0].get("TargetTrackingConfiguration") == tracking2
            and described[0].get("EstimatedInstanceWarmup") == 180 and len(described[0].get("Alarms", [])) == 1)
    report("OK" if good else "QUIRK", "AutoScaling.PutScalingPolicy (same name: update in place)",
           f"same ARN {again.get('PolicyARN') == arn}; {len(described)} policy; TargetValue "
           f"{described[0].get('TargetTrackingConfiguration', {}).get('TargetValue') if described else None}; "
           f"alarms with DisableScaleIn {len(described[0].get('Alarms', [])) if described else None} (AWS: 1, AlarmHigh)")
    got = message(asg_api.put_scaling_policy, AutoScalingGroupName=group_name, PolicyName=f"{policy}-2",
                  PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=tracking)
    report("OK" if got and got.startswith("ValidationError") else "QUIRK",
           "AutoScaling.PutScalingPolicy (second target tracking policy on the same metric)",
           f"{got or 'succeeded'}; AWS: ValidationError Only one TargetTrackingScaling policy for a given metric specification is allowed.")
    asg_api.delete_policy(AutoScalingGroupName=group_name, PolicyName=policy)
    left = asg_api.describe_policies(AutoScalingGroupName=group_name)["ScalingPolicies"]
    report("OK" if not left else "QUIRK", "AutoScaling.DeletePolicy", f"then {len(left)} policies")
    expect_error("AutoScaling.DeletePolicy (unknown name)", "ValidationError", asg_api.delete_policy,
                 AutoScalingGroupName=group_name, PolicyName=policy)
    expect_error("AutoScaling.DescribePolicies (unknown group)", "ValidationError", asg_api.describe_policies,
                 AutoScalingGroupName=f"probe-none-{SUFFIX}")
    expect_error("AutoScaling.PutScalingPolicy (unknown group)", "ValidationError", asg_api.put_scaling_policy,
                 AutoScalingGroupName=f"probe-none-{SUFFIX}", PolicyName=policy, PolicyType="TargetTrackingScaling",
                 TargetTrackingConfiguration=tracking)

    # --- scheduled action
    action = f"probe-office-hours-{SUFFIX}"
    sent = {"Recurrence": "0 8 * * MON-FRI", "MinSize": 3, "MaxSize": 6, "DesiredCapacity": 5, "TimeZone": "Europe/Berlin"}
    asg_api.put_scheduled_update_group_action(AutoScalingGroupName=group_name, ScheduledActionName=action, **sent)
    actions = asg_api.describe_scheduled_actions(AutoScalingGroupName=group_name)["ScheduledUpdateGroupActions"]
    compare("AutoScaling.DescribeScheduledActions", dict(sent, ScheduledActionName=action), actions[0] if actions else {})
    action_arn = actions[0].get("ScheduledActionARN") if actions else None
    report("OK" if action_arn else "QUIRK", "AutoScaling.DescribeScheduledActions ScheduledActionARN", f"{action_arn}")
    asg_api.put_scheduled_update_group_action(AutoScalingGroupName=group_name, ScheduledActionName=action,
                                              Recurrence="0 7 * * MON-FRI", DesiredCapacity=4)
    actions = asg_api.describe_scheduled_actions(AutoScalingGroupName=group_name)["ScheduledUpdateGroupActions"]
    compare("AutoScaling.PutScheduledUpdateGroupAction (again: Recurrence, DesiredCapacity)",
            dict(sent, Recurrence="0 7 * * MON-FRI", DesiredCapacity=4, ScheduledActionARN=action_arn),
            actions[0] if len(actions) == 1 else {}, "updated in place, unnamed parameters unchanged: ")
    asg_api.delete_scheduled_action(AutoScalingGroupName=group_name, ScheduledActionName=action)
    left = asg_api.describe_scheduled_actions(AutoScalingGroupName=group_name)["ScheduledUpdateGroupActions"]
    report("OK" if not left else "QUIRK", "AutoScaling.DeleteScheduledAction", f"then {len(left)} actions")
    expect_error("AutoScaling.DeleteScheduledAction (unknown name)", "ValidationError", asg_api.delete_scheduled_action,
                 AutoScalingGroupName=group_name, ScheduledActionName=action)
    expect_error("AutoScaling.PutScheduledUpdateGroupAction (unknown group)", "ValidationError",
                 asg_api.put_scheduled_update_group_action, AutoScalingGroupName=f"probe-none-{SUFFIX}",
                 ScheduledActionName=action, **sent)

    # --- DeleteAutoScalingGroup(ForceDelete) takes the policies and scheduled actions with it
    asg_api.put_scaling_policy(AutoScalingGroupName=group_name, PolicyName=policy, PolicyType="TargetTrackingScaling",
                               TargetTrackingConfiguration=tracking)
    asg_api.put_scheduled_update_group_action(AutoScalingGroupName=group_name, ScheduledActionName=action, **sent)
    ids = [m[0] for m in members()]
    asg_api.delete_auto_scaling_group(AutoScalingGroupName=group_name, ForceDelete=True)
    policies = [p for p in asg_api.describe_policies()["ScalingPolicies"] if p["AutoScalingGroupName"] == group_name]
    actions = [a for a in asg_api.describe_scheduled_actions()["ScheduledUpdateGroupActions"]
               if a["AutoScalingGroupName"] == group_name]
    states = sorted({v[0] for v in ec2_view(ids).values()})
    report("OK" if not policies and not actions and states == ["terminated"] and not in_service() else "QUIRK",
           "AutoScaling.DeleteAutoScalingGroup(ForceDelete) with a policy and a scheduled action",
           f"then {len(policies)} policies, {len(actions)} scheduled actions of the group; instances {states}; "
           f"ELB InService {len(in_service())}")


def main():
    print(f"probing {ENDPOINT} (suffix {SUFFIX})")
    account = section("STS", probe_sts)
    section("IAM", probe_iam)
    section("Secrets Manager", probe_secretsmanager)
    cert_arn = section("ACM", probe_acm)
    facts = section("EC2", probe_ec2, account)
    if facts:
        facts["account"] = account
        section("EC2 bake (builder, image, snapshots)", probe_ec2_bake, facts)
        section("RDS", probe_rds, facts)
        section("ElastiCache", probe_elasticache, facts)
        section("ELB + Auto Scaling", probe_elb_and_autoscaling, facts, cert_arn)
        section("Auto Scaling: sizes, scaling, policies, scheduled actions", probe_autoscaling_scaling, facts)
        section("EC2 cleanup", cleanup_ec2, facts)
    counts = {s: sum(1 for r in results if r[0] == s) for s in ("OK", "QUIRK", "MISSING", "FAIL", "INFO")}
    print("\nsummary: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
