"""Auto Scaling: moto's group behaviour brought closer to AWS where deployer depends on it.

Groups
- CreateAutoScalingGroup with a name in use answers AlreadyExists (moto replaced the group, leaking its
  instances).
- Sizes are checked as AWS checks them, on create, update and SetDesiredCapacity (moto accepted a desired
  capacity outside min..max and launched or terminated for it). UpdateAutoScalingGroup takes any subset of
  MinSize / MaxSize / DesiredCapacity; without DesiredCapacity, a MinSize above the current desired
  capacity raises it and a MaxSize below it lowers it (AWS's rule; moto compared with the instance count).
- TerminationPolicies (UpdateAutoScalingGroup: moto ignored them), DefaultInstanceWarmup (moto ignored it
  on create and update; -1 on update removes it, as on AWS), DefaultCooldown and CapacityRebalance (ignored
  by moto's update) are stored and described.
- DeleteAutoScalingGroup of a group that still has instances needs ForceDelete (ResourceInUse otherwise);
  a deleted group takes its scaling policies, scheduled actions and lifecycle hooks with it (moto kept
  them, and a new group of the same name inherited them).

Instances
- Instances are launched from the launch template version the group names (moto launched the
  template's default version for everything but image, type, user data and security groups) and report
  that version in DescribeAutoScalingGroups / DescribeAutoScalingInstances.
- Instances are spread over the group's subnets, balancing AZs as AWS does (moto put every instance in
  the first subnet, with a random AZ that need not match it).
- Scale-in picks its victims as AWS does: from the AZ with the most instances, then by the group's
  termination policies (Default / OldestLaunchTemplate: instances not on the current launch template
  version first, then the oldest version; OldestInstance; NewestInstance), then the oldest (moto took the
  first instances of an unordered set, ignoring AZs and policies).
- TerminateInstanceInAutoScalingGroup: an instance outside any group is a ValidationError (moto: 500), and
  ShouldDecrementDesiredCapacity at the group's min size is refused, as on AWS.

Scaling policies (PutScalingPolicy, DescribePolicies, DeletePolicy, ExecutePolicy are implemented here)
- PutScalingPolicy answers PolicyARN (moto sent "PolicyArn", which the serializer dropped) and, for a
  target tracking policy, the Alarms AWS creates for it (AlarmHigh, and AlarmLow unless DisableScaleIn).
  The alarms are names only: CloudWatch is not emulated.
- Policies belong to their group (moto keyed them by name alone, across groups); each has its own ARN
  (moto: one fixed UUID for all); a second put of the same name replaces the policy and keeps its ARN.
- A second target tracking policy of a group on the same metric: ValidationError, as on AWS ("Only one
  TargetTrackingScaling policy for a given metric specification is allowed.").
- DescribePolicies reports what was sent plus AWS's defaults (Enabled, DisableScaleIn false, StepAdjustments
  []); an unknown group is a ValidationError. DeletePolicy / ExecutePolicy of an unknown policy: ValidationError
  (moto: silently nothing / 500). Policy names may be given as ARNs.

Group metrics
- EnableMetricsCollection adds the metrics it names to those the group publishes (moto replaced the list)
  and, naming none, enables them all; DisableMetricsCollection (moto: not implemented) removes those it
  names, or all of them. AWS: "If you omit this property, all metrics are enabled/disabled"
  (EnableMetricsCollection / DisableMetricsCollection API reference).

Scheduled actions
- They belong to their group (moto keyed them by name alone), carry a ScheduledActionARN, need an existing
  group, and a repeated put updates only the parameters it names (AWS: "if you leave a parameter
  unspecified, the corresponding value remains unchanged"; moto replaced the whole action).
"""

import json
import uuid

from localstack.aws.api import RequestContext
from localstack.services.moto import call_moto

from .common import aws_error, backend, moto_call

_patched = False

# Termination policies that choose instances (the others leave the choice to the next one).
_TERMINATION_POLICIES = {"Default", "OldestLaunchTemplate", "OldestLaunchConfiguration", "OldestInstance", "NewestInstance"}


