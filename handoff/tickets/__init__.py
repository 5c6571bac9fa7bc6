"""Tickets: customer problems that outlive a chat, created on demand or when a handoff ends unresolved.

`model` holds what a ticket is, `rules` what may happen to one (transitions, permissions, derivation,
validation), `store` keeps them in Redis with the Lua of `scripts`.
"""
