"""``sdk``'s public names (STYLE rule 5): each resolves, and the client's are the typed ones."""

from __future__ import annotations

import sdk
from sdk import _aclient, _client, _errors, _models


def test_every_public_name_resolves() -> None:
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None, name


def test_the_clients_models_and_errors_are_the_private_modules_own() -> None:
    assert sdk.Client is _client.Client and sdk.AsyncClient is _aclient.AsyncClient
    assert sdk.Job is _models.Job and sdk.Event is _models.Event
    assert issubclass(sdk.NotFoundError, sdk.ApiError) and sdk.ApiError is _errors.ApiError