def _group_not_found(name: str):
    return aws_error("ValidationError", f"Group {name} not found")


def _current_version(group):
    """The launch template version number the group launches now (None without a launch template)."""
    if group.ec2_launch_template is None:
        return None
    try:
        return group.ec2_launch_template.get_version(group.launch_template_version).number
    except Exception:
        return None


def _instance_version(state):
    return getattr(state.instance, "deployer_launch_template_version", None)


def _apply_termination_policy(group, policy: str, candidates: list) -> list:
    if policy in ("Default", "OldestLaunchTemplate", "OldestLaunchConfiguration"):
        current = _current_version(group)
        if current is None:
            return candidates

        def age(state):
            version = _instance_version(state)
            # Not on the current version first, then the oldest version.
            return (version == current, version if version is not None else -1)

        oldest = min(age(s) for s in candidates)
        return [s for s in candidates if age(s) == oldest]
    if policy in ("OldestInstance", "NewestInstance"):
        times = [s.instance.launch_time for s in candidates]
        pick = min(times) if policy == "OldestInstance" else max(times)
        return [s for s in candidates if s.instance.launch_time == pick]
    return candidates


def _choose_victims(group, count: int) -> list:
    """The instances AWS would terminate to shrink the group by `count`."""
    active = [s for s in group.instance_states if s.lifecycle_state == "InService"]
    chosen = []
    for _ in range(count):
        remaining = [s for s in active if s not in chosen]
        candidates = [s for s in remaining if not s.protected_from_scale_in]
        if not candidates:
            break
        # The AZ with the most instances (that has an unprotected one) loses one.
        per_zone = {}
        for state in remaining:
            per_zone[state.instance.placement] = per_zone.get(state.instance.placement, 0) + 1
        most = max(per_zone[s.instance.placement] for s in candidates)
        candidates = [s for s in candidates if per_zone[s.instance.placement] == most]
        for policy in list(group.termination_policies or []) + ["Default"]:
            if len(candidates) == 1:
                break
            if policy in _TERMINATION_POLICIES:
                candidates = _apply_termination_policy(group, policy, candidates)
        # AWS picks at random among the rest; the first (oldest in the group) is reproducible.
        chosen.append(candidates[0])
    return chosen


