"""LocalStack service providers that route RDS, ElastiCache, ELB and Auto Scaling to moto.

Each provider is a ``Service`` whose skeleton dispatch table maps every operation in the service's
botocore spec to LocalStack's moto proxy, except the operations in the service module's ``OVERRIDES``
table, which this package implements or guards (and which call moto themselves where they can).

``ec2:deployer`` is different: it replaces LocalStack's own ``ec2:default`` (LocalStack loads it when
started with ``PROVIDER_OVERRIDE_EC2=deployer``) and is that provider's class with two operations
overridden (see ``ec2.py``).
"""

from localstack.services.plugins import Service, aws_provider


def _route_first_requests_safely() -> None:
    """LocalStack's ServiceLoader marks a service loaded *before* it adds the service's operations
    to the request router, and skips its lock for services marked loaded. A request that arrives
    while the first one is still adding them finds no route and is answered 501 "no handler for
    operation" (seen: deployer's concurrent first reads on a fresh emulator). Here every request
    of a service takes that service's lock until the first one has finished routing it."""
    from localstack.aws.handlers.service_plugin import ServiceLoader

    if getattr(ServiceLoader, "_deployer_routed", None) is not None:
        return
    original = ServiceLoader.require_service
    routed: set[str] = set()

    def require_service(self, chain, context, response):
        if not context.service or context.service.service_name in routed:
            return original(self, chain, context, response)
        name = context.service.service_name
        with self.service_locks[name]:
            result = original(self, chain, context, response)
            routed.add(name)
            return result

    ServiceLoader.require_service = require_service
    ServiceLoader._deployer_routed = routed


def _moto_service(name: str, overrides: dict | None = None) -> Service:
    from localstack.aws.skeleton import Skeleton
    from localstack.aws.spec import load_service
    from localstack.services.moto import _proxy_moto

    _route_first_requests_safely()
    spec = load_service(name)
    table = {operation: _proxy_moto for operation in spec.operation_names}
    unknown = set(overrides or {}) - set(table)
    if unknown:
        raise ValueError(f"{name}: overrides for operations not in the spec: {sorted(unknown)}")
    table.update(overrides or {})
    return Service(name, skeleton=Skeleton(spec, table))


@aws_provider()
def rds():
    from . import rds as module

    return _moto_service("rds", module.OVERRIDES)


@aws_provider()
def elasticache():
    from . import elasticache as module

    module.apply_patches()
    return _moto_service("elasticache", module.OVERRIDES)


@aws_provider()
def elb():
    from . import elb as module

    module.apply_patches()
    return _moto_service("elb", module.OVERRIDES)


@aws_provider()
def autoscaling():
    from . import autoscaling as module
    from .ec2 import apply_model_patches

    apply_model_patches()  # launch template versions' user data, which group launches read
    module.apply_patches()
    return _moto_service("autoscaling", module.OVERRIDES)


@aws_provider(api="ec2", name="deployer")
def ec2_deployer():
    """LocalStack's EC2 provider with CreateImage and ModifyLaunchTemplate completed; chosen by
    PROVIDER_OVERRIDE_EC2=deployer."""
    from localstack.services.moto import MotoFallbackDispatcher

    from .ec2 import DeployerEc2Provider, apply_model_patches

    _route_first_requests_safely()
    apply_model_patches()
    return Service.for_provider(DeployerEc2Provider(), dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="resourcegroupstaggingapi", name="deployer")
def tagging_deployer():
    """LocalStack's Resource Groups Tagging API with GetResources finding LocalStack's KMS keys;
    chosen by PROVIDER_OVERRIDE_RESOURCEGROUPSTAGGINGAPI=deployer."""
    from localstack.services.moto import MotoFallbackDispatcher

    from .tagging import DeployerTaggingProvider

    _route_first_requests_safely()
    return Service.for_provider(DeployerTaggingProvider(), dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="service-quotas")
def service_quotas():
    """Service Quotas, which LocalStack's community edition lacks: the quotas deployer reads."""
    from localstack.aws.skeleton import Skeleton
    from localstack.aws.spec import load_service

    from . import servicequotas as module

    _route_first_requests_safely()
    spec = load_service("service-quotas")
    unknown = set(module.OPERATIONS) - set(spec.operation_names)
    if unknown:
        raise ValueError(f"service-quotas: operations not in the spec: {sorted(unknown)}")
    return Service("service-quotas", skeleton=Skeleton(spec, dict(module.OPERATIONS)))
