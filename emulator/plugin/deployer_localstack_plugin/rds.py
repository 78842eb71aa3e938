"""RDS: checks that moto skips and AWS makes (so deployer's error handling is exercised)."""

from localstack.aws.api import RequestContext
from localstack.services.moto import call_moto

from . import catalog
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


def _page(items: list, request: dict, key: str) -> dict:
    """One page of `items`: Marker is the offset of the first, MaxRecords the page size."""
    start = int(request.get("Marker") or 0)
    size = int(request.get("MaxRecords") or 100)
    # AWS: 20-1000 for orderable options, 20-100 for engine versions (the RDS API reference).
    most = 1000 if key == "OrderableDBInstanceOptions" else 100
    if not 20 <= size <= most:
        raise aws_error("InvalidParameterValue", f"Invalid value for MaxRecords: must be between 20 and {most}.")
    answer = {key: items[start : start + size]}
    if start + size < len(items):
        answer["Marker"] = str(start + size)
    return answer


def describe_db_engine_versions(context: RequestContext, request: dict):
    # moto: "not implemented". The catalog's PostgreSQL versions; IncludeAll adds the deprecated
    # ones (which CreateDBInstance refuses).
    engine = request.get("Engine")
    if engine not in (None, "postgres"):
        return {"DBEngineVersions": []}
    wanted = request.get("EngineVersion")
    versions = []
    for version, status in catalog.postgres_versions(bool(request.get("IncludeAll"))):
        if wanted and version != wanted:
            continue
        major = version.split(".")[0]
        versions.append(
            {
                "Engine": "postgres",
                "EngineVersion": version,
                "DBParameterGroupFamily": f"postgres{major}",
                "DBEngineDescription": "PostgreSQL",
                "DBEngineVersionDescription": f"PostgreSQL {version}-R1",
                "Status": status,
                "SupportsReadReplica": True,
                "ValidUpgradeTarget": [],
            }
        )
    if request.get("DefaultOnly"):
        versions = versions[-1:]
    return _page(versions, request, "DBEngineVersions")


def _orderable(engine_version: str | None, instance_class: str | None, zones: list[str]) -> list[dict]:
    options = []
    for major, versions in catalog.POSTGRES_VERSIONS.items():
        for version in versions:
            if engine_version and version != engine_version:
                continue
            for db_class in catalog.POSTGRES_CLASSES:
                if instance_class and db_class != instance_class:
                    continue
                for storage in catalog.storage_types(db_class):
                    options.append(
                        {
                            "Engine": "postgres",
                            "EngineVersion": version,
                            "DBInstanceClass": db_class,
                            "LicenseModel": "postgresql-license",
                            "AvailabilityZones": [{"Name": zone} for zone in zones],
                            "MultiAZCapable": True,
                            "ReadReplicaCapable": True,
                            "Vpc": True,
                            "SupportsStorageEncryption": True,
                            "StorageType": storage,
                            "SupportsIops": storage in ("io1", "io2", "gp3"),
                        }
                    )
    return options


def _zones(context: RequestContext) -> list[str]:
    return [f"{context.region}{letter}" for letter in "abcdef"]


def describe_orderable_db_instance_options(context: RequestContext, request: dict):
    # moto answers an empty list. The catalog's classes, for every creatable version.
    if request.get("Engine") != "postgres":
        return {"OrderableDBInstanceOptions": []}
    options = _orderable(request.get("EngineVersion"), request.get("DBInstanceClass"), _zones(context))
    return _page(options, request, "OrderableDBInstanceOptions")


def _refuse_unorderable(engine_version: str, instance_class: str, storage_type: str | None) -> None:
    options = _orderable(engine_version, instance_class, [])
    if storage_type and options and not any(o["StorageType"] == storage_type for o in options):
        raise aws_error(
            "InvalidParameterCombination",
            f"Invalid storage type for DB engine postgres: {storage_type}",
        )
    if not options:
        raise aws_error(
            "InvalidParameterCombination",
            "RDS does not support creating a DB instance with the following combination: "
            f"DBInstanceClass={instance_class}, Engine=postgres, EngineVersion={engine_version}, "
            "LicenseModel=postgresql-license. For supported combinations of instance class and "
            "database engine version, see the documentation.",
        )


def create_db_instance(context: RequestContext, request: dict):
    # moto creates any class and version. AWS refuses a version it no longer creates ("Cannot find
    # version 16.4 for postgres"), and a class the version is not orderable on. A major alone
    # ("16") takes that major's default minor, as on AWS.
    if request.get("Engine") == "postgres":
        version = request.get("EngineVersion") or catalog.POSTGRES_VERSIONS["17"][-1]
        if version in catalog.POSTGRES_VERSIONS:
            version = catalog.POSTGRES_VERSIONS[version][-1]
        if not catalog.creatable_postgres(version):
            raise aws_error("InvalidParameterCombination", f"Cannot find version {version} for postgres")
        _refuse_unorderable(version, request.get("DBInstanceClass") or "", request.get("StorageType"))
    return call_moto(context)


def modify_db_instance(context: RequestContext, request: dict):
    # The new class (or version) must be orderable with the instance's version (or class).
    database = _rds(context).databases.get(request.get("DBInstanceIdentifier"))
    if database is not None and getattr(database, "engine", None) == "postgres":
        version = request.get("EngineVersion") or database.engine_version
        instance_class = request.get("DBInstanceClass") or database.db_instance_class
        if request.get("EngineVersion") and not catalog.creatable_postgres(version):
            raise aws_error("InvalidParameterCombination", f"Cannot find version {version} for postgres")
        if request.get("EngineVersion") or request.get("DBInstanceClass"):
            _refuse_unorderable(version, instance_class, None)
    return call_moto(context)


OVERRIDES = {
    "DescribeDBEngineVersions": describe_db_engine_versions,
    "DescribeOrderableDBInstanceOptions": describe_orderable_db_instance_options,
    "CreateDBInstance": create_db_instance,
    "ModifyDBInstance": modify_db_instance,
    "CreateDBSubnetGroup": create_db_subnet_group,
    "ModifyDBSubnetGroup": modify_db_subnet_group,
    "DeleteDBSubnetGroup": delete_db_subnet_group,
    "DeleteDBInstance": delete_db_instance,
}
