"""What the studio's integration modules share to serve one app per module instead of one per test.

Starting the app costs seconds (sanic-ext's OPTIONS routes are added one at a time to the started app),
so each studio module serves one app for all its tests. A test still starts from
what a newly started worker sees: `as_new_worker` empties the module's Redis database and writes back what
a worker writes there when it starts, and the studio's file-backed parts (training data, templates, the
training runner) are pointed at the test's own copies.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sanic import Sanic

from handoff.quick_replies.live import LiveQuickReplies
from handoff.studio.training import TrainingSettings

ROOT = Path(__file__).resolve().parents[2]


def copy_training_data(root: Path) -> Path:
    """A copy of data/nlu and bot/domain under `root` (emptied first): the checkout's files stay as
    they are."""
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(ROOT / "data" / "nlu", root / "data" / "nlu")
    shutil.copytree(ROOT / "bot" / "domain", root / "bot" / "domain")
    return root


async def as_new_worker(app: Sanic) -> None:  # type: ignore[type-arg]
    """Empty the served app's Redis database (tokens, users, inbox, audit, runs, rate limits) and write
    back the routing parameters the worker wrote there on start. Run in the app's event loop."""
    await app.ctx.redis.flushdb()
    await app.ctx.routing.start()


async def use_quick_replies(app: Sanic, directory: Path, poll_seconds: float) -> None:  # type: ignore[type-arg]
    """The served app serves (and the studio edits) the templates in `directory` from now on, loaded
    afresh: the previous set's Redis version belongs to a database that was emptied since."""
    await app.ctx.quick_replies.stop()
    live = LiveQuickReplies(directory, poll_seconds=poll_seconds)
    await live.start(app.ctx.redis)
    app.ctx.quick_replies = live


async def use_training(app: Sanic, settings: TrainingSettings) -> None:  # type: ignore[type-arg]
    """The served app trains with `settings` from now on, with a runner of its own as after a restart;
    a run the previous runner still has is stopped first."""
    runner: Any = getattr(app.ctx, "studio_training", None)
    if runner is not None:
        await runner.shutdown()
        del app.ctx.studio_training
    app.ctx.studio_training_settings = settings
