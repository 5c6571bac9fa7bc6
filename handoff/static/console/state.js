/* What the console knows: the signed-in session and the state of the views. One shared object each, read and
 * changed by the feature modules; nothing here talks to the server. */

export const session = {
  me: null,    // {user_id, name, role, agent_id, language}
  csrf: null,  // kept in memory only; GET /api/session returns it again after a reload
  skew: 0      // server clock minus ours, in ms (offer countdowns)
};

export const state = {
  view: null,
  agent: null,     // my routing agent (presence, active, capacity)
  offers: {},      // conversation id -> offer
  chats: [],       // held conversations from the inbox
  convs: {},       // conversation id -> {cursor, ids, messages, unread, loaded, info}
  selected: null,
  drafts: {},
  flows: null,
  tickets: [],
  ticket: null,
  decision: null
};

export function conv(cid) {
  if (!state.convs[cid]) state.convs[cid] = { cursor: null, ids: {}, messages: [], unread: 0, loaded: false, info: null };
  return state.convs[cid];
}

// Whether I hold the chat (it is in my inbox).
export function holds(cid) {
  return state.chats.some(function (chat) { return chat.conversation_id === cid; });
}

export function isStaff() {
  var me = session.me;
  return !!me && (me.role === "supervisor" || me.role === "admin");
}
