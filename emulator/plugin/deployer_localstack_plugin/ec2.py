"""EC2: LocalStack's own provider, with CreateImage and ModifyLaunchTemplate completed.

``scripts/emulator`` starts LocalStack with ``PROVIDER_OVERRIDE_EC2=deployer``, which makes LocalStack
load the ``ec2:deployer`` provider (``providers.ec2_deployer``) instead of its ``ec2:default``. That
provider is LocalStack's ``Ec2Provider`` with ``create_image`` and ``modify_launch_template`` overridden;
every other operation goes where it went before (LocalStack's handlers, else moto).

``apply_model_patches`` fixes moto's launch template model; it is applied by the Auto Scaling provider
too, so it holds whichever EC2 provider runs.
"""

import base64
import threading
import time

from localstack.aws.api import RequestContext, handler
from localstack.aws.api.ec2 import (
    CreateImageRequest,
    CreateImageResult,
    ModifyLaunchTemplateRequest,
    ModifyLaunchTemplateResult,
)
from localstack.services.ec2.provider import Ec2Provider
from localstack.services.moto import call_moto, call_moto_with_request

from .common import aws_error, backend


def _ec2(context: RequestContext):
    from moto.ec2.models import ec2_backends

    return backend(ec2_backends, context)


_patched = False


def apply_model_patches() -> None:
    """CreateLaunchTemplateVersion stores UserData as moto's Base64EncodedString, as CreateLaunchTemplate does.

    moto's CreateLaunchTemplateVersion kept the plain string, and everything that later read the version's
    user data (an Auto Scaling group launching from it, RunInstances with it) failed an assertion: 500
    InternalError, e.g. "exception while calling autoscaling.UpdateAutoScalingGroup" on a scale-out.
    """
    global _patched
    if _patched:
        return
    from moto.ec2.models.launch_templates import LaunchTemplate
    from moto.ec2.utils import parse_user_data

    moto_create_version = LaunchTemplate.create_version

    def create_version(self, data, description):
        user_data = (data or {}).get("UserData")
        if isinstance(user_data, (str, bytes)):
            data = dict(data, UserData=parse_user_data(user_data))  # InvalidUserData.Malformed if not base64
        return moto_create_version(self, data, description)

    LaunchTemplate.create_version = create_version
    _patch_default_vpc()
    _patch_gateway_endpoints()
    _patch_nat_gateway_delete()
    _patched = True


def _patch_default_vpc() -> None:
    """The default VPC has an internet gateway, and its main route table sends 0.0.0.0/0 to it.

    AWS's default VPC comes with both ("Default VPCs", Amazon VPC user guide: "Create an internet
    gateway and connect it to your default VPC"; "Add a route to the main route table that points
    all traffic (0.0.0.0/0) to the internet gateway"). moto's has neither, so plan's egress check
    saw the default VPC's subnets as routing nowhere. Backends made before the patch (none: the
    patch is applied when the provider loads) keep moto's.
    """
    from moto.ec2.models.vpcs import VPCBackend

    moto_create_default_vpc = VPCBackend.create_default_vpc

    def create_default_vpc(self):
        vpc = moto_create_default_vpc(self)
        igw = self.create_internet_gateway()
        self.attach_internet_gateway(igw.id, vpc.id)
        for table in self.describe_route_tables(filters={"vpc-id": [vpc.id], "association.main": ["true"]}):
            self.create_route(table.id, "0.0.0.0/0", gateway_id=igw.id)
        return vpc

    VPCBackend.create_default_vpc = create_default_vpc


def _patch_gateway_endpoints() -> None:
    """An endpoint already deleted is not deleted again (moto tried to remove its routes a second
    time, and failed on them); AWS answers such a delete without error."""
    from moto.ec2.models.vpcs import VPCBackend

    moto_delete = VPCBackend.delete_vpc_endpoints

    def delete_vpc_endpoints(self, vpce_ids=None):
        live = [i for i in vpce_ids or []
                if getattr(self.vpc_end_points.get(i), "state", None) != "deleted"]
        return moto_delete(self, live)

    VPCBackend.delete_vpc_endpoints = delete_vpc_endpoints


