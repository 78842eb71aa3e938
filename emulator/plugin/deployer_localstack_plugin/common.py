"""Helpers shared by the service modules: AWS errors, moto backends, calls into moto."""

import copy
from typing import Any

from localstack.aws.api import CommonServiceException, RequestContext, ServiceResponse
from localstack.aws.forwarder import create_aws_request_context
from localstack.services.moto import call_moto


def aws_error(code: str, message: str, status: int = 400) -> CommonServiceException:
    """An error serialized the way AWS sends it (Code, Message, HTTP status)."""
    return CommonServiceException(code, message, status_code=status, sender_fault=True)


def backend(backends: Any, context: RequestContext) -> Any:
    """The moto backend (a BackendDict) of the request's account and region."""
    return backends[context.account_id][context.region]


def moto_call(context: RequestContext, operation: str, parameters: dict) -> ServiceResponse:
    """Calls another operation of the same service in moto, as the same caller, and parses the answer."""
    local = create_aws_request_context(
        service_name=context.service.service_name,
        action=operation,
        parameters=parameters,
        region=context.region,
        protocol=context.protocol,
    )
    headers = copy.deepcopy(context.request.headers)
    headers.update(local.request.headers)
    local.request.headers = headers
    return call_moto(local)
