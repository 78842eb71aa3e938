"""Auto Scaling: moto's group behaviour brought closer to AWS where deployer depends on it.

- CreateAutoScalingGroup with a name in use answers AlreadyExists (moto replaced the group, leaking its
  instances).
- DeleteAutoScalingGroup of a group that still has instances needs ForceDelete (ResourceInUse otherwise).
- Instances are launched from the launch template version the group names (moto launched the
  template's default version for everything but image, type, user data and security groups) and report
  that version in DescribeAutoScalingGroups / DescribeAutoScalingInstances.
- Instances are spread over the group's subnets, balancing AZs as AWS does (moto put every instance in
  the first subnet, with a random AZ that need not match it).
"""

from localstack.aws.api import RequestContext
from localstack.services.moto import call_moto

from .common import aws_error, backend

_patched = False


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
    _patched = True


def _autoscaling(context: RequestContext):
    from moto.autoscaling.models import autoscaling_backends

    return backend(autoscaling_backends, context)


def create_auto_scaling_group(context: RequestContext, request: dict):
    name = request.get("AutoScalingGroupName")
    if name in _autoscaling(context).autoscaling_groups:
        raise aws_error("AlreadyExists", f"AutoScalingGroup by this name already exists - A group with the name {name} already exists")
    return call_moto(context)


def delete_auto_scaling_group(context: RequestContext, request: dict):
    group = _autoscaling(context).autoscaling_groups.get(request.get("AutoScalingGroupName"))
    if group is not None and group.instance_states and not request.get("ForceDelete"):
        raise aws_error(
            "ResourceInUse",
            "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.",
        )
    return call_moto(context)


OVERRIDES = {
    "CreateAutoScalingGroup": create_auto_scaling_group,
    "DeleteAutoScalingGroup": delete_auto_scaling_group,
}
