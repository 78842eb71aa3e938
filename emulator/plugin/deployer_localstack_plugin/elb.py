"""Classic ELB: moto's describe output made to match what AWS reports for the same calls.

- A listener keeps the InstanceProtocol it was created with (moto echoed Protocol: HTTPS->HTTP came back
  as HTTPS->HTTPS). Omitted, it defaults to Protocol, as on AWS.
- AvailabilityZones are those of the subnets (moto reported none for a load balancer made with Subnets),
  also after AttachLoadBalancerToSubnets / DetachLoadBalancerFromSubnets.
- A new load balancer has AWS's default health check (TCP on the first listener's instance port,
  interval 30, timeout 5, unhealthy 2, healthy 10); moto had none until ConfigureHealthCheck.
- SourceSecurityGroup names the load balancer's first security group (moto: always "default"), and
  CanonicalHostedZoneNameID is the region's Classic ELB hosted zone (moto: none).
- DescribeLoadBalancerAttributes of a missing load balancer is LoadBalancerNotFound (moto: a 500).
"""

from localstack.aws.api import RequestContext
from localstack.services.moto import call_moto

from .common import aws_error, backend

# Route 53 hosted zone ids of Classic ELB per region (AWS "Elastic Load Balancing endpoints and quotas").
HOSTED_ZONE_IDS = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-west-2": "ZHURV8PSTC4K8",
    "eu-central-1": "Z215JYRZR1TBD5",
    "ap-southeast-1": "Z1LMS91P8CMLE5",
    "ap-southeast-2": "Z1GM3OXH4ZPM65",
    "ap-northeast-1": "Z14GRHDCWA56QT",
}

_patched = False


def apply_patches() -> None:
    global _patched
    if _patched:
        return
    from moto.elb import models

    models.FakeListener.instance_protocol = property(
        lambda self: (getattr(self, "deployer_instance_protocol", None) or self.protocol).upper()
    )

    def source_security_group(self):
        name = "default"
        region = getattr(self, "deployer_region", None)
        if self.security_groups and region:
            from moto.ec2.models import ec2_backends

            group = ec2_backends[self.account_id][region].get_security_group_from_id(self.security_groups[0])
            if group is not None:
                name = group.name
        return {"OwnerAlias": self.account_id, "GroupName": name}

    models.LoadBalancer.source_security_group = property(source_security_group)
    models.LoadBalancer.canonical_hosted_zone_name_id = property(
        lambda self: HOSTED_ZONE_IDS.get(getattr(self, "deployer_region", None), HOSTED_ZONE_IDS["us-east-1"])
    )
    _patched = True


def _elb(context: RequestContext):
    from moto.elb.models import elb_backends

    return backend(elb_backends, context)


def _set_zones_from_subnets(context: RequestContext, balancer) -> None:
    if not balancer.subnets:
        return
    from moto.ec2.models import ec2_backends

    ec2 = backend(ec2_backends, context)
    zones = set()
    for subnet_id in balancer.subnets:
        try:
            zones.add(ec2.get_subnet(subnet_id).availability_zone)
        except Exception:  # an unknown subnet is moto's to report
            pass
    balancer.availability_zones = sorted(zones)


def _remember_instance_protocols(balancer, listeners: list[dict]) -> None:
    for sent in listeners or []:
        for listener in balancer.listeners:
            if int(listener.load_balancer_port) == int(sent["LoadBalancerPort"]) and not hasattr(
                listener, "deployer_instance_protocol"
            ):
                listener.deployer_instance_protocol = sent.get("InstanceProtocol") or sent["Protocol"]


def create_load_balancer(context: RequestContext, request: dict):
    answer = call_moto(context)
    balancer = _elb(context).load_balancers[request["LoadBalancerName"]]
    balancer.deployer_region = context.region
    _remember_instance_protocols(balancer, request.get("Listeners"))
    _set_zones_from_subnets(context, balancer)
    if balancer.health_check is None and balancer.listeners:
        from moto.elb.models import FakeHealthCheck

        balancer.health_check = FakeHealthCheck(
            timeout=5,
            healthy_threshold=10,
            unhealthy_threshold=2,
            interval=30,
            target=f"TCP:{balancer.listeners[0].instance_port}",
        )
    return answer


def create_load_balancer_listeners(context: RequestContext, request: dict):
    answer = call_moto(context)
    balancer = _elb(context).load_balancers.get(request["LoadBalancerName"])
    if balancer is not None:
        _remember_instance_protocols(balancer, request.get("Listeners"))
    return answer


def _subnets_changed(context: RequestContext, request: dict):
    answer = call_moto(context)
    balancer = _elb(context).load_balancers.get(request["LoadBalancerName"])
    if balancer is not None:
        _set_zones_from_subnets(context, balancer)
    return answer


def describe_load_balancer_attributes(context: RequestContext, request: dict):
    # moto answered a missing load balancer with a 500 (AttributeError on None); AWS: LoadBalancerNotFound.
    name = request.get("LoadBalancerName") or ""
    if name not in _elb(context).load_balancers:
        raise aws_error("LoadBalancerNotFound", f"There is no ACTIVE Load Balancer named '{name}'")
    return call_moto(context)


OVERRIDES = {
    "DescribeLoadBalancerAttributes": describe_load_balancer_attributes,
    "CreateLoadBalancer": create_load_balancer,
    "CreateLoadBalancerListeners": create_load_balancer_listeners,
    "AttachLoadBalancerToSubnets": _subnets_changed,
    "DetachLoadBalancerFromSubnets": _subnets_changed,
}
