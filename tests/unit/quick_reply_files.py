"""Template files for the quick-reply tests: the shipped directory, and a small valid file to break."""

from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "quick_replies"

GOOD = """\
version: 1
language: en
templates:
  - id: greeting.welcome
    shortcut: hi
    title: Welcome
    category: greeting
    text: "Hi {customer_name}, I'm {agent_name}."
"""


def write(tmp_path: Path, text: str, name: str = "en.yml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / name


def second(**fields: str) -> str:
    """A second template to append to GOOD; a field given as "-" is left out.

    Its lines: 9 "- id", 10 shortcut, 11 title, 12 category, 13 text, 14 any extra field.
    """
    values = {
        "id": "orders.status",
        "shortcut": "status",
        "title": "Status",
        "category": "orders",
        "text": '"Order {order_id} is {order_status}."',
        **fields,
    }
    lines = [f"    {key}: {value}" for key, value in values.items() if value != "-"]
    return "\n".join(["  - " + lines[0].strip(), *lines[1:]]) + "\n"
