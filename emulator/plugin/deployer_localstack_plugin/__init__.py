"""deployer's LocalStack provider plugin.

LocalStack's community edition does not serve RDS, ElastiCache, Classic ELB or Auto Scaling, but it
bundles moto's backends for all four. This package registers providers for them in the
``localstack.aws.provider`` entry-point group; each one sends every operation of the service to the
moto backend, except the few operations that moto lacks or gets wrong, which are implemented (or
patched) here. It also registers ``ec2:deployer``, LocalStack's own EC2 provider with CreateImage
completed, which LocalStack uses instead of its ``ec2:default`` when started with
``PROVIDER_OVERRIDE_EC2=deployer`` (as ``scripts/emulator`` does). See ``providers.py`` for the wiring
and ``../../NOTES.md`` for what differs from AWS.
"""
