/* The JSON API shared by the console and the studio: same-origin fetches with the session cookie, the CSRF
 * token on every change, and errors as Error objects with `status` and the server's body as `data`. Each
 * page binds it to its own session object, so neither page's state reaches the other. */

// One path segment or query value.
export function enc(value) { return encodeURIComponent(String(value)); }

// {api, whenUnauthorised} for `session` ({me, csrf}); `seen(response)`, when given, sees every response
// first. A 401 while signed in (outside /api/session) calls the handler set with whenUnauthorised.
export function jsonApi(session, seen) {
  let unauthorised = function () {};

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    var options = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET" && method !== "HEAD" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
    return fetch(path, options).then(function (response) {
      if (seen) seen(response);
      return response.text().then(function (text) {
        var data = null;
        if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
        if (!response.ok) {
          var err = new Error((data && (data.message || data.error)) || "HTTP " + response.status);
          err.status = response.status;
          err.data = data;
          if (response.status === 401 && session.me && path.indexOf("/api/session") !== 0) unauthorised();
          throw err;
        }
        return data;
      });
    });
  }

  return { api: api, whenUnauthorised: function (handler) { unauthorised = handler; } };
}
