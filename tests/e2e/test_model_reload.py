"""A newly trained model is loaded by every Rasa process of the running stack without a restart."""

from __future__ import annotations

import os
import shutil
import time

import httpx
import pytest

from tests.e2e.conftest import RASA_PROCESSES, Stack, rest_auth

pytestmark = pytest.mark.e2e


def loaded_model(stack: Stack) -> str:
    """The model Rasa serves; empty while Rasa is busy loading one (it answers nothing meanwhile)."""
    try:
        response = httpx.get(
            f"{stack.rasa_url}/status", params={"token": stack.env["RASA_AUTH_TOKEN"]}, timeout=10
        )
    except httpx.TimeoutException:
        return ""
    assert response.status_code == 200
    return str(response.json()["model_file"])


def served_models(stack: Stack) -> list[str | None]:
    """The model each Rasa process serves, as the hub's /health lists them."""
    processes = httpx.get(f"{stack.hub_url}/health", timeout=10).json()["rasa_processes"]
    assert len(processes) == RASA_PROCESSES
    return [p["model"] for p in processes]


def test_a_new_model_in_the_models_directory_is_loaded_by_every_process(stack: Stack) -> None:
    current = max(stack.models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    assert loaded_model(stack).endswith(current.name)
    assert served_models(stack) == [current.name] * RASA_PROCESSES
    retrained = stack.models_dir / "29991231-235959-retrained.tar.gz"
    shutil.copy2(current, retrained)
    os.utime(retrained)  # newest by modification time, as `rasa train` leaves it
    deadline = time.monotonic() + 240
    while served_models(stack) != [retrained.name] * RASA_PROCESSES:
        assert time.monotonic() < deadline, f"the new model was not loaded everywhere: {served_models(stack)}"
        time.sleep(1)
    assert loaded_model(stack).endswith(retrained.name)
    # The conversation API keeps answering with the new model.
    response = httpx.post(
        f"{stack.hub_url}/webhooks/rest/webhook",
        json={"sender": "reload-1", "message": "hello"},
        headers=rest_auth(stack),
        timeout=30,
    )
    assert response.status_code == 200 and response.json()
