import { randomBytes } from 'node:crypto';
import type { TestServer } from './server.ts';

export interface TestMember {
  project: { id: string; name: string };
  user: { id: string; name: string };
  password: string;
}

async function admin(s: TestServer, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const res = await s.request(method, path, body === undefined ? {} : { body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, any>) : {};
}

/**
 * A fresh project and a user holding `role` on it, made by the admin through the
 * Keystone admin API, as an operator would.
 */
export async function createMember(s: TestServer, prefix: string, role = 'member'): Promise<TestMember> {
  const suffix = randomBytes(3).toString('hex');
  const roles = (await admin(s, 'GET', '/v3/roles')).roles as { id: string; name: string }[];
  const roleId = roles.find((r) => r.name === role)!.id;
  const project = (await admin(s, 'POST', '/v3/projects', { project: { name: `${prefix}-project-${suffix}` } }))
    .project as { id: string; name: string };
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const user = (
    await admin(s, 'POST', '/v3/users', {
      user: { name: `${prefix}-${suffix}`, password, default_project_id: project.id },
    })
  ).user as { id: string; name: string };
  await admin(s, 'PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${roleId}`);
  return { project: { id: project.id, name: project.name }, user: { id: user.id, name: user.name }, password };
}
