"""`python -m bot.rasa_main <rasa arguments>`: Rasa's own command line, with bot.rasa_fixes installed first.

bot/serve.py starts the Rasa server through this module, so that the fixes live in the server process.
"""

from __future__ import annotations

import sys

from bot.rasa_fixes import install


def check_tracker_store(endpoints_file: str) -> None:
    """Rasa quietly falls back to an in-memory store (every conversation lost on restart) when a custom
    store's class cannot be imported: stop here instead, with the reason. The lock store is checked too, so
    that its failure is as plain (Rasa's own would come as a traceback)."""
    import importlib

    import yaml

    with open(endpoints_file, encoding="utf-8") as handle:
        endpoints = yaml.safe_load(handle) or {}
    for section, what in (("tracker_store", "tracker store"), ("lock_store", "lock store")):
        store_type = str((endpoints.get(section) or {}).get("type") or "")
        if "." not in store_type:
            continue  # Rasa's own stores are Rasa's to check
        module, _, name = store_type.rpartition(".")
        try:
            getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise SystemExit(f"rasa: the {what} {store_type} cannot be loaded: {exc}") from None


def main() -> None:
    if "--endpoints" in sys.argv:
        check_tracker_store(sys.argv[sys.argv.index("--endpoints") + 1])
    install()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
