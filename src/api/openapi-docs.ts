import { imageSchema, memberSchema } from './openstack/glance-schemas.ts';

/**
 * Response and query documentation for /openapi.json, kept apart from the route schemas on
 * purpose: a Fastify `response` schema also compiles a serializer that would drop Glance's
 * free-form image properties and coerce values, and a `querystring` schema would validate
 * the filters with messages that are not Glance's. These only describe what the routes
 * already do, so that the generated SDK (sdk/) is typed; @fastify/swagger's `transform`
 * merges them into the document.
 */

type Schema = Record<string, unknown>;
interface RouteDoc {
  responses?: Record<number, Schema>;
  query?: Record<string, Schema>;
  /** Replaces the documented request body (content type → schema). */
  body?: Record<string, Schema>;
}

const str = { type: 'string' } as const;
const nullableStr = { type: 'string', nullable: true } as const;
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({
  type: 'object',
  properties,
  required,
});
const json = (schema: Schema): Schema => ({ description: 'OK', content: { 'application/json': { schema } } });
const noContent: Schema = { description: 'No content', type: 'null' };
const binary: Schema = { type: 'string', format: 'binary' };

/** Glance's image schema as OpenAPI: its fixed properties plus free-form string properties. */
function glanceImage(): Schema {
  const doc = imageSchema();
  const properties: Record<string, Schema> = {};
  for (const [name, p] of Object.entries(doc.properties)) {
    const { type, ...rest } = p as unknown as Schema & { type?: string | string[] };
    if (Array.isArray(type)) {
      const nonNull = type.filter((t) => t !== 'null');
      properties[name] = { ...rest, type: nonNull[0] ?? 'string', nullable: type.includes('null') };
      if (Array.isArray(rest.enum)) properties[name]!.enum = rest.enum.filter((v) => v !== null);
    } else properties[name] = { ...rest, ...(type ? { type } : {}) };
  }
  return {
    type: 'object',
    properties,
    required: ['id', 'status', 'visibility', 'tags', 'created_at', 'updated_at'],
    additionalProperties: true,
  };
}

function glanceMember(): Schema {
  return obj(
    Object.fromEntries(
      Object.entries(memberSchema().properties).map(([k, v]) => [k, v as unknown as Schema]),
    ),
  );
}

