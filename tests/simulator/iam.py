"""IAM enforcement for the cloud simulator: every request is authorized against one identity-based
policy (iam/deployer-policy.json in the suite), with the actions AWS checks implicitly and the
resource ARNs AWS authorizes. Sources are in emulator/NOTES.md ("IAM enforced"). Standard library only.

    checks(request, lookup) -> [(action, resource ARN or None, context)]
    Policy(document).allows(action, resource, context) -> bool

A resource of None is an action without resource-level permissions: only `"Resource": "*"` matches it.
"""
import json
import re

# Create calls whose tags, given in the call, AWS authorizes as a second action.
TAG_ACTIONS = {
    "iam": {"CreateRole": "iam:TagRole", "CreateInstanceProfile": "iam:TagInstanceProfile"},
    "rds": "rds:AddTagsToResource",
    "elasticache": "elasticache:AddTagsToResource",
    "elasticloadbalancing": {"CreateLoadBalancer": "elasticloadbalancing:AddTags"},
    "autoscaling": {"CreateAutoScalingGroup": "autoscaling:CreateOrUpdateTags"},
    "ssm": {"PutParameter": "ssm:AddTagsToResource"},
    "secretsmanager": {"CreateSecret": "secretsmanager:TagResource"},
    # "To create a topic with tags, you must have sns:CreateTopic and sns:TagResource" (CreateTopic);
    # PutMetricAlarm with Tags needs cloudwatch:TagResource; CreateKey with Tags, kms:TagResource.
    "sns": {"CreateTopic": "sns:TagResource"},
    "cloudwatch": {"PutMetricAlarm": "cloudwatch:TagResource"},
    "kms": {"CreateKey": "kms:TagResource"},
    # CreateLogGroup with tags: "you must have the logs:TagResource permission" (API reference).
    "logs": {"CreateLogGroup": "logs:TagResource"},
}
# Calls that never need a permission (AWS: "No permissions are required to perform this operation").
ALWAYS = {"sts:GetCallerIdentity"}
QUERY_TAG = re.compile(r"Tags\.(member|Tag)\.\d+\.Key$")
EC2_TAG = re.compile(r"TagSpecification\.\d+\.ResourceType$")


def glob(pattern, value, case=True):
    """IAM's wildcard match: * any run, ? one character (the Resource and Action elements)."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, 0 if case else re.IGNORECASE) is not None


def listed(value):
    return value if isinstance(value, list) else [value]


class Policy:
    def __init__(self, document):
        if isinstance(document, str):
            with open(document) as f:
                document = json.load(f)
        self.statements = listed(document.get("Statement", []))

    def allows(self, action, resource, context):
        """An explicit Deny wins; otherwise some Allow must match. -> bool"""
        allowed = False
        for st in self.statements:
            if not self.matches(st, action, resource, context):
                continue
            if st.get("Effect") == "Deny":
                return False
            allowed = True
        return allowed

    @staticmethod
    def matches(st, action, resource, context):
        if "Action" in st and not any(glob(a, action, case=False) for a in listed(st["Action"])):
            return False
        if "NotAction" in st and any(glob(a, action, case=False) for a in listed(st["NotAction"])):
            return False
        resources = listed(st.get("Resource", []))
        if resource is None:
            if "*" not in resources:
                return False
        elif "Resource" in st and not any(glob(r, resource) for r in resources):
            return False
        elif "NotResource" in st and any(glob(r, resource) for r in listed(st["NotResource"])):
            return False
        return conditions_hold(st.get("Condition") or {}, context)


def conditions_hold(condition, context):
    """The operators deployer's policy may use. Anything else does not hold (deny rather than guess)."""
    for operator, keys in condition.items():
        if_exists = operator.endswith("IfExists")
        op = operator[:-len("IfExists")] if if_exists else operator
        for key, wanted in keys.items():
            have = context.get(key.lower())
            if have is None:
                if if_exists or op.startswith("StringNot"):
                    continue
                return False
            wanted = [str(w) for w in listed(wanted)]
            if op == "StringEquals" and have not in wanted:
                return False
            if op == "StringNotEquals" and have in wanted:
                return False
            if op in ("StringLike", "ArnLike") and not any(glob(w, have) for w in wanted):
                return False
            if op == "ArnEquals" and have not in wanted:
                return False
            if op == "Bool" and have.lower() not in [w.lower() for w in wanted]:
                return False
            if op not in ("StringEquals", "StringNotEquals", "StringLike", "ArnLike", "ArnEquals", "Bool"):
                return False
    return True


class Request:
    """What one AWS request is, for authorization."""

    def __init__(self, service, action, params, body, region, account):
        self.service, self.action, self.params, self.region, self.account = \
            service, action, params, region, account
        try:
            self.json = json.loads(body or b"{}") if service in ("ssm", "secretsmanager", "kms", "logs") else {}
        except ValueError:
            self.json = {}
        self.body = body or b""
        if not isinstance(self.json, dict):
            self.json = {}

    def arn(self, kind, name):
        return f"arn:aws:{self.service}:{self.region}:{self.account}:{kind}{name}"


def iam_arn(account, kind, path, name):
    return f"arn:aws:iam::{account}:{kind}/{(path or '/').strip('/') + '/' if (path or '/').strip('/') else ''}{name}"


