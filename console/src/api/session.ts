import { ImsClient, type KeystoneToken } from '../../../sdk/client.ts';

/**
 * The signed-in user's token and scope. Kept in sessionStorage (this tab only,
 * gone when it closes) and never in a cookie, so no other site can ride on it.
 */
export interface Session {
  token: string;
  expiresAt: string;
  user: { id: string; name: string; domain: string };
  project: { id: string; name: string; domain: string };
}

const KEY = 'ims.console.session';

/** Same origin: the console is served by the API server itself. */
export const anonymousClient = () => new ImsClient({ baseUrl: location.origin });

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (typeof s.token !== 'string' || Date.parse(s.expiresAt) <= Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

/** The session a Keystone token answer describes; null when it is not project-scoped. */
export function sessionOf(token: string, body: KeystoneToken): Session | null {
  const b = body as unknown as {
    expires_at: string;
    user: { id: string; name: string; domain?: { name?: string } };
    project?: { id: string; name: string; domain?: { name?: string } };
  };
  if (!b.project) return null;
  return {
    token,
    expiresAt: b.expires_at,
    user: { id: b.user.id, name: b.user.name, domain: b.user.domain?.name ?? '' },
    project: { id: b.project.id, name: b.project.name, domain: b.project.domain?.name ?? '' },
  };
}

export interface ProjectRef {
  id: string;
  name: string;
}

/** Projects the token may be scoped to (GET /v3/auth/projects). */
export async function scopableProjects(token: string): Promise<ProjectRef[]> {
  const client = new ImsClient({ baseUrl: location.origin, token });
  const data = (await client.GET('/v3/auth/projects')) as unknown as { projects: ProjectRef[] };
  return data.projects.map((p) => ({ id: p.id, name: p.name }));
}

/** A token of the same user scoped to another project (Keystone's token method). */
export async function rescope(token: string, projectId: string): Promise<Session> {
  const { data, response } = await anonymousClient().call('post', '/v3/auth/tokens', {
    body: {
      auth: { identity: { methods: ['token'], token: { id: token } }, scope: { project: { id: projectId } } },
    },
  });
  const next = response.headers.get('x-subject-token') ?? '';
  const s = sessionOf(next, data.token);
  if (!s) throw new Error('The new token is not scoped to a project');
  return s;
}
