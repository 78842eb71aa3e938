"""ElastiCache: what moto lacks or gets wrong for a Redis replication group, filled in.

- ModifyReplicationGroup and DeleteCacheSubnetGroup are not in moto: implemented here.
- moto ignores NumCacheClusters (a group always had one node): patched to honour it.
- moto's member clusters exist only inside the group: here they are also real cache clusters
  (DescribeCacheClusters shows their EngineVersion, CacheSubnetGroupName and SecurityGroups, as on AWS).
- moto left a deleted group in "deleting" for ever (so its id could not be reused): it is now gone
  right after DeleteReplicationGroup answers "deleting", with its member clusters and tags.
- Node AZs default to the AZs of the cache subnet group (moto used us-east-1a/b whatever the subnets).
- CacheSubnetGroup.Subnets[].SubnetAvailabilityZone is a {"Name": az} structure (moto sent a string).
- NodeGroups[].ReaderEndpoint is reported (moto had the address but did not send it).
"""

from datetime import datetime, timezone

from localstack.aws.api import RequestContext
from localstack.services.moto import call_moto

from .common import aws_error, backend, moto_call

_patched = False


def apply_patches() -> None:
    global _patched
    if _patched:
        return
    from moto.elasticache import models

    original_members = models.ReplicationGroup._set_node_members_clusters_disabled

    def _set_node_members_clusters_disabled(self, **kwargs):
        wanted = kwargs.get("num_cache_clusters") or 1
        if not kwargs.get("replicas_per_node_group") and wanted > 1:
            kwargs["replicas_per_node_group"] = wanted - 1
        return original_members(self, **kwargs)

    models.ReplicationGroup._set_node_members_clusters_disabled = _set_node_members_clusters_disabled

    original_subnet_group_init = models.CacheSubnetGroup.__init__

    def _subnet_group_init(self, *args, **kwargs):
        original_subnet_group_init(self, *args, **kwargs)
        for subnet in self.subnets:
            zone = subnet.pop("Subnet_availability_zone", None) or subnet.get("subnet_availability_zone")
            if isinstance(zone, str):
                zone = {"Name": zone}
            subnet["subnet_availability_zone"] = zone

    models.CacheSubnetGroup.__init__ = _subnet_group_init

    models.CacheCluster.security_groups = property(
        lambda self: [{"SecurityGroupId": group, "Status": "active"} for group in (self.security_group_ids or [])]
    )
    _patched = True


def _backend(context: RequestContext):
    from moto.elasticache.models import elasticache_backends

    return backend(elasticache_backends, context)


def _not_found(replication_group_id: str):
    return aws_error("ReplicationGroupNotFoundFault", f"ReplicationGroup {replication_group_id} not found.", 404)


def _describe_group(context: RequestContext, replication_group_id: str) -> dict:
    answer = moto_call(context, "DescribeReplicationGroups", {"ReplicationGroupId": replication_group_id})
    return answer["ReplicationGroups"][0]


def _members(group) -> list[dict]:
    return [member for node_group in group.node_groups for member in node_group.get("node_group_members", [])]


def _subnet_group_azs(elasticache, name: str | None) -> list[str]:
    subnet_group = elasticache.cache_subnet_groups.get(name) if name else None
    if not subnet_group:
        return []
    zones = []
    for subnet in subnet_group.subnets:
        zone = subnet.get("subnet_availability_zone")
        zone = zone.get("Name") if isinstance(zone, dict) else zone
        if zone and zone not in zones:
            zones.append(zone)
    return sorted(zones)


