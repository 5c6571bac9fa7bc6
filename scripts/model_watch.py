"""Loads a newly trained model into the running Rasa server, so `make train` needs no restart.

Runs as a Procfile process: polls models/ and, when a newer *.tar.gz appears, asks every Rasa process
(RASA_URLS, else RASA_URL) to load it through its token-protected HTTP API (PUT /model). A process that
fails is asked again on the next poll until it has the model; the hub's /health shows which model each
process serves. Rasa 3.6 takes that token only in the query string,
so httpx's request lines are redacted and failures are reported without the URL.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from handoff.bot_client import describe_failure, install_log_redaction, redact_tokens  # noqa: E402

logger = logging.getLogger("model_watch")


def newest(models_dir: Path) -> Path | None:
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def load(rasa_url: str, token: str, model: Path) -> bool:
    try:
        response = httpx.put(
            f"{rasa_url}/model", params={"token": token}, json={"model_file": str(model)}, timeout=300
        )
    except httpx.HTTPError as exc:
        logger.warning("model_watch.load_failed %s: %s", model.name, describe_failure(exc, (token,)))
        return False
    if response.status_code != 204:
        logger.warning(
            "model_watch.load_failed %s: %s %s",
            model.name,
            response.status_code,
            redact_tokens(response.text[:200], (token,)),
        )
    return response.status_code == 204


def rasa_urls(env: dict[str, str]) -> list[str]:
    raw = env.get("RASA_URLS", "").strip()
    urls = [u.strip().rstrip("/") for u in raw.split(",") if u.strip()] if raw else []
    return urls or [env.get("RASA_URL", "http://127.0.0.1:5005").rstrip("/")]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_redaction()  # httpx logs each request URL at INFO, and this one carries ?token=
    urls = rasa_urls(dict(os.environ))
    token = os.environ["RASA_AUTH_TOKEN"]
    interval = float(os.environ.get("MODEL_WATCH_INTERVAL", "5"))
    models_dir = Path(os.environ.get("RASA_MODELS_DIR") or ROOT / "models")
    started_with = newest(models_dir)  # what each process started with (bot.serve loads the newest)
    serving = dict.fromkeys(urls, started_with)
    name = started_with.name if started_with else None
    logger.info("model_watch.started dir=%s current=%s processes=%d", models_dir, name, len(urls))
    while True:
        time.sleep(interval)
        candidate = newest(models_dir)
        behind = [url for url, model in serving.items() if candidate is not None and model != candidate]
        if candidate is None or not behind:
            continue
        time.sleep(2)  # let the archive finish writing
        for number, url in enumerate(urls, 1):
            if url not in behind:
                continue
            logger.info("model_watch.loading %s on process %d", candidate.name, number)
            if load(url, token, candidate):
                logger.info("model_watch.loaded %s on process %d", candidate.name, number)
                serving[url] = candidate


if __name__ == "__main__":
    main()