def _patch_nat_gateway_delete() -> None:
    """Deleting a NAT gateway deletes its network interface and disassociates its elastic IP (which
    stays allocated): "When you delete a NAT gateway, its Elastic IP address is disassociated, but
    not released" (Amazon VPC user guide, "Delete a NAT gateway"). moto left both, so the public
    subnet kept an interface and the address an association.
    """
    from moto.ec2.models.nat_gateways import NatGatewayBackend

    moto_delete = NatGatewayBackend.delete_nat_gateway

    def delete_nat_gateway(self, nat_gateway_id):
        gateway = moto_delete(self, nat_gateway_id)
        eni = getattr(gateway, "_eni", None)
        if eni is not None:
            for address in list(getattr(self, "addresses", [])):
                if address.eni is eni:
                    self.disassociate_address(address=address.public_ip)
            self.enis.pop(eni.id, None)
        return gateway

    NatGatewayBackend.delete_nat_gateway = delete_nat_gateway


# The instance tag a test writes a node's console lines into (see GetConsoleOutput).
CONSOLE_TAG = "emulator:console"

# How long a terminated instance stays listed. AWS lists one for about an hour; moto for ever, and
# DescribeInstances slows down with every instance it lists (about 1 s per call after a few hundred
# test stacks), until waits time out.
TERMINATED_VISIBLE_SECONDS = 60.0