def apply_patches() -> None:
    global _patched
    if _patched:
        return
    from moto.autoscaling import models

    def replace_autoscaling_group_instances(self, count_needed, propagated_tags):
        propagated_tags[models.ASG_NAME_TAG] = self.name
        propagated_tags.update(self.instance_tags)
        ec2 = self.autoscaling_backend.ec2_backend
        subnets = [s.strip() for s in (self.vpc_zone_identifier or "").split(",") if s.strip()]
        subnet_zone = {}
        for subnet_id in subnets:
            try:
                subnet_zone[subnet_id] = ec2.get_subnet(subnet_id).availability_zone
            except Exception:
                subnet_zone[subnet_id] = None
        associate_public_ip = self.launch_config.associate_public_ip_address if self.launch_config else None
        launch_template = None
        version_number = None
        if self.ec2_launch_template:
            version_number = self.ec2_launch_template.get_version(self.launch_template_version).number
            launch_template = {"LaunchTemplateId": self.ec2_launch_template.id, "Version": str(version_number)}

        for _ in range(count_needed):
            # AWS balances instances across AZs: pick the zone (then subnet) with the fewest.
            per_zone, per_subnet = {}, {}
            for state in self.instance_states:
                zone = getattr(state.instance, "placement", None)
                per_zone[zone] = per_zone.get(zone, 0) + 1
                subnet = getattr(state.instance, "subnet_id", None)
                per_subnet[subnet] = per_subnet.get(subnet, 0) + 1
            if subnets:
                subnet_id = min(
                    subnets,
                    key=lambda s: (per_zone.get(subnet_zone[s], 0), per_subnet.get(s, 0), subnets.index(s)),
                )
                placement = subnet_zone[subnet_id] or self.availability_zones[0]
            else:
                subnet_id = None
                placement = min(self.availability_zones, key=lambda z: (per_zone.get(z, 0), self.availability_zones.index(z)))
            reservation = ec2.run_instances(
                self.image_id,
                1,
                self.user_data,
                self.security_groups,
                instance_type=self.instance_type,
                tags={"instance": dict(propagated_tags)},
                placement=placement,
                launch_config=self.launch_config,
                launch_template=launch_template,
                is_instance_type_default=False,
                associate_public_ip=associate_public_ip,
                subnet_id=subnet_id,
            )
            for instance in reservation.instances:
                instance.autoscaling_group = self
                instance.deployer_launch_template_version = version_number
                self.instance_states.append(
                    models.InstanceState(instance, protected_from_scale_in=self.new_instances_protected_from_scale_in)
                )

    models.FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances

    moto_set_desired_capacity = models.FakeAutoScalingGroup.set_desired_capacity

    def set_desired_capacity(self, new_capacity):
        overrides = (self.mixed_instances_policy or {}).get("LaunchTemplate", {}).get("Overrides", [])
        if overrides:  # weighted mixed instances: moto's arithmetic
            return moto_set_desired_capacity(self, new_capacity)
        self.desired_capacity = self.min_size if new_capacity is None else new_capacity
        delta = (self.desired_capacity or 0) - len(self.active_instances())
        if delta > 0:
            self.replace_autoscaling_group_instances(delta, self.get_propagated_tags())
        elif delta < 0:
            victims = _choose_victims(self, -delta)
            if victims:
                self.autoscaling_backend.ec2_backend.terminate_instances([s.instance.id for s in victims])
                self.instance_states = [s for s in self.instance_states if s not in victims]
        if self.name in self.autoscaling_backend.autoscaling_groups:
            self.autoscaling_backend.update_attached_elbs(self.name)
            self.autoscaling_backend.update_attached_target_groups(self.name)

    models.FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity

    def instance_launch_template(self):
        group = self.auto_scaling_group
        if group is None or group.ec2_launch_template is None:
            return None
        version = getattr(self.instance, "deployer_launch_template_version", None)
        return {
            "LaunchTemplateId": group.ec2_launch_template.id,
            "LaunchTemplateName": group.ec2_launch_template.name,
            "Version": str(version if version is not None else group.ec2_launch_template.default_version_number),
        }

    models.InstanceState.launch_template = property(instance_launch_template)

    # Scheduled actions: per group, with an ARN, updated in place. Patched in the backend so that
    # BatchPutScheduledUpdateGroupAction / BatchDeleteScheduledAction (moto's) behave the same.
    def put_scheduled_update_group_action(
        self, name, desired_capacity, max_size, min_size, scheduled_action_name, start_time, end_time,
        recurrence, timezone,
    ):
        if name not in self.autoscaling_groups:
            raise models.ValidationError(f"Group {name} not found")
        key = (name, scheduled_action_name)
        action = self.scheduled_actions.get(key)
        sent = {
            "desired_capacity": models.make_int(desired_capacity),
            "max_size": models.make_int(max_size),
            "min_size": models.make_int(min_size),
            "start_time": start_time,
            "end_time": end_time,
            "recurrence": recurrence,
            "time_zone": timezone,
        }
        if action is None:
            action = models.FakeScheduledAction(
                autos_caling_group_name=name,
                desired_capacity=sent["desired_capacity"],
                max_size=sent["max_size"],
                min_size=sent["min_size"],
                scheduled_action_name=scheduled_action_name,
                start_time=start_time,
                end_time=end_time,
                recurrence=recurrence,
                time_zone=timezone,
            )
            action.scheduled_action_arn = (
                f"arn:{_partition(self.region_name)}:autoscaling:{self.region_name}:{self.account_id}:"
                f"scheduledUpdateGroupAction:{uuid.uuid4()}:autoScalingGroupName/{name}:"
                f"scheduledActionName/{scheduled_action_name}"
            )
            self.scheduled_actions[key] = action
        else:
            for attribute, value in sent.items():
                if value is not None:
                    setattr(action, attribute, value)
        return action

    def describe_scheduled_actions(self, autoscaling_group_name=None, scheduled_action_names=None):
        return [
            action
            for action in self.scheduled_actions.values()
            if (not autoscaling_group_name or action.auto_scaling_group_name == autoscaling_group_name)
            and (not scheduled_action_names or action.scheduled_action_name in scheduled_action_names)
        ]

    def delete_scheduled_action(self, auto_scaling_group_name, scheduled_action_name):
        if self.scheduled_actions.pop((auto_scaling_group_name, scheduled_action_name), None) is None:
            raise models.ValidationError("Scheduled action name not found")

    models.AutoScalingBackend.put_scheduled_update_group_action = put_scheduled_update_group_action
    models.AutoScalingBackend.describe_scheduled_actions = describe_scheduled_actions
    models.AutoScalingBackend.delete_scheduled_action = delete_scheduled_action

    # Each policy its own ARN (moto: one fixed UUID for all policies).
    def policy_arn(self):
        region = self.autoscaling_backend.region_name
        policy_id = getattr(self, "deployer_id", "c322761b-3172-4d56-9a21-0ed9d6161d67")
        return (
            f"arn:{_partition(region)}:autoscaling:{region}:{self.autoscaling_backend.account_id}:scalingPolicy:"
            f"{policy_id}:autoScalingGroupName/{self.auto_scaling_group_name}:policyName/{self.name}"
        )

    models.FakeScalingPolicy.arn = property(policy_arn)
    models.FakeScalingPolicy.policy_arn = property(policy_arn)
    _patched = True