const links = obj({ self: str, previous: nullableStr, next: nullableStr });
const selfLink = obj({ self: str });
const domain = obj({
  id: str,
  name: str,
  description: str,
  enabled: { type: 'boolean' },
  links: selfLink,
});
const project = {
  ...obj({
    id: str,
    name: str,
    domain_id: str,
    description: str,
    enabled: { type: 'boolean' },
    parent_id: str,
    is_domain: { type: 'boolean' },
    tags: { type: 'array', items: str },
    links: selfLink,
  }),
  additionalProperties: true,
};
const user = {
  ...obj(
    {
      id: str,
      name: str,
      domain_id: str,
      enabled: { type: 'boolean' },
      default_project_id: str,
      password_expires_at: nullableStr,
      links: selfLink,
    },
    ['id', 'name', 'domain_id', 'enabled', 'links'],
  ),
  additionalProperties: true,
};
const role = obj({ id: str, name: str, domain_id: nullableStr, description: nullableStr, links: selfLink });
const nameRef = obj({ id: str, name: str });
const roleAssignment = obj(
  {
    role: nameRef,
    user: { ...nameRef, properties: { id: str, name: str, domain: nameRef } },
    scope: {
      type: 'object',
      properties: {
        project: { type: 'object', properties: { id: str, name: str, domain: nameRef }, required: ['id'] },
        domain: nameRef,
      },
    },
    links: obj({ assignment: str }),
  },
  ['role', 'user', 'scope'],
);
const token = obj(
  {
    methods: { type: 'array', items: str },
    user: obj({ id: str, name: str, domain: nameRef }),
    project: obj({ id: str, name: str, domain: nameRef }),
    domain: nameRef,
    roles: { type: 'array', items: nameRef },
    expires_at: str,
    issued_at: str,
    catalog: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
  ['methods', 'user', 'expires_at', 'issued_at'],
);
const accessKey = obj(
  {
    access: str,
    secret: { ...str, description: 'Only in the answer to a create' },
    user_id: str,
    status: { type: 'string', enum: ['active', 'inactive'] },
    description: str,
    create_time: str,
    last_use_time: nullableStr,
  },
  ['access', 'user_id', 'status', 'description', 'create_time'],
);
const imsJob = obj(
  {
    status: { type: 'string', enum: ['INIT', 'RUNNING', 'SUCCESS', 'FAIL'] },
    entities: { type: 'object', additionalProperties: true },
    job_id: str,
    job_type: str,
    begin_time: str,
    end_time: nullableStr,
    error_code: nullableStr,
    fail_reason: nullableStr,
    progress: { type: 'number', description: '0-100' },
  },
  ['status', 'entities', 'job_id', 'job_type', 'begin_time', 'end_time', 'error_code', 'fail_reason'],
);

const organization = obj({
  id: str,
  urn: str,
  name: str,
  management_account_id: str,
  root_id: str,
  root_urn: str,
  created_at: str,
});
const organizationalUnit = obj({
  id: str,
  urn: str,
  name: str,
  organization_id: str,
  parent_id: nullableStr,
  created_at: str,
});
const organizationAccount = obj({
  account_id: str,
  organization_id: str,
  parent_id: str,
  parent_urn: str,
  joined_at: str,
});
const q = (description: string): Schema => ({ type: 'string', description });
const keystoneList = (key: string, item: Schema) => ({
  200: json(obj({ [key]: { type: 'array', items: item }, links })),
});
const keystoneOne = (key: string, item: Schema, status = 200) => ({ [status]: json(obj({ [key]: item })) });
/** IMS-side lists: the array alone, without Keystone's links. */
const plainList = (key: string, item: Schema) => ({
  200: json(obj({ [key]: { type: 'array', items: item } })),
});

const IMAGE_FILTERS: Record<string, Schema> = {
  limit: q('Page size (default 25, at most 1000)'),
  marker: q('Id of the last image of the previous page'),
  sort: q('key[:dir],... e.g. name:asc,created_at:desc'),
  sort_key: q('Sort key (with sort_dir; repeatable)'),
  sort_dir: q('asc or desc'),
  name: q('Exact name, or in:"a","b"'),
  id: q('in:id1,id2'),
  status: q('Status, or in:a,b'),
  visibility: q('public, private, shared, community or all'),
  member_status: q('pending, accepted, rejected or all (with visibility=shared)'),
  owner: q('Owner project id'),
  tag: q('Tag the image must carry (repeatable)'),
  container_format: q('Container format, or in:a,b'),
  disk_format: q('Disk format, or in:a,b'),
  size_min: q('Minimum size in bytes'),
  size_max: q('Maximum size in bytes'),
  protected: q('true or false'),
  os_hidden: q('true shows hidden images'),
  created_at: q('[gt|gte|lt|lte|eq|neq:]ISO-8601 time'),
  updated_at: q('[gt|gte|lt|lte|eq|neq:]ISO-8601 time'),
};

const DOCS: Record<string, RouteDoc> = {
  'POST /v3/auth/tokens': {
    responses: {
      201: {
        description: 'The token is in the X-Subject-Token header',
        headers: { 'X-Subject-Token': { schema: str } },
        content: { 'application/json': { schema: obj({ token }) } },
      },
    },
  },
  'GET /v3/auth/tokens': { responses: { 200: json(obj({ token })) } },
  'DELETE /v3/auth/tokens': { responses: { 204: noContent } },
  'GET /v3/auth/projects': { responses: keystoneList('projects', project) },
  'GET /v3/domains': { responses: keystoneList('domains', domain), query: { name: q('Exact name') } },
  'POST /v3/domains': { responses: keystoneOne('domain', domain, 201) },
  'GET /v3/domains/{domain_id}': { responses: keystoneOne('domain', domain) },
  'PATCH /v3/domains/{domain_id}': { responses: keystoneOne('domain', domain) },
  'DELETE /v3/domains/{domain_id}': { responses: { 204: noContent } },
  'GET /v3/projects': {
    responses: keystoneList('projects', project),
    query: { name: q('Exact name'), domain_id: q('Domain id') },
  },
  'POST /v3/projects': { responses: keystoneOne('project', project, 201) },
  'GET /v3/projects/{project_id}': { responses: keystoneOne('project', project) },
  'PATCH /v3/projects/{project_id}': { responses: keystoneOne('project', project) },
  'DELETE /v3/projects/{project_id}': { responses: { 204: noContent } },
  'GET /v3/users': {
    responses: keystoneList('users', user),
    query: { name: q('Exact name'), domain_id: q('Domain id') },
  },
  'POST /v3/users': { responses: keystoneOne('user', user, 201) },
  'GET /v3/users/{user_id}': { responses: keystoneOne('user', user) },
  'PATCH /v3/users/{user_id}': { responses: keystoneOne('user', user) },
  'DELETE /v3/users/{user_id}': { responses: { 204: noContent } },
  'GET /v3/users/{user_id}/projects': { responses: keystoneList('projects', project) },
  'GET /v3/roles': { responses: keystoneList('roles', role), query: { name: q('Exact name') } },
  'GET /v3/projects/{project_id}/users/{user_id}/roles': { responses: keystoneList('roles', role) },
  'PUT /v3/projects/{project_id}/users/{user_id}/roles/{role_id}': { responses: { 204: noContent } },
  'DELETE /v3/projects/{project_id}/users/{user_id}/roles/{role_id}': { responses: { 204: noContent } },
  'GET /v3/domains/{domain_id}/users/{user_id}/roles': { responses: keystoneList('roles', role) },
  'PUT /v3/domains/{domain_id}/users/{user_id}/roles/{role_id}': { responses: { 204: noContent } },
  'DELETE /v3/domains/{domain_id}/users/{user_id}/roles/{role_id}': { responses: { 204: noContent } },
  'GET /v3/role_assignments': {
    responses: keystoneList('role_assignments', roleAssignment),
    query: {
      'user.id': q('User id'),
      'scope.project.id': q('Project id'),
      'scope.domain.id': q('Domain id'),
      'role.id': q('Role id'),
    },
  },
  'POST /v3.0/OS-CREDENTIAL/credentials': { responses: keystoneOne('credential', accessKey, 201) },
  'GET /v3.0/OS-CREDENTIAL/credentials': {
    responses: { 200: json(obj({ credentials: { type: 'array', items: accessKey } })) },
    query: { user_id: q('User whose keys are listed (default: the caller)') },
  },
  'GET /v3.0/OS-CREDENTIAL/credentials/{access_key}': { responses: keystoneOne('credential', accessKey) },
  'PUT /v3.0/OS-CREDENTIAL/credentials/{access_key}': { responses: keystoneOne('credential', accessKey) },
  'DELETE /v3.0/OS-CREDENTIAL/credentials/{access_key}': { responses: { 204: noContent } },
  'POST /v1/organizations': { responses: keystoneOne('organization', organization, 201) },
  'GET /v1/organizations': { responses: plainList('organizations', organization) },
  'GET /v1/organizations/members': {
    responses: { 200: json(obj({ urn: str, account_ids: { type: 'array', items: str } })) },
  },
  'GET /v1/organizations/{org_id}': { responses: keystoneOne('organization', organization) },
  'DELETE /v1/organizations/{org_id}': { responses: { 204: noContent } },
  'POST /v1/organizations/{org_id}/organizational-units': {
    responses: keystoneOne('organizational_unit', organizationalUnit, 201),
  },
  'GET /v1/organizations/{org_id}/organizational-units': {
    responses: plainList('organizational_units', organizationalUnit),
  },
  'DELETE /v1/organizations/{org_id}/organizational-units/{ou_id}': { responses: { 204: noContent } },
  'PUT /v1/organizations/{org_id}/accounts/{account_id}': {
    responses: keystoneOne('account', organizationAccount),
  },
  'DELETE /v1/organizations/{org_id}/accounts/{account_id}': { responses: { 204: noContent } },
  'GET /v1/organizations/{org_id}/accounts': { responses: plainList('accounts', organizationAccount) },
  'GET /v1/{project_id}/jobs': {
    responses: { 200: json(obj({ jobs: { type: 'array', items: imsJob } }, ['jobs'])) },
  },
  'GET /v1/{project_id}/jobs/{job_id}': { responses: { 200: json(imsJob) } },
  'GET /v1/cloudimages/job/{job_id}': { responses: { 200: json(imsJob) } },
  'POST /v2/images': {
    responses: { 201: json(glanceImage()) },
    body: {
      'application/json': {
        type: 'object',
        properties: {
          id: str,
          name: str,
          disk_format: str,
          container_format: str,
          visibility: { type: 'string', enum: ['public', 'private', 'shared', 'community'] },
          protected: { type: 'boolean' },
          os_hidden: { type: 'boolean' },
          min_disk: { type: 'integer' },
          min_ram: { type: 'integer' },
          tags: { type: 'array', items: str },
        },
        additionalProperties: true,
      },
    },
  },
  'GET /v2/images': {
    responses: {
      200: json(
        obj({ images: { type: 'array', items: glanceImage() }, first: str, next: str, schema: str }, [
          'images',
          'first',
          'schema',
        ]),
      ),
    },
    query: IMAGE_FILTERS,
  },
  'GET /v2/images/{image_id}': { responses: { 200: json(glanceImage()) } },
  'PATCH /v2/images/{image_id}': {
    responses: { 200: json(glanceImage()) },
    body: {
      'application/openstack-images-v2.1-json-patch': {
        type: 'array',
        items: obj({ op: { type: 'string', enum: ['add', 'replace', 'remove'] }, path: str, value: {} }, [
          'op',
          'path',
        ]),
      },
    },
  },
  'DELETE /v2/images/{image_id}': { responses: { 204: noContent } },
  'POST /v2/images/{image_id}/actions/deactivate': { responses: { 204: noContent } },
  'POST /v2/images/{image_id}/actions/reactivate': { responses: { 204: noContent } },
  'PUT /v2/images/{image_id}/tags/{tag}': { responses: { 204: noContent } },
  'DELETE /v2/images/{image_id}/tags/{tag}': { responses: { 204: noContent } },
  'PUT /v2/images/{image_id}/file': {
    responses: { 204: noContent },
    body: { 'application/octet-stream': binary },
  },
  'GET /v2/images/{image_id}/file': {
    responses: {
      200: { description: 'The image data', content: { 'application/octet-stream': { schema: binary } } },
      204: { description: 'The image has no data' },
      206: { description: 'A byte range', content: { 'application/octet-stream': { schema: binary } } },
    },
  },
  'POST /v2/images/{image_id}/members': {
    responses: { 200: json(glanceMember()) },
    body: { 'application/json': obj({ member: str }) },
  },
  'GET /v2/images/{image_id}/members': {
    responses: { 200: json(obj({ members: { type: 'array', items: glanceMember() }, schema: str })) },
  },
  'GET /v2/images/{image_id}/members/{member_id}': { responses: { 200: json(glanceMember()) } },
  'PUT /v2/images/{image_id}/members/{member_id}': {
    responses: { 200: json(glanceMember()) },
    body: {
      'application/json': obj({ status: { type: 'string', enum: ['pending', 'accepted', 'rejected'] } }),
    },
  },
  'DELETE /v2/images/{image_id}/members/{member_id}': { responses: { 204: noContent } },
};

/** Fastify route url (`/v2/images/:image_id`) → OpenAPI path (`/v2/images/{image_id}`). */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** @fastify/swagger `transform`: adds the documentation above to a route's schema (the document only). */
export function documentRoute({
  schema,
  url,
  route,
}: {
  schema: unknown;
  url: string;
  route: { method: string | string[] };
}): { schema: Schema; url: string } {
  const base = (schema ?? {}) as Schema;
  const method = Array.isArray(route.method) ? route.method[0] : route.method;
  const out: Schema = { ...base };
  // A bare `{type: 'object'}` body (the service checks it) is any JSON object, not an empty one.
  const body = base.body as Schema | undefined;
  if (body && body.type === 'object' && !body.properties) out.body = { ...body, additionalProperties: true };
  const doc = DOCS[`${method} ${openApiPath(url)}`];
  if (!doc) return { schema: out, url };
  if (doc.responses) out.response = { ...(base.response as Schema | undefined), ...doc.responses };
  if (doc.query && !base.querystring) out.querystring = { type: 'object', properties: doc.query };
  if (doc.body)
    out.body = { content: Object.fromEntries(Object.entries(doc.body).map(([t, s]) => [t, { schema: s }])) };
  return { schema: out, url };
}
