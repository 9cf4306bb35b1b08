// Calls to wad's API. The page is signed in by an HttpOnly cookie; requests that
// change something carry X-Wad-Dashboard, which the server requires (CSRF guard).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(method, path, body, { key } = {}) {
  const headers = { "X-Wad-Dashboard": "1", Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "The daemon cannot be reached. Is it running?");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok || !data || data.success === false) {
    const message = data && data.error ? data.error : `Request failed (${response.status})`;
    if (response.status === 401 && !key) window.dispatchEvent(new Event("wad:signedout"));
    throw new ApiError(response.status, message);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body, options) => api("POST", path, body, options);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

export const sessionPath = (id) => `/api/sessions/${encodeURIComponent(id)}`;
