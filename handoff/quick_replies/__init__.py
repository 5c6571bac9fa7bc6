"""Quick replies: canned answers a human agent finds by typing '/' in the console.

Editors keep the templates in data/quick_replies/<language>.yml (loader.py reads and checks them). The
console searches them (search.py), fills their {variables} from the handoff packet (filling.py) and must
not send while a variable is still unfilled: a reply that reaches the customer as "Hi {customer_name}"
is worse than no reply.

Run `python -m handoff.quick_replies check` after editing (cli.py); errors name the file and line.
"""
