import type { DomainRow, ProjectRow, RoleRow, UserRow } from '../../adapters/db/identity-repository.ts';
import type { ApplicationCredential } from '../../services/application-credentials.ts';
import { extrasOf, type RoleAssignment } from '../../services/identity-admin.ts';

/** Keystone v3 entity shapes, with `links.self` as absolute URLs under the public URL. */

const v3 = (base: string, path: string) => `${base}/v3/${path}`;
const seg = encodeURIComponent;

/** Keystone shows times with microseconds. */
export const keystoneIso = (iso: string) => iso.replace(/\.(\d{3})Z$/, '.$1000Z');

/** A collection: Keystone pages nothing by default, so previous and next are null. */
export function collection<T>(key: string, items: T[], selfUrl: string) {
  return { [key]: items, links: { self: selfUrl, previous: null, next: null } };
}

export function domainView(d: DomainRow, base: string) {
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    enabled: d.enabled === 1,
    tags: [],
    options: {},
    links: { self: v3(base, `domains/${seg(d.id)}`) },
  };
}

export function projectView(p: ProjectRow, base: string) {
  const { tags, ...extra } = extrasOf(p);
  return {
    ...extra,
    id: p.id,
    name: p.name,
    domain_id: p.domain_id,
    description: p.description,
    enabled: p.enabled === 1,
    // Top-level projects: Keystone names the domain as the parent.
    parent_id: p.domain_id,
    is_domain: false,
    tags: Array.isArray(tags) ? tags : [],
    options: {},
    links: { self: v3(base, `projects/${seg(p.id)}`) },
  };
}

export function userView(u: UserRow, base: string) {
  return {
    ...extrasOf(u),
    id: u.id,
    name: u.name,
    domain_id: u.domain_id,
    enabled: u.enabled === 1,
    ...(u.default_project_id ? { default_project_id: u.default_project_id } : {}),
    password_expires_at: null,
    options: {},
    links: { self: v3(base, `users/${seg(u.id)}`) },
  };
}

export function roleView(r: RoleRow, base: string) {
  return {
    id: r.id,
    name: r.name,
    domain_id: null,
    description: null,
    options: {},
    links: { self: v3(base, `roles/${seg(r.id)}`) },
  };
}

export function roleAssignmentView(a: RoleAssignment, base: string) {
  const [kind, scopeId] =
    'project' in a.scope ? ['projects', a.scope.project.id] : ['domains', a.scope.domain.id];
  return {
    ...a,
    links: {
      assignment: v3(base, `${kind}/${seg(scopeId)}/users/${seg(a.user.id)}/roles/${seg(a.role.id)}`),
    },
  };
}

export function applicationCredentialView(c: ApplicationCredential, base: string) {
  const { row } = c;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    expires_at: row.expires_at === null ? null : keystoneIso(row.expires_at),
    project_id: row.project_id,
    roles: c.roles.map((r) => ({ id: r.id, name: r.name, domain_id: null })),
    unrestricted: row.unrestricted === 1,
    access_rules: [],
    ...(c.secret !== undefined ? { secret: c.secret } : {}),
    links: { self: v3(base, `users/${seg(row.user_id)}/application_credentials/${seg(row.id)}`) },
  };
}