def _partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


def _autoscaling(context: RequestContext):
    from moto.autoscaling.models import autoscaling_backends

    return backend(autoscaling_backends, context)


def _check_sizes(min_size, max_size, desired) -> None:
    if min_size is not None and max_size is not None and min_size > max_size:
        raise aws_error("ValidationError", f"Max bound, {max_size}, must be greater than or equal to min bound, {min_size}")
    if desired is not None and min_size is not None and max_size is not None and not min_size <= desired <= max_size:
        raise aws_error(
            "ValidationError",
            f"Desired capacity:{desired} must be between the specified min size:{min_size} and max size:{max_size}",
        )


# ---------------------------------------------------------------- groups


def create_auto_scaling_group(context: RequestContext, request: dict):
    name = request.get("AutoScalingGroupName")
    if name in _autoscaling(context).autoscaling_groups:
        raise aws_error("AlreadyExists", f"AutoScalingGroup by this name already exists - A group with the name {name} already exists")
    min_size, max_size = request.get("MinSize"), request.get("MaxSize")
    desired = request.get("DesiredCapacity")
    _check_sizes(min_size, max_size, desired if desired is not None else min_size)
    answer = call_moto(context)
    group = _autoscaling(context).autoscaling_groups.get(name)
    if group is not None:
        warmup = request.get("DefaultInstanceWarmup")
        group.default_instance_warmup = warmup if warmup is not None and warmup >= 0 else None
    return answer


def update_auto_scaling_group(context: RequestContext, request: dict):
    group = _autoscaling(context).autoscaling_groups.get(request.get("AutoScalingGroupName"))
    if group is None:
        return call_moto(context)  # moto's "AutoScalingGroup name not found" ValidationError
    min_size = request.get("MinSize", group.min_size)
    max_size = request.get("MaxSize", group.max_size)
    desired = request.get("DesiredCapacity")
    if desired is None:
        # AWS: a new MinSize above the current desired capacity raises it, a new MaxSize below lowers it.
        desired = group.desired_capacity
        if request.get("MinSize") is not None and desired is not None and request["MinSize"] > desired:
            desired = request["MinSize"]
        if request.get("MaxSize") is not None and desired is not None and request["MaxSize"] < desired:
            desired = request["MaxSize"]
    _check_sizes(min_size, max_size, desired)
    if request.get("DesiredCapacity") is None and desired is not None and desired != group.desired_capacity:
        answer = moto_call(context, "UpdateAutoScalingGroup", dict(request, DesiredCapacity=desired))
    else:
        answer = call_moto(context)
    # What moto's update leaves out.
    if request.get("TerminationPolicies") is not None:
        group.termination_policies = list(request["TerminationPolicies"]) or ["Default"]
    if request.get("DefaultInstanceWarmup") is not None:
        warmup = request["DefaultInstanceWarmup"]
        group.default_instance_warmup = warmup if warmup >= 0 else None  # -1 turns it off
    if request.get("DefaultCooldown") is not None:
        group.default_cooldown = request["DefaultCooldown"]
    if request.get("CapacityRebalance") is not None:
        group.capacity_rebalance = request["CapacityRebalance"]
    return answer


