import { randomBytes } from 'node:crypto';
import type { TestServer } from './server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface TestMember {
  project: { id: string; name: string };
  user: { id: string; name: string };
  password: string;
  /** A token of the user, scoped to the project. */
  token: string;
}

async function admin(s: TestServer, method: string, path: string, body?: unknown): Promise<Json> {
  const res = await s.request(method, path, body === undefined ? {} : { body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Json) : {};
}

/**
 * A fresh project and a user holding `role` on it, made by the admin through the
 * Keystone admin API, as an operator would.
 */
export async function createMember(s: TestServer, prefix: string, role = 'member'): Promise<TestMember> {
  const suffix = randomBytes(3).toString('hex');
  const roles = (await admin(s, 'GET', '/v3/roles')).roles as { id: string; name: string }[];
  const roleId = roles.find((r) => r.name === role)!.id;
  const project = (
    await admin(s, 'POST', '/v3/projects', { project: { name: `${prefix}-project-${suffix}` } })
  ).project as { id: string; name: string };
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const user = (
    await admin(s, 'POST', '/v3/users', {
      user: { name: `${prefix}-${suffix}`, password, default_project_id: project.id },
    })
  ).user as { id: string; name: string };
  await admin(s, 'PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${roleId}`);
  const auth = {
    identity: { methods: ['password'], password: { user: { id: user.id, password } } },
    scope: { project: { id: project.id } },
  };
  const res = await s.request('POST', '/v3/auth/tokens', { token: null, body: { auth } });
  if (res.status !== 201) throw new Error(`token for ${user.name}: ${res.status} ${await res.text()}`);
  return {
    project: { id: project.id, name: project.name },
    user: { id: user.id, name: user.name },
    password,
    token: res.headers.get('x-subject-token')!,
  };
}
