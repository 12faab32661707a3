// The server's API, as the dashboard uses it: bearer token from the signed-in session,
// `{"error": {"code", "message"}}` answers as `ApiError`, and the live queue over
// server-sent events read with `fetch` (EventSource cannot send an Authorization header).

/** A signed-in operator: the token stays in this browser's localStorage. */
export interface Session {
  token: string;
  project: string;
  projectName: string;
}

const SESSIONS = "handrail.sessions";
const ACTIVE = "handrail.active";

/** An answer that is not 2xx, or a network failure (`code` `network`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function sessions(): Session[] {
  try {
    const list = JSON.parse(localStorage.getItem(SESSIONS) ?? "[]");
    return Array.isArray(list) ? list.filter((s) => typeof s?.token === "string") : [];
  } catch {
    return [];
  }
}

export function session(): Session | null {
  const all = sessions();
  return all.find((s) => s.project === localStorage.getItem(ACTIVE)) ?? all[0] ?? null;
}

export function useProject(project: string): void {
  localStorage.setItem(ACTIVE, project);
}

/** Checks `token` with the server and keeps it (one session per project). */
export async function signIn(token: string): Promise<Session> {
  return keep(await inspect(token));
}

/**
 * What `token` would sign in as (`GET /v1/keys/me` and the project's name), without keeping
 * it: a `#token=` link is shown to the person before it is used.
 */
export async function inspect(token: string): Promise<Session & { keyId: string }> {
  token = token.trim();
  if (!/^hr_[A-Za-z0-9_-]{8,200}$/.test(token)) {
    throw new ApiError(0, "invalid_token", "That does not look like a Handrail token (hr_op_…).");
  }
  const me = await call<{ key_id: string; project: string; role: string }>("GET", "/v1/keys/me", undefined, token, undefined, false);
  if (me.role !== "operator") {
    throw new ApiError(403, "forbidden", "This is an agent key: agents cannot decide requests. Sign in with an operator token.");
  }
  const list = await call<{ projects: { id: string; name: string }[] }>("GET", "/v1/projects", undefined, token, undefined, false);
  const mine = list.projects.find((p) => p.id === me.project);
  return { token, project: me.project, projectName: mine?.name || me.project, keyId: me.key_id };
}

/** Keeps a checked session and makes it the active one. */
export function keep(checked: Session): Session {
  const s: Session = { token: checked.token, project: checked.project, projectName: checked.projectName };
  const rest = sessions().filter((x) => x.project !== s.project);
  localStorage.setItem(SESSIONS, JSON.stringify([...rest, s]));
  useProject(s.project);
  return s;
}

export function signOut(): void {
  const current = session();
  localStorage.setItem(SESSIONS, JSON.stringify(sessions().filter((s) => s.project !== current?.project)));
  localStorage.removeItem(ACTIVE);
}

async function call<T>(method: string, path: string, body: unknown, token: string, signal?: AbortSignal, session = true): Promise<T> {
  const res = await send(method, path, body, token, signal, session);
  if (res.status === 204 || res.headers.get("content-length") === "0") return {} as T;
  return (await res.json()) as T;
}

/** `session`: the token is the signed-in one (a 401 then signs out); false for a token being checked. */
async function send(method: string, path: string, body: unknown, token: string, signal?: AbortSignal, session = true): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "network", "The server cannot be reached.");
  }
  if (!res.ok) {
    let code = "http_" + res.status;
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      const err = (await res.json())?.error;
      if (typeof err?.code === "string") code = err.code;
      if (typeof err?.message === "string") message = err.message;
    } catch {
      /* not JSON: keep the status */
    }
    if (res.status === 401 && session) window.dispatchEvent(new CustomEvent("handrail:unauthorized"));
    throw new ApiError(res.status, code, message);
  }
  return res;
}

function token(): string {
  const s = session();
  if (!s) {
    window.dispatchEvent(new CustomEvent("handrail:unauthorized"));
    throw new ApiError(401, "unauthorized", "Sign in first.");
  }
  return s.token;
}

export const api = {
  get: <T>(path: string, signal?: AbortSignal) => call<T>("GET", path, undefined, token(), signal),
  post: <T>(path: string, body?: unknown) => call<T>("POST", path, body ?? {}, token()),
  put: <T>(path: string, body: unknown) => call<T>("PUT", path, body, token()),
  patch: <T>(path: string, body: unknown) => call<T>("PATCH", path, body, token()),
  del: <T>(path: string) => call<T>("DELETE", path, undefined, token()),
  /** The raw bytes of an answer (profiles, snapshots). */
  async bytes(path: string): Promise<Uint8Array> {
    const res = await send("GET", path, undefined, token());
    return new Uint8Array(await res.arrayBuffer());
  },
};

/** One event of `/v1/events`. */
export interface QueueEvent {
  event: string;
  data: string;
}

/**
 * Follows `/v1/events` until `signal` aborts, reconnecting with a growing pause; calls
 * `onOpen` on each (re)connection (so the caller reloads what it may have missed).
 */
export async function follow(onEvent: (e: QueueEvent) => void, onOpen: () => void, signal: AbortSignal): Promise<void> {
  let pause = 500;
  while (!signal.aborted) {
    try {
      const res = await send("GET", "/v1/events", undefined, token(), signal);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      pause = 500;
      onOpen();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) onEvent({ event, data: data.join("\n") });
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && e.status === 401) return;
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 10_000);
  }
}
