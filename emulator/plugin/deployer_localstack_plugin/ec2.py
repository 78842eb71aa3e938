"""EC2: LocalStack's own provider, with CreateImage completed.

``scripts/emulator`` starts LocalStack with ``PROVIDER_OVERRIDE_EC2=deployer``, which makes LocalStack
load the ``ec2:deployer`` provider (``providers.ec2_deployer``) instead of its ``ec2:default``. That
provider is LocalStack's ``Ec2Provider`` with ``create_image`` overridden; every other operation goes
where it went before (LocalStack's handlers, else moto).
"""

import threading

from localstack.aws.api import RequestContext, handler
from localstack.aws.api.ec2 import CreateImageRequest, CreateImageResult
from localstack.services.ec2.provider import Ec2Provider
from localstack.services.moto import call_moto, call_moto_with_request

from .common import aws_error, backend


def _ec2(context: RequestContext):
    from moto.ec2.models import ec2_backends

    return backend(ec2_backends, context)


class DeployerEc2Provider(Ec2Provider):
    # Serializes CreateImage, so that the name check below and the creation are one step.
    _create_image_lock = threading.Lock()

    @handler("CreateImage", expand=False)
    def create_image(self, context: RequestContext, request: CreateImageRequest) -> CreateImageResult:
        with self._create_image_lock:
            return self._create_image(context, request)

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
