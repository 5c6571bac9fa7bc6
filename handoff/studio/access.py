"""Who may use the studio: editors and admins change content; supervisors may read it."""

from __future__ import annotations

from handoff.identity import Role

STUDIO_WRITE = (Role.EDITOR, Role.ADMIN)
STUDIO_READ = (Role.EDITOR, Role.ADMIN, Role.SUPERVISOR)
