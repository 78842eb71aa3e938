"""What AWS offers, where moto has neither the API nor the data: the RDS for PostgreSQL versions
RDS creates, the instance classes it orders them on, and the ElastiCache Redis OSS versions.

Dated data, not live data: see emulator/NOTES.md ("AWS's catalog") for the sources and their
dates. The same catalog is served in every region (AWS's differs a little between regions).
"""

# RDS for PostgreSQL minor versions that CreateDBInstance accepts, by major, oldest first
# (standard support, mid-2026). AWS stopped creating 14.14-14.17, 15.9-15.12, 16.5-16.8 and
# 17.1-17.4 on 2026-05-01, and 16.4 before that (its standard support ended in October 2025).
POSTGRES_VERSIONS = {
    "14": ["14.18", "14.19", "14.20"],
    "15": ["15.13", "15.14", "15.15"],
    "16": ["16.9", "16.10", "16.11"],
    "17": ["17.5", "17.6", "17.7"],
    "18": ["18.1"],
}

# Versions RDS no longer creates but still describes with IncludeAll (status "deprecated").
POSTGRES_DEPRECATED = {
    "14": ["14.14", "14.15", "14.16", "14.17"],
    "15": ["15.9", "15.10", "15.11", "15.12"],
    "16": ["16.4", "16.5", "16.6", "16.7", "16.8"],
    "17": ["17.1", "17.2", "17.3", "17.4"],
}

_SIZES = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]
_BURSTABLE = ["micro", "small", "medium", "large", "xlarge", "2xlarge"]

# The instance classes RDS orders PostgreSQL 14 and later on (current generation). The M4, R4,
# T2 and M3 classes are not among them: PostgreSQL 13 and later do not run on them.
POSTGRES_CLASSES = (
    [f"db.t3.{size}" for size in _BURSTABLE]
    + [f"db.t4g.{size}" for size in _BURSTABLE]
    + [f"db.{family}.{size}" for family in ["m5", "m6g", "m6i", "m7g", "r5", "r6g", "r6i", "r7g"] for size in _SIZES]
)

# Storage types per class: magnetic ("standard") only on the x86 classes.
def storage_types(instance_class: str) -> list[str]:
    family = instance_class.split(".")[1]
    types = ["gp2", "gp3", "io1", "io2"]
    if not family.endswith("g"):
        types.append("standard")
    return types


def postgres_versions(include_all: bool) -> list[tuple[str, str]]:
    """(version, status) for every version, oldest major first."""
    found = []
    for major, versions in POSTGRES_VERSIONS.items():
        if include_all:
            found += [(v, "deprecated") for v in POSTGRES_DEPRECATED.get(major, [])]
        found += [(v, "available") for v in versions]
    return found


def creatable_postgres(version: str) -> bool:
    return any(version in versions for versions in POSTGRES_VERSIONS.values())


# ElastiCache for Redis OSS engine versions (DescribeCacheEngineVersions, Engine=redis).
REDIS_VERSIONS = ["4.0.10", "5.0.6", "6.0", "6.2", "7.0", "7.1"]


def redis_family(version: str) -> str:
    major = version.split(".")[0]
    if major in {"6", "7"}:
        return f"redis{major}.x"
    return f"redis{'.'.join(version.split('.')[:2])}"


# ElastiCache node types (ElastiCache API reference, CacheNode: current generation), by family.
_CACHE_SIZES = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]
CACHE_FAMILIES = {
    "m7g": _CACHE_SIZES,
    "m6g": _CACHE_SIZES,
    "m5": ["large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"],
    "m4": ["large", "xlarge", "2xlarge", "4xlarge", "10xlarge"],
    "t4g": ["micro", "small", "medium"],
    "t3": ["micro", "small", "medium"],
    "t2": ["micro", "small", "medium"],
    "r7g": _CACHE_SIZES,
    "r6g": _CACHE_SIZES,
    "r6gd": ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"],
    "r5": ["large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"],
    "r4": ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"],
    "c7gn": _CACHE_SIZES,
}

# Regions that offer fewer families ("Supported node types", ElastiCache user guide: Asia Pacific
# (Thailand) and Mexico (Central) support m7g/r7g large to 16xlarge and t3/t4g micro to medium).
_REGION_FAMILIES = {
    "ap-southeast-7": ["m7g", "r7g", "t4g", "t3"],
    "mx-central-1": ["m7g", "r7g", "t4g", "t3"],
}


def cache_node_types(region: str) -> list[str]:
    """The node types ElastiCache offers Redis OSS on in `region`."""
    families = _REGION_FAMILIES.get(region, list(CACHE_FAMILIES))
    return [f"cache.{family}.{size}" for family in families for size in CACHE_FAMILIES[family]]