def create_replication_group(context: RequestContext, request: dict):
    elasticache = _backend(context)
    subnet_group = request.get("CacheSubnetGroupName")
    if subnet_group and subnet_group not in elasticache.cache_subnet_groups:
        raise aws_error("CacheSubnetGroupNotFoundFault", f"CacheSubnetGroup {subnet_group} not found.")
    call_moto(context)

    from moto.elasticache.models import CacheCluster

    group = elasticache.replication_groups[request["ReplicationGroupId"]]
    zones = _subnet_group_azs(elasticache, subnet_group)
    for node_group in group.node_groups:
        if node_group.get("reader_endpoint_address") and not node_group.get("reader_endpoint"):
            node_group["reader_endpoint"] = {"address": node_group["reader_endpoint_address"], "port": group.port}
    members = _members(group)
    if zones and not request.get("PreferredCacheClusterAZs") and group.cluster_mode != "enabled":
        for index, member in enumerate(members):
            member["preferred_availability_zone"] = zones[index % len(zones)]
    for member in members:
        cluster = CacheCluster(
            account_id=elasticache.account_id,
            region_name=elasticache.region_name,
            cache_cluster_id=member["cache_cluster_id"],
            cache_node_type=group.cache_node_type,
            replication_group_id=group.replication_group_id,
            az_mode="single-az",
            preferred_availability_zone=member.get("preferred_availability_zone"),
            num_cache_nodes=1,
            engine=group.engine,
            engine_version=group.engine_version,
            cache_parameter_group_name=group.cache_parameter_group_name,
            cache_subnet_group_name=group.cache_subnet_group_name,
            transit_encryption_enabled=group.transit_encryption_enabled,
            network_type=group.network_type,
            ip_discovery=group.ip_discovery,
            snapshot_name=None,
            preferred_maintenance_window=group.preferred_maintenance_window,
            port=group.port,
            notification_topic_arn=group.notification_topic_arn,
            auto_minor_version_upgrade=group.auto_minor_version_upgrade,
            snapshot_retention_limit=group.snapshot_retention_limit,
            snapshot_window=group.snapshot_window,
            auth_token=request.get("AuthToken"),
            outpost_mode=None,
            preferred_outpost_arn=None,
            preferred_availability_zones=None,
            cache_security_group_names=None,
            security_group_ids=list(group.security_group_ids or []),
            tags=None,
            snapshot_arns=None,
            preferred_outpost_arns=None,
            log_delivery_configurations=[],
            cache_node_ids_to_remove=None,
            cache_node_ids_to_reboot=None,
        )
        cluster.num_cache_nodes = 1
        cluster.at_rest_encryption_enabled = group.at_rest_encryption_enabled
        elasticache.cache_clusters[cluster.cache_cluster_id] = cluster
    return {"ReplicationGroup": _describe_group(context, group.replication_group_id)}


def modify_replication_group(context: RequestContext, request: dict):
    """ModifyReplicationGroup for a cluster-mode-disabled group. Changes apply at once (the emulator has
    no maintenance window), whatever ApplyImmediately says."""
    elasticache = _backend(context)
    group_id = request["ReplicationGroupId"]
    group = elasticache.replication_groups.get(group_id)
    if group is None:
        raise _not_found(group_id)
    if group.status != "available":
        raise aws_error(
            "InvalidReplicationGroupState",
            f"Replication group {group_id} must be in available state to be modified (it is {group.status}).",
        )
    members = _members(group)

    failover = request.get("AutomaticFailoverEnabled")
    multi_az = request.get("MultiAZEnabled")
    will_failover = failover if failover is not None else group.automatic_failover == "enabled"
    will_multi_az = multi_az if multi_az is not None else group.multi_az == "enabled"
    if will_multi_az and not will_failover:
        raise aws_error(
            "InvalidParameterCombination",
            "Multi-AZ requires automatic failover: enable AutomaticFailover, or disable Multi-AZ with it.",
        )
    if will_failover and group.cluster_mode != "enabled" and len(members) < 2:
        raise aws_error(
            "InvalidParameterCombination",
            f"Automatic failover cannot be enabled for replication group {group_id}: it needs at least one replica.",
        )
    node_type = request.get("CacheNodeType")
    if node_type is not None and not node_type.startswith("cache."):
        raise aws_error("InvalidParameterValue", f"Invalid CacheNodeType: {node_type}")
    security_groups = request.get("SecurityGroupIds")
    if security_groups is not None:
        from moto.ec2.models import ec2_backends

        ec2 = backend(ec2_backends, context)
        unknown = [g for g in security_groups if ec2.get_security_group_from_id(g) is None]
        if unknown:
            raise aws_error("InvalidParameterValue", f"Some security group Id(s) are not valid: {', '.join(unknown)}")
    strategy = request.get("AuthTokenUpdateStrategy")
    token = request.get("AuthToken")
    if token is not None or strategy is not None:
        transit = request.get("TransitEncryptionEnabled")
        if not (transit if transit is not None else group.transit_encryption_enabled):
            raise aws_error(
                "InvalidParameterCombination", "AuthToken can be modified only when transit encryption is enabled."
            )
        if strategy in (None, "SET", "ROTATE") and not token:
            raise aws_error("InvalidParameterValue", "AuthToken is required with AuthTokenUpdateStrategy SET or ROTATE.")

    if "ReplicationGroupDescription" in request:
        group.description = request["ReplicationGroupDescription"]
    if failover is not None:
        group.automatic_failover = "enabled" if failover else "disabled"
    if multi_az is not None:
        group.multi_az = "enabled" if multi_az else "disabled"
    if node_type is not None:
        group.cache_node_type = node_type
    if security_groups is not None:
        group.security_group_ids = list(security_groups)
    simple = {
        "EngineVersion": "engine_version",
        "CacheParameterGroupName": "cache_parameter_group_name",
        "PreferredMaintenanceWindow": "preferred_maintenance_window",
        "NotificationTopicArn": "notification_topic_arn",
        "AutoMinorVersionUpgrade": "auto_minor_version_upgrade",
        "SnapshotWindow": "snapshot_window",
        "SnapshotRetentionLimit": "snapshot_retention_limit",
        "IpDiscovery": "ip_discovery",
        "TransitEncryptionEnabled": "transit_encryption_enabled",
        "TransitEncryptionMode": "transit_encryption_mode",
    }
    for key, attribute in simple.items():
        if key in request:
            setattr(group, attribute, request[key])
    if "SnapshotRetentionLimit" in request:
        group.snapshotting_cluster_id = (members[-1]["cache_cluster_id"] if members else None) if request[
            "SnapshotRetentionLimit"
        ] else None
    if "SnapshottingClusterId" in request:
        group.snapshotting_cluster_id = request["SnapshottingClusterId"]
    if strategy == "DELETE":
        group.auth_token_enabled = False
        group.auth_token_last_modified_date = datetime.now(timezone.utc)
    elif token:
        group.auth_token_enabled = True
        group.auth_token_last_modified_date = datetime.now(timezone.utc)
    user_groups = list(group.user_group_ids or [])
    for added in request.get("UserGroupIdsToAdd") or []:
        if added not in user_groups:
            user_groups.append(added)
    user_groups = [g for g in user_groups if g not in (request.get("UserGroupIdsToRemove") or [])]
    if request.get("RemoveUserGroups"):
        user_groups = []
    group.user_group_ids = user_groups

    for member in members:
        cluster = elasticache.cache_clusters.get(member["cache_cluster_id"])
        if cluster is None:
            continue
        cluster.cache_node_type = group.cache_node_type
        cluster.security_group_ids = list(group.security_group_ids or [])
        cluster.engine_version = group.engine_version
        cluster.cache_parameter_group_name = group.cache_parameter_group_name
        cluster.preferred_maintenance_window = group.preferred_maintenance_window
        cluster.snapshot_retention_limit = group.snapshot_retention_limit
        cluster.snapshot_window = group.snapshot_window
        cluster.auto_minor_version_upgrade = group.auto_minor_version_upgrade
        cluster.transit_encryption_enabled = group.transit_encryption_enabled
        cluster.auth_token_enabled = group.auth_token_enabled
        if group.auth_token_last_modified_date:
            cluster.auth_token_last_modified_date = group.auth_token_last_modified_date
    return {"ReplicationGroup": _describe_group(context, group_id)}