def primary_resource(req, lookup):
    """The ARN AWS authorizes the request's own action against (None: no resource-level permissions)."""
    p, a = req.params, req.action
    if req.service == "iam":
        if a.startswith("List"):
            return None
        if a in ("CreateRole", "CreateInstanceProfile"):
            kind = "role" if a == "CreateRole" else "instance-profile"
            return iam_arn(req.account, kind, p.get("Path"), p.get("RoleName") or p.get("InstanceProfileName", ""))
        if "InstanceProfileName" in p:  # AddRoleTo/RemoveRoleFrom/Get/Delete/TagInstanceProfile
            name = p["InstanceProfileName"]
            return iam_arn(req.account, "instance-profile", lookup("instance-profile", name), name)
        if "RoleName" in p:
            name = p["RoleName"]
            return iam_arn(req.account, "role", lookup("role", name), name)
        if a == "CreateServiceLinkedRole":
            service = p.get("AWSServiceName", "")
            return f"arn:aws:iam::{req.account}:role/aws-service-role/{service}/*"
        return None
    if req.service == "ssm":
        name = req.json.get("Name", "")
        if name and name.startswith("/aws/service/"):
            # AWS's public parameters belong to no account: arn:aws:ssm:<region>::parameter/aws/...
            return f"arn:aws:ssm:{req.region}::parameter/{name.lstrip('/')}"
        return req.arn("parameter/", name.lstrip("/")) if name else None
    if req.service == "secretsmanager":
        secret = req.json.get("SecretId") or req.json.get("Name")
        if not secret:
            return None
        if secret.startswith("arn:"):
            return secret
        # The real ARN ends in a random six-character suffix.
        return req.arn("secret:", f"{secret}-AbCdEf")
    return None


def tags_given(req):
    if req.service == "ec2":
        return any(EC2_TAG.match(k) for k in req.params)
    if req.service in ("ssm", "secretsmanager", "kms", "logs"):
        return bool(req.json.get("Tags"))
    if req.service == "cloudwatch":
        # CBOR: the map key "Tags" is the text string 0x64 'T' 'a' 'g' 's'.
        return b"\x64Tags" in req.body
    return any(QUERY_TAG.match(k) for k in req.params)


def tag_action(req):
    if not req.action.startswith(("Create", "Put", "Run", "Copy", "Allocate", "Import", "Request")):
        return None
    if req.service == "ec2":
        return "ec2:CreateTags"
    by_service = TAG_ACTIONS.get(req.service)
    if isinstance(by_service, dict):
        return by_service.get(req.action)
    return by_service if req.action.startswith("Create") else None


def checks(req, lookup):
    """Every (action, resource, context) AWS authorizes for this request. lookup(kind, name) answers
    an IAM entity's path (None when it does not exist), the role of an instance profile
    ("profile-role") and a launch template's instance profile ("template-profile", "name|version")."""
    action = f"{req.service}:{req.action}"
    if action in ALWAYS or not req.action:
        return []
    resource = primary_resource(req, lookup)
    out = [(action, resource, {})]
    tagger = tag_action(req) if tags_given(req) else None
    if tagger:
        out.append((tagger, resource, {f"{req.service}:createaction": req.action}))
    p = req.params
    profile = None
    if action == "ec2:RunInstances":
        profile = (p.get("IamInstanceProfile.Name") or p.get("IamInstanceProfile.Arn") or "").rsplit("/", 1)[-1]
        template = p.get("LaunchTemplate.LaunchTemplateName") or p.get("LaunchTemplate.LaunchTemplateId")
        if not profile and template:
            profile = lookup("template-profile", f"{template}|{p.get('LaunchTemplate.Version', '$Default')}")
    elif action in ("autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup"):
        template = p.get("LaunchTemplate.LaunchTemplateName") or p.get("LaunchTemplate.LaunchTemplateId")
        if template:
            # AWS: a group given a launch template needs ec2:RunInstances, and iam:PassRole when the
            # template names an instance profile.
            out.append(("ec2:RunInstances", None, {}))
            profile = lookup("template-profile", f"{template}|{p.get('LaunchTemplate.Version', '$Default')}")
    elif action == "rds:CreateDBInstance" and p.get("ManageMasterUserPassword", "").lower() == "true":
        # RDS creates the master user secret with the caller's permissions.
        out.append(("secretsmanager:CreateSecret", None, {}))
        out.append(("secretsmanager:TagResource", None, {}))
    elif action == "rds:DeleteDBInstance" and p.get("FinalDBSnapshotIdentifier"):
        out.append(("rds:CreateDBSnapshot", None, {}))
    if profile:
        role = lookup("profile-role", profile)
        if role:
            name, path = role
            out.append(("iam:PassRole", iam_arn(req.account, "role", path, name),
                        {"iam:passedtoservice": "ec2.amazonaws.com"}))
    return out


def denial(action, resource, account):
    who = f"arn:aws:sts::{account}:assumed-role/deployer-operator/simulator"
    on = f" on resource: {resource}" if resource else ""
    return f"User: {who} is not authorized to perform: {action}{on} because no identity-based policy allows the {action} action"