def set_desired_capacity(context: RequestContext, request: dict):
    name = request.get("AutoScalingGroupName")
    group = _autoscaling(context).autoscaling_groups.get(name)
    if group is None:
        raise aws_error("ValidationError", f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")
    desired = request.get("DesiredCapacity")
    if group.max_size is not None and desired > group.max_size:
        raise aws_error("ValidationError", f"New SetDesiredCapacity value {desired} is above max value {group.max_size} for the AutoScalingGroup.")
    if group.min_size is not None and desired < group.min_size:
        raise aws_error("ValidationError", f"New SetDesiredCapacity value {desired} is below min value {group.min_size} for the AutoScalingGroup.")
    return call_moto(context)


def delete_auto_scaling_group(context: RequestContext, request: dict):
    name = request.get("AutoScalingGroupName")
    autoscaling = _autoscaling(context)
    group = autoscaling.autoscaling_groups.get(name)
    if group is not None and group.instance_states and not request.get("ForceDelete"):
        raise aws_error(
            "ResourceInUse",
            "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.",
        )
    answer = call_moto(context)
    # AWS deletes the group's policies, scheduled actions and lifecycle hooks with it.
    for store in (autoscaling.policies, autoscaling.scheduled_actions, autoscaling.lifecycle_hooks):
        for key in [k for k, v in store.items() if v.auto_scaling_group_name == name]:
            del store[key]
    return answer


def terminate_instance_in_auto_scaling_group(context: RequestContext, request: dict):
    instance_id = request.get("InstanceId")
    state = next(
        (
            s
            for group in _autoscaling(context).autoscaling_groups.values()
            for s in group.instance_states
            if s.instance.id == instance_id
        ),
        None,
    )
    if state is None:
        raise aws_error("ValidationError", f"Instance Id not found - No managed instance found for instance ID: {instance_id}")
    group = state.auto_scaling_group
    if request.get("ShouldDecrementDesiredCapacity") and group.desired_capacity <= (group.min_size or 0):
        raise aws_error(
            "ValidationError",
            f"Currently, desiredSize equals minSize ({group.min_size}). Terminating instance without replacement will "
            "violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower "
            "group's min size.",
        )
    return call_moto(context)


# ---------------------------------------------------------------- scaling policies


def _alarms(policy) -> list[dict]:
    if policy.policy_type != "TargetTrackingScaling":
        return []
    backend_ = policy.autoscaling_backend
    prefix = f"arn:{_partition(backend_.region_name)}:cloudwatch:{backend_.region_name}:{backend_.account_id}:alarm:"
    kinds = ["AlarmHigh"] if (policy.deployer_target_tracking or {}).get("DisableScaleIn") else ["AlarmHigh", "AlarmLow"]
    names = [f"TargetTracking-{policy.auto_scaling_group_name}-{kind}-{policy.deployer_alarm_ids[kind]}" for kind in kinds]
    return [{"AlarmName": name, "AlarmARN": prefix + name} for name in names]


def _describe_policy(policy) -> dict:
    out = {
        "AutoScalingGroupName": policy.auto_scaling_group_name,
        "PolicyName": policy.name,
        "PolicyARN": policy.arn,
        "PolicyType": policy.policy_type,
        "StepAdjustments": policy.step_adjustments or [],
        "Alarms": _alarms(policy),
        "Enabled": policy.deployer_enabled,
    }
    optional = {
        "AdjustmentType": policy.adjustment_type,
        "MinAdjustmentMagnitude": policy.min_adjustment_magnitude,
        "ScalingAdjustment": policy.scaling_adjustment,
        "Cooldown": policy.cooldown,
        "MetricAggregationType": policy.metric_aggregation_type,
        "EstimatedInstanceWarmup": policy.estimated_instance_warmup,
        "TargetTrackingConfiguration": policy.deployer_target_tracking,
        "PredictiveScalingConfiguration": policy.predictive_scaling_configuration or None,
    }
    out.update({key: value for key, value in optional.items() if value is not None})
    return out


def _find_policy(autoscaling, group_name, policy_name):
    """The policy named (or whose ARN is) policy_name, of group_name if given."""
    for (group, name), policy in autoscaling.policies.items():
        if policy_name in (name, policy.arn) and (not group_name or group == group_name):
            return policy
    return None


def _tracked_metric(tracking):
    tracking = tracking or {}
    spec = tracking.get("PredefinedMetricSpecification") or tracking.get("CustomizedMetricSpecification")
    return json.dumps(spec, sort_keys=True, default=str)


def put_scaling_policy(context: RequestContext, request: dict):
    from moto.autoscaling.models import FakeScalingPolicy

    autoscaling = _autoscaling(context)
    group_name, name = request.get("AutoScalingGroupName"), request.get("PolicyName")
    if group_name not in autoscaling.autoscaling_groups:
        raise _group_not_found(group_name)
    policy_type = request.get("PolicyType") or "SimpleScaling"
    tracking = request.get("TargetTrackingConfiguration")
    if tracking is not None:
        tracking = dict(tracking)
        tracking.setdefault("DisableScaleIn", False)
    if policy_type == "TargetTrackingScaling":
        metric = _tracked_metric(tracking)
        for (group, other_name), other in autoscaling.policies.items():
            if (
                group == group_name
                and other_name != name
                and other.policy_type == "TargetTrackingScaling"
                and _tracked_metric(other.deployer_target_tracking) == metric
            ):
                raise aws_error("ValidationError", "Only one TargetTrackingScaling policy for a given metric specification is allowed.")
    policy = FakeScalingPolicy(
        name,
        policy_type,
        request.get("MetricAggregationType"),
        adjustment_type=request.get("AdjustmentType"),
        as_name=group_name,
        min_adjustment_magnitude=request.get("MinAdjustmentMagnitude", request.get("MinAdjustmentStep")),
        scaling_adjustment=request.get("ScalingAdjustment"),
        cooldown=request.get("Cooldown"),
        target_tracking_config=tracking or {},
        step_adjustments=request.get("StepAdjustments") or [],
        estimated_instance_warmup=request.get("EstimatedInstanceWarmup"),
        predictive_scaling_configuration=request.get("PredictiveScalingConfiguration"),
        autoscaling_backend=autoscaling,
    )
    if policy_type == "SimpleScaling" and request.get("Cooldown") is None:
        policy.cooldown = None  # AWS reports no cooldown unless one was set (the group's applies)
    policy.deployer_target_tracking = tracking if policy_type == "TargetTrackingScaling" else None
    policy.deployer_enabled = request.get("Enabled", True)
    previous = autoscaling.policies.get((group_name, name))
    # An update keeps the policy's ARN and alarms, as on AWS.
    policy.deployer_id = previous.deployer_id if previous is not None else str(uuid.uuid4())
    policy.deployer_alarm_ids = (
        previous.deployer_alarm_ids
        if previous is not None
        else {"AlarmHigh": str(uuid.uuid4()), "AlarmLow": str(uuid.uuid4())}
    )
    autoscaling.policies[(group_name, name)] = policy
    answer = {"PolicyARN": policy.arn}
    alarms = _alarms(policy)
    if alarms:
        answer["Alarms"] = alarms
    return answer


def describe_policies(context: RequestContext, request: dict):
    autoscaling = _autoscaling(context)
    group_name = request.get("AutoScalingGroupName")
    if group_name and group_name not in autoscaling.autoscaling_groups:
        raise _group_not_found(group_name)
    names = request.get("PolicyNames") or []
    types = request.get("PolicyTypes") or []
    found = [
        policy
        for (group, name), policy in autoscaling.policies.items()
        if (not group_name or group == group_name)
        and (not names or name in names or policy.arn in names)
        and (not types or policy.policy_type in types)
    ]
    return {"ScalingPolicies": [_describe_policy(policy) for policy in found]}


def delete_policy(context: RequestContext, request: dict):
    autoscaling = _autoscaling(context)
    group_name, name = request.get("AutoScalingGroupName"), request.get("PolicyName")
    if group_name and group_name not in autoscaling.autoscaling_groups:
        raise _group_not_found(group_name)
    policy = _find_policy(autoscaling, group_name, name)
    if policy is None:
        raise aws_error("ValidationError", f"Policy {name} not found")
    del autoscaling.policies[(policy.auto_scaling_group_name, policy.name)]
    return {}


def execute_policy(context: RequestContext, request: dict):
    autoscaling = _autoscaling(context)
    group_name, name = request.get("AutoScalingGroupName"), request.get("PolicyName")
    if group_name and group_name not in autoscaling.autoscaling_groups:
        raise _group_not_found(group_name)
    policy = _find_policy(autoscaling, group_name, name)
    if policy is None:
        raise aws_error("ValidationError", f"Policy {name} not found")
    group = autoscaling.autoscaling_groups.get(policy.auto_scaling_group_name)
    if group is None or policy.policy_type != "SimpleScaling" or policy.scaling_adjustment is None:
        return {}  # nothing to emulate: target tracking and step policies follow CloudWatch metrics
    current = group.desired_capacity or 0
    adjustment = policy.scaling_adjustment
    if policy.adjustment_type == "ExactCapacity":
        desired = adjustment
    elif policy.adjustment_type == "PercentChangeInCapacity":
        change = current * adjustment / 100.0
        step = int(change) if abs(change) >= 1 else (1 if change > 0 else -1 if change < 0 else 0)
        desired = current + step
    else:  # ChangeInCapacity
        desired = current + adjustment
    # A policy never takes the group outside min..max.
    desired = max(group.min_size or 0, min(group.max_size if group.max_size is not None else desired, desired))
    autoscaling.set_desired_capacity(group.name, desired)
    return {}


# The group metrics of the EnableMetricsCollection API reference (warm pool metrics aside).
_GROUP_METRICS = [
    "GroupMinSize", "GroupMaxSize", "GroupDesiredCapacity", "GroupInServiceInstances",
    "GroupPendingInstances", "GroupStandbyInstances", "GroupTerminatingInstances", "GroupTotalInstances",
    "GroupInServiceCapacity", "GroupPendingCapacity", "GroupStandbyCapacity", "GroupTerminatingCapacity",
    "GroupTotalCapacity",
]


def _metrics_group(context: RequestContext, request: dict):
    autoscaling = _autoscaling(context)
    name = request.get("AutoScalingGroupName")
    group = autoscaling.autoscaling_groups.get(name)
    if group is None:
        raise _group_not_found(name)
    return group


def enable_metrics_collection(context: RequestContext, request: dict):
    group = _metrics_group(context, request)
    wanted = request.get("Metrics") or _GROUP_METRICS
    group.metrics = list(group.metrics) + [m for m in wanted if m not in group.metrics]
    return {}


def disable_metrics_collection(context: RequestContext, request: dict):
    group = _metrics_group(context, request)
    unwanted = request.get("Metrics") or list(group.metrics)
    group.metrics = [m for m in group.metrics if m not in unwanted]
    return {}


OVERRIDES = {
    "CreateAutoScalingGroup": create_auto_scaling_group,
    "UpdateAutoScalingGroup": update_auto_scaling_group,
    "SetDesiredCapacity": set_desired_capacity,
    "DeleteAutoScalingGroup": delete_auto_scaling_group,
    "TerminateInstanceInAutoScalingGroup": terminate_instance_in_auto_scaling_group,
    "PutScalingPolicy": put_scaling_policy,
    "DescribePolicies": describe_policies,
    "DeletePolicy": delete_policy,
    "ExecutePolicy": execute_policy,
    "EnableMetricsCollection": enable_metrics_collection,
    "DisableMetricsCollection": disable_metrics_collection,
}