def delete_replication_group(context: RequestContext, request: dict):
    answer = call_moto(context)
    elasticache = _backend(context)
    group_id = request["ReplicationGroupId"]
    group = elasticache.replication_groups.pop(group_id, None)
    if group is not None:
        primary = next((m["cache_cluster_id"] for m in _members(group) if m.get("current_role") == "primary"), None)
        for cluster_id, cluster in list(elasticache.cache_clusters.items()):
            if getattr(cluster, "replication_group_id", None) != group_id:
                continue
            if request.get("RetainPrimaryCluster") and cluster_id == primary:
                cluster.replication_group_id = None
                continue
            del elasticache.cache_clusters[cluster_id]
        elasticache.tagging_service.delete_all_tags_for_resource(group.arn)
    return answer


def delete_cache_cluster(context: RequestContext, request: dict):
    # moto marks the cluster `deleting` and keeps it for ever (its subnet group stays in use).
    answer = call_moto(context)
    elasticache = _backend(context)
    cluster = elasticache.cache_clusters.pop(request["CacheClusterId"], None)
    if cluster is not None and getattr(cluster, "arn", None):
        elasticache.tagging_service.delete_all_tags_for_resource(cluster.arn)
    return answer


def delete_cache_subnet_group(context: RequestContext, request: dict):
    elasticache = _backend(context)
    name = request["CacheSubnetGroupName"]
    subnet_group = elasticache.cache_subnet_groups.get(name)
    if subnet_group is None:
        raise aws_error("CacheSubnetGroupNotFoundFault", f"CacheSubnetGroup {name} not found.")
    users = [g.replication_group_id for g in elasticache.replication_groups.values() if g.cache_subnet_group_name == name]
    users += [c.cache_cluster_id for c in elasticache.cache_clusters.values() if c.cache_subnet_group_name == name]
    if users:
        raise aws_error("CacheSubnetGroupInUse", f"Cache subnet group {name} is currently in use by a cache cluster.")
    del elasticache.cache_subnet_groups[name]
    elasticache.tagging_service.delete_all_tags_for_resource(subnet_group.arn)
    return {}


