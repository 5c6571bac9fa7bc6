"""`python -m bot.rasa_main <rasa arguments>`: Rasa's own command line, with bot.rasa_fixes installed first.

bot/serve.py starts the Rasa server through this module, so that the fixes live in the server process.
"""

from __future__ import annotations

from bot.rasa_fixes import install


def main() -> None:
    install()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
