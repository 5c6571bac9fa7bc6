/* What the studio knows: the signed-in session and which view is open. One shared object each, read and
 * changed by the feature modules; nothing here talks to the server. */

export const session = {
  me: null,    // {user_id, name, role, agent_id, language}
  csrf: null   // kept in memory only; GET /api/session returns it again after a reload
};

export const state = {
  view: null
};

// Editors and admins change content; supervisors read everything and try messages.
export function canWrite() {
  var me = session.me;
  return !!me && (me.role === "editor" || me.role === "admin");
}

export function canRead() {
  var me = session.me;
  return !!me && (me.role === "editor" || me.role === "admin" || me.role === "supervisor");
}
