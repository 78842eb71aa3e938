"""Resource Groups Tagging API: GetResources finds KMS keys by their tags.

LocalStack answers GetResources from moto's backends, but its KMS is LocalStack's own provider, whose
keys moto's KMS backend never sees: a search for `kms:key` found nothing. On AWS, GetResources lists
every taggable resource of the account and region that matches ("GetResources", Resource Groups Tagging
API reference). Here the KMS part is answered from LocalStack's KMS store (its keys and their tags); the
other resource types stay moto's.
"""

from localstack.aws.api import RequestContext, handler
from localstack.services.moto import call_moto
from localstack.services.resourcegroupstaggingapi.provider import ResourcegroupstaggingapiProvider

_KMS_TYPES = ("kms", "kms:key")


def _matches(tags: dict, filters: list) -> bool:
    """AWS's TagFilters: every filter's key present, with one of its values when it lists any."""
    return all(
        f.get("Key") in tags and (not f.get("Values") or tags[f["Key"]] in f["Values"])
        for f in filters
    )


class DeployerTaggingProvider(ResourcegroupstaggingapiProvider):
    @handler("GetResources", expand=False)
    def get_resources(self, context: RequestContext, request):
        types = request.get("ResourceTypeFilters") or []
        answer = call_moto(context)
        if types and not any(t in _KMS_TYPES for t in types):
            return answer
        from localstack.services.kms.models import kms_stores

        store = kms_stores[context.account_id][context.region]
        filters = request.get("TagFilters") or []
        keys = []
        for key in list(store.keys.values()):
            arn = key.metadata.get("Arn")
            tags = dict(store.tags.get_tags(arn) or {})
            if arn and _matches(tags, filters):
                keys.append({"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})
        others = [
            m for m in answer.get("ResourceTagMappingList", [])
            if ":kms:" not in m.get("ResourceARN", "") and (not types or any(t not in _KMS_TYPES for t in types))
        ]
        answer["ResourceTagMappingList"] = others + keys
        return answer
