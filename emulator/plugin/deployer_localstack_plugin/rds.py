"""RDS: checks that moto skips and AWS makes (so deployer's error handling is exercised)."""

from localstack.aws.api import RequestContext
from localstack.services.moto import call_moto

from .common import aws_error, backend


def _rds(context: RequestContext):
    from moto.rds.models import rds_backends

    return backend(rds_backends, context)


def create_db_subnet_group(context: RequestContext, request: dict):
    # moto silently replaces an existing group.
    name = request.get("DBSubnetGroupName") or ""
    if name.lower() in {n.lower() for n in _rds(context).subnet_groups}:
        raise aws_error("DBSubnetGroupAlreadyExists", f"The DB subnet group '{name}' already exists.")
    return call_moto(context)


def modify_db_subnet_group(context: RequestContext, request: dict):
    # moto pops the group from its table to modify it and never puts it back: the group vanishes.
    name = request.get("DBSubnetGroupName") or ""
    groups = _rds(context).subnet_groups
    group = groups.get(name)
    response = call_moto(context)
    if group is not None and name not in groups:
        groups[name] = group
    return response


def delete_db_subnet_group(context: RequestContext, request: dict):
    # moto deletes a group that instances still use.
    name = request.get("DBSubnetGroupName") or ""
    rds = _rds(context)
    users = [
        identifier
        for identifier, database in rds.databases.items()
        if getattr(database, "_db_subnet_group_name", None) == name
    ]
    users += [
        identifier
        for identifier, cluster in getattr(rds, "clusters", {}).items()
        if getattr(cluster, "db_subnet_group_name", None) == name
    ]
    if users:
        raise aws_error(
            "InvalidDBSubnetGroupStateFault",
            f"Cannot delete the subnet group '{name}' because at least one database instance: "
            f"{users[0]} is still using it.",
        )
    return call_moto(context)


def delete_db_instance(context: RequestContext, request: dict):
    # moto deletes without a snapshot when neither FinalDBSnapshotIdentifier nor SkipFinalSnapshot is
    # given; AWS refuses. Unknown or protected instances are left to moto (same errors as AWS).
    database = _rds(context).databases.get(request.get("DBInstanceIdentifier"))
    in_cluster = database is not None and getattr(database, "db_cluster_identifier", None)
    if database is not None and not database.deletion_protection and not in_cluster:
        skip = bool(request.get("SkipFinalSnapshot"))
        final = request.get("FinalDBSnapshotIdentifier")
        if not skip and not final:
            raise aws_error(
                "InvalidParameterCombination",
                "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.",
            )
        if skip and final:
            raise aws_error(
                "InvalidParameterCombination",
                "Cannot specify both SkipFinalSnapshot and FinalDBSnapshotIdentifier.",
            )
    return call_moto(context)


OVERRIDES = {
    "CreateDBSubnetGroup": create_db_subnet_group,
    "ModifyDBSubnetGroup": modify_db_subnet_group,
    "DeleteDBSubnetGroup": delete_db_subnet_group,
    "DeleteDBInstance": delete_db_instance,
}