class DeployerEc2Provider(Ec2Provider):
    # Serializes CreateImage, so that the name check below and the creation are one step.
    _create_image_lock = threading.Lock()
    # Instance id -> when it was first seen terminated.
    _terminated_seen: dict[str, float] = {}
    _purge_lock = threading.Lock()

    @handler("GetConsoleOutput", expand=False)
    def get_console_output(self, context: RequestContext, request):
        """The emulator runs no user data, so its console shows a fixed boot log. A test that plays a
        node writes what the node would print into the instance's tag `emulator:console` (lines
        separated by " | "): it follows the boot log here, as a template's output follows the boot on
        AWS."""
        answer = call_moto(context)
        ec2 = _ec2(context)
        instance = ec2.get_instance(request.get("InstanceId"))
        written = ec2.tags.get(instance.id, {}).get(CONSOLE_TAG)
        if written:
            boot = base64.b64decode(answer.get("Output") or "").decode("utf-8", "replace")
            text = boot.rstrip("\n") + "\n" + "\n".join(written.split(" | ")) + "\n"
            answer["Output"] = base64.b64encode(text.encode()).decode()
        return answer

    @handler("StopInstances", expand=False)
    def stop_instances(self, context: RequestContext, request):
        """A terminated instance cannot be stopped (moto brought it back as `stopped`)."""
        ec2 = _ec2(context)
        for instance_id in request.get("InstanceIds") or []:
            instance = ec2.get_instance(instance_id)  # InvalidInstanceID.NotFound as AWS
            if instance.state_code in (32, 48):  # shutting-down, terminated
                raise aws_error(
                    "IncorrectInstanceState",
                    f"This instance '{instance_id}' is not in a state from which it can be stopped.",
                )
        return call_moto(context)

    # (account, region, action, client token) -> the first answer.
    _answers_by_token: dict = {}
    _token_lock = threading.Lock()

    def _idempotent(self, context: RequestContext, request, action: str):
        """A create repeated with the same ClientToken answers as the first did, and makes
        nothing ("Ensuring idempotency in Amazon EC2 API requests", EC2 API reference). moto
        ignores the token of these creates, so an SDK retry of one whose answer was lost made a
        second."""
        token = request.get("ClientToken")
        if not token:
            return call_moto(context)
        key = (context.account_id, context.region, action, token)
        with self._token_lock:
            if key not in self._answers_by_token:
                self._answers_by_token[key] = call_moto(context)
            return self._answers_by_token[key]

    @handler("CreateNatGateway", expand=False)
    def create_nat_gateway(self, context: RequestContext, request):
        return self._idempotent(context, request, "CreateNatGateway")

    @handler("CreateRouteTable", expand=False)
    def create_route_table(self, context: RequestContext, request):
        return self._idempotent(context, request, "CreateRouteTable")

    @handler("CreateVpcEndpoint", expand=False)
    def create_vpc_endpoint(self, context: RequestContext, request):
        return self._idempotent(context, request, "CreateVpcEndpoint")

    @handler("ModifyVpcEndpoint", expand=False)
    def modify_vpc_endpoint(self, context: RequestContext, request):
        """AddRouteTableIds / RemoveRouteTableIds add and remove a gateway endpoint's route (to its
        service's prefix list) in those tables, as CreateVpcEndpoint adds it ("Gateway endpoints",
        AWS PrivateLink guide: route tables can be added or removed, and their routes with them).
        LocalStack's handler only records the table ids, so deleting the endpoint later failed on
        a route never made."""
        ec2 = _ec2(context)
        endpoint = ec2.vpc_end_points.get(request.get("VpcEndpointId"))
        before = set(endpoint.route_table_ids or []) if endpoint else set()
        answer = super().modify_vpc_endpoint(
            context,
            vpc_endpoint_id=request.get("VpcEndpointId"),
            policy_document=request.get("PolicyDocument"),
            add_route_table_ids=request.get("AddRouteTableIds"),
            remove_route_table_ids=request.get("RemoveRouteTableIds"),
            add_subnet_ids=request.get("AddSubnetIds"),
            remove_subnet_ids=request.get("RemoveSubnetIds"),
            private_dns_enabled=request.get("PrivateDnsEnabled"),
        )
        prefix_list = getattr(endpoint, "destination_prefix_list_id", None)
        if endpoint is not None and prefix_list:
            for table in request.get("AddRouteTableIds") or []:
                if table not in before:
                    ec2.create_route(table, None, gateway_id=endpoint.id,
                                     destination_prefix_list_id=prefix_list)
            for table in request.get("RemoveRouteTableIds") or []:
                if table in before:
                    ec2.delete_route(table, prefix_list)
        return answer

    @handler("DescribeVpcEndpoints", expand=False)
    def describe_vpc_endpoints(self, context: RequestContext, request):
        """An interface endpoint lists its security groups (Groups: GroupId, GroupName), as AWS's
        answer does (VpcEndpoint, EC2 API reference); moto kept them but left them out."""
        answer = call_moto(context)
        ec2 = _ec2(context)
        for endpoint in answer.get("VpcEndpoints", []):
            model = ec2.vpc_end_points.get(endpoint.get("VpcEndpointId"))
            ids = getattr(model, "security_group_ids", None) or []
            if ids and not endpoint.get("Groups"):
                groups = []
                for group_id in ids:
                    group = ec2.get_security_group_from_id(group_id)
                    groups.append({"GroupId": group_id,
                                   "GroupName": getattr(group, "name", group_id)})
                endpoint["Groups"] = groups
        return answer

    @handler("DescribeNatGateways", expand=False)
    def describe_nat_gateways(self, context: RequestContext, request):
        """The `tag:<key>` filters apply, as on AWS (moto ignores them and lists every gateway,
        so a stack would see another's as its own)."""
        answer = call_moto(context)
        wanted = [
            (f["Name"][len("tag:"):], set(f.get("Values") or []))
            for f in request.get("Filter") or []
            if f.get("Name", "").startswith("tag:")
        ]
        if wanted:
            def tagged(gateway):
                tags = {t["Key"]: t["Value"] for t in gateway.get("Tags") or []}
                return all(tags.get(key) in values for key, values in wanted)

            answer["NatGateways"] = [g for g in answer.get("NatGateways", []) if tagged(g)]
        return answer

    @handler("DescribeInstances", expand=False)
    def describe_instances(self, context: RequestContext, request):
        self._purge_terminated(context)
        return call_moto(context)

    def _purge_terminated(self, context: RequestContext) -> None:
        now = time.monotonic()
        ec2 = _ec2(context)
        with self._purge_lock:
            for reservation_id, reservation in list(ec2.reservations.items()):
                removed = False
                for instance in list(reservation.instances):
                    if instance.state_code != 48:  # terminated
                        continue
                    seen = self._terminated_seen.setdefault(instance.id, now)
                    if now - seen > TERMINATED_VISIBLE_SECONDS:
                        reservation.instances.remove(instance)
                        self._terminated_seen.pop(instance.id, None)
                        removed = True
                # Only a reservation this purge emptied: RunInstances, in another thread, adds its
                # reservation before its instances, and an empty one may be filling right now.
                if removed and not reservation.instances:
                    del ec2.reservations[reservation_id]

    @handler("CreateImage", expand=False)
    def create_image(self, context: RequestContext, request: CreateImageRequest) -> CreateImageResult:
        with self._create_image_lock:
            return self._create_image(context, request)

    @handler("DescribeSnapshots", expand=False)
    def describe_snapshots(self, context: RequestContext, request):
        """Honour OwnerIds, as AWS does.

        moto ignores OwnerIds and lists the ~1,200 snapshots of its bundled public images with this
        account's own, which also makes the call take seconds. OwnerIds becomes an owner-id filter,
        applied first (moto applies filters in order, so the tag filters then see few snapshots).
        """
        owners = request.get("OwnerIds") or []
        if not owners or request.get("SnapshotIds"):
            return call_moto(context)
        owner_ids = [context.account_id if owner == "self" else owner for owner in owners]
        filters = [{"Name": "owner-id", "Values": owner_ids}] + list(request.get("Filters") or [])
        local = {key: value for key, value in request.items() if key != "OwnerIds"}
        local["Filters"] = filters
        return call_moto_with_request(context, local)

    @handler("ModifyLaunchTemplate", expand=False)
    def modify_launch_template(
        self, context: RequestContext, request: ModifyLaunchTemplateRequest
    ) -> ModifyLaunchTemplateResult:
        # LocalStack's handler reads request["LaunchTemplateId"] and request["DefaultVersion"]: a template
        # given by LaunchTemplateName, or no DefaultVersion, was a 500 (KeyError).
        if not request.get("LaunchTemplateId"):
            name = request.get("LaunchTemplateName")
            if not name:
                raise aws_error("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId")
            template = _ec2(context).get_launch_template_by_name(name)  # InvalidLaunchTemplateName.NotFoundException
            request = dict(request, LaunchTemplateId=template.id)
        if request.get("DefaultVersion") is None:
            template = _ec2(context).get_launch_template(request["LaunchTemplateId"])
            return ModifyLaunchTemplateResult(
                LaunchTemplate={
                    "LaunchTemplateId": template.id,
                    "LaunchTemplateName": template.name,
                    "CreateTime": template.create_time,
                    "DefaultVersionNumber": template.default_version_number,
                    "LatestVersionNumber": template.latest_version_number,
                    "Tags": template.tags,
                }
            )
        return super().modify_launch_template(context, request)

    def _create_image(self, context: RequestContext, request: CreateImageRequest) -> CreateImageResult:
        ec2 = _ec2(context)
        # moto creates a second image of the same name; AWS refuses (names are unique per account and
        # region among registered images), which is what tells a re-run that its image exists.
        name = request.get("Name")
        if not request.get("DryRun"):
            for image in list(ec2.amis.values()):
                if image.name == name and image.owner_id == context.account_id:
                    raise aws_error(
                        "InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {image.id}"
                    )

        # moto raises NotImplementedError (501 InternalFailure) for a TagSpecifications entry of
        # ResourceType=snapshot. AWS tags every snapshot the image creates with it, so that nothing exists
        # untagged: let moto create the image without that entry, then tag the image's snapshots here.
        specs = request.get("TagSpecifications") or []
        snapshot_specs = [spec for spec in specs if spec.get("ResourceType") == "snapshot"]
        if not snapshot_specs:
            return call_moto(context)
        snapshot_tags = {
            tag["Key"]: tag.get("Value", "") for spec in snapshot_specs for tag in spec.get("Tags") or []
        }
        rest = [spec for spec in specs if spec.get("ResourceType") != "snapshot"]
        local = {key: value for key, value in request.items() if key != "TagSpecifications"}
        if rest:
            local["TagSpecifications"] = rest
        # moto checks the rest (unknown instance, other resource types, DryRun) before it creates anything.
        result = call_moto_with_request(context, local)

        image = ec2.amis[result["ImageId"]]
        # moto gives each image one snapshot (ebs_snapshot), the one its block device mapping names; take
        # every snapshot the mappings name, in case a later moto makes one per volume as AWS does.
        snapshot_ids = {
            mapping["Ebs"]["SnapshotId"]
            for mapping in image.block_device_mappings
            if mapping.get("Ebs", {}).get("SnapshotId")
        }
        if getattr(image, "ebs_snapshot", None) is not None:
            snapshot_ids.add(image.ebs_snapshot.id)
        if snapshot_tags and snapshot_ids:
            ec2.create_tags(sorted(snapshot_ids), snapshot_tags)
        return result