def modify_cache_subnet_group(context: RequestContext, request: dict):
    # moto lacks it (501). Rebuilt from the new subnets (which checks them as creation does); the
    # name, ARN, description and tags stay.
    from moto.elasticache.models import CacheSubnetGroup

    elasticache = _backend(context)
    name = request["CacheSubnetGroupName"]
    current = elasticache.cache_subnet_groups.get(name)
    if current is None:
        raise aws_error("CacheSubnetGroupNotFoundFault", f"CacheSubnetGroup {name} not found.")
    subnets = request.get("SubnetIds") or [s["subnet_identifier"] for s in current.subnets]
    description = request.get("CacheSubnetGroupDescription") or current.cache_subnet_group_description
    replacement = CacheSubnetGroup(
        context.account_id, context.region, name, description, list(subnets), current.tags
    )
    elasticache.cache_subnet_groups[name] = replacement
    answer = moto_call(context, "DescribeCacheSubnetGroups", {"CacheSubnetGroupName": name})
    return {"CacheSubnetGroup": answer["CacheSubnetGroups"][0]}


def describe_cache_engine_versions(context: RequestContext, request: dict):
    # moto: "not implemented". The catalog's Redis OSS versions, oldest first.
    from . import catalog

    engine = request.get("Engine")
    if engine not in (None, "redis"):
        return {"CacheEngineVersions": []}
    wanted = request.get("EngineVersion")
    versions = [
        {
            "Engine": "redis",
            "EngineVersion": version,
            "CacheParameterGroupFamily": catalog.redis_family(version),
            "CacheEngineDescription": "Redis",
            "CacheEngineVersionDescription": f"redis version {version}",
        }
        for version in catalog.REDIS_VERSIONS
        if not wanted or version == wanted
    ]
    start = int(request.get("Marker") or 0)
    size = int(request.get("MaxRecords") or 100)
    answer = {"CacheEngineVersions": versions[start : start + size]}
    if start + size < len(versions):
        answer["Marker"] = str(start + size)
    return answer


# One year and three years, in seconds, as DescribeReservedCacheNodesOfferings gives them.
_DURATIONS = {"1": 31536000, "3": 94608000}
_OFFERING_TYPES = ["No Upfront", "Partial Upfront", "All Upfront"]


def describe_reserved_cache_nodes_offerings(context: RequestContext, request: dict):
    # moto: "not implemented". The offerings of every node type the catalog says the region
    # offers Redis OSS on: each duration with each payment option. Prices are not modelled (0).
    from . import catalog

    wanted_type = request.get("CacheNodeType")
    wanted_product = request.get("ProductDescription")
    wanted_duration = request.get("Duration")
    wanted_offering = request.get("OfferingType")
    offerings = []
    for node_type in catalog.cache_node_types(context.region):
        for years, seconds in _DURATIONS.items():
            for offering_type in _OFFERING_TYPES:
                offerings.append(
                    {
                        "ReservedCacheNodesOfferingId": f"{node_type}-{years}y-{offering_type}".replace(" ", "-").lower(),
                        "CacheNodeType": node_type,
                        "Duration": seconds,
                        "FixedPrice": 0.0,
                        "UsagePrice": 0.0,
                        "ProductDescription": "redis",
                        "OfferingType": offering_type,
                        "RecurringCharges": [],
                    }
                )
    offerings = [
        o
        for o in offerings
        if (not wanted_type or o["CacheNodeType"] == wanted_type)
        and (not wanted_product or o["ProductDescription"] == wanted_product)
        # Duration: "1" or "3" (years), or seconds.
        and (not wanted_duration or o["Duration"] == _DURATIONS.get(wanted_duration, int(wanted_duration)))
        and (not wanted_offering or o["OfferingType"] == wanted_offering)
    ]
    size = int(request.get("MaxRecords") or 100)
    if not 20 <= size <= 100:
        raise aws_error("InvalidParameterValue", "MaxRecords must be between 20 and 100")
    start = int(request.get("Marker") or 0)
    answer = {"ReservedCacheNodesOfferings": offerings[start : start + size]}
    if start + size < len(offerings):
        answer["Marker"] = str(start + size)
    return answer


OVERRIDES = {
    "DescribeCacheEngineVersions": describe_cache_engine_versions,
    "DescribeReservedCacheNodesOfferings": describe_reserved_cache_nodes_offerings,
    "CreateReplicationGroup": create_replication_group,
    "ModifyReplicationGroup": modify_replication_group,
    "DeleteReplicationGroup": delete_replication_group,
    "DeleteCacheCluster": delete_cache_cluster,
    "ModifyCacheSubnetGroup": modify_cache_subnet_group,
    "DeleteCacheSubnetGroup": delete_cache_subnet_group,
}
