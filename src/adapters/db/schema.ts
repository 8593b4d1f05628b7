import type { Generated } from 'kysely';

/** Row types of the service database; the same schema on SQLite and PostgreSQL. */
export interface Database {
  settings: { key: string; value: string };
  domains: { id: string; name: string; description: string; enabled: number; created_at: string };
  projects: {
    id: string;
    name: string;
    domain_id: string;
    region: string;
    description: string;
    enabled: number;
    created_at: string;
    /** JSON object: Keystone's free-form project attributes and tags (0004). */
    extra: Generated<string>;
  };
  users: {
    id: string;
    name: string;
    domain_id: string;
    password_hash: string | null;
    default_project_id: string | null;
    enabled: number;
    created_at: string;
    /** JSON object: Keystone's free-form user attributes (email, description, ...) (0004). */
    extra: Generated<string>;
  };
  roles: { id: string; name: string };
  role_assignments: { user_id: string; project_id: string; role_id: string };
  revoked_tokens: { token_id: string; expires_at: string };
  /** Roles held on a whole domain (domain-scoped tokens). */
  domain_role_assignments: { user_id: string; domain_id: string; role_id: string };
  /** Keystone application credentials; the secret is kept only as a scrypt hash. */
  application_credentials: {
    id: string;
    user_id: string;
    project_id: string;
    name: string;
    description: string | null;
    secret_hash: string;
    expires_at: string | null;
    unrestricted: number;
    created_at: string;
  };
  application_credential_roles: { application_credential_id: string; role_id: string };
  /** Tokens of user_id issued at or before revoked_at are invalid (scope_id '' = every scope). */
  identity_revocations: { user_id: string; scope_id: string; revoked_at: string };
  access_keys: {
    access_key: string;
    user_id: string;
    secret_sealed: string;
    status: string;
    description: string;
    created_at: string;
    last_used_at: string | null;
  };
  blobs: {
    id: string;
    store_key: string;
    size: number;
    checksum: string;
    os_hash_algo: string;
    os_hash_value: string;
    refcount: number;
    created_at: string;
    /** Name of the store holding the bytes (0005). */
    store: Generated<string>;
    /** The disk format the bytes were accepted as, and their virtual size: the stored inspection (0005). */
    disk_format: string | null;
    virtual_size: number | null;
  };
  /** Copies of an image's data in stores other than its blob's (0005). */
  image_replicas: { image_id: string; store: string; blob_id: string; created_at: string };
  /** Data staged for a glance-direct import (0005). */
  image_staging: { image_id: string; blob_id: string; created_at: string };
  /** Import jobs of an image, shown as Glance tasks (0005). */
  image_tasks: { job_id: string; image_id: string; created_at: string };
  images: {
    id: string;
    name: string | null;
    status: string;
    visibility: string;
    owner: string;
    protected: number;
    os_hidden: number;
    container_format: string | null;
    disk_format: string | null;
    size: number | null;
    virtual_size: number | null;
    checksum: string | null;
    os_hash_algo: string | null;
    os_hash_value: string | null;
    min_disk: number;
    min_ram: number;
    blob_id: string | null;
    created_at: string;
    updated_at: string;
    deleted: Generated<number>;
    deleted_at: string | null;
    /** IMS enterprise project: "0" (the default one) or a UUID (0005). */
    enterprise_project_id: Generated<string>;
  };
  image_properties: { image_id: string; name: string; value: string };
  /** One tag store for every API (domain/tag-rules.ts): `key` or `key=value`. */
  image_tags: { image_id: string; tag: string };
  /** Operator-set limits per project (0005); null: the configured default; -1: unlimited. */
  image_quotas: {
    project_id: string;
    max_images: number | null;
    max_bytes: number | null;
    updated_at: string;
  };
  image_members: {
    image_id: string;
    member_id: string;
    status: string;
    created_at: string;
    updated_at: string;
    /** project | domain | organization (0011); see domain/sharing.ts. */
    member_type: Generated<string>;
    urn: string | null;
    shared_by: string | null;
  };
  /** A project's answer to an image reaching it through an account or organization grant (0011). */
  image_member_answers: {
    image_id: string;
    project_id: string;
    status: string;
    answered_by: string;
    updated_at: string;
  };
  /** Auto-accept rules of a project (0011); accept_organizations: JSON array of URNs. */
  project_sharing_policies: {
    project_id: string;
    accept_own_account: number;
    accept_organizations: string;
    updated_at: string;
  };
  /** The durable job queue; see job-repository.ts for the status and lease rules. */
  jobs: {
    id: string;
    kind: string;
    project_id: string;
    status: string;
    payload: string;
    result: string | null;
    entities: string;
    progress: number;
    attempts: number;
    max_attempts: number;
    error_code: string | null;
    fail_reason: string | null;
    lease_owner: string | null;
    lease_expires_at: string | null;
    run_after: string;
    created_at: string;
    begin_time: string | null;
    end_time: string | null;
    updated_at: string;
  };
  /** Glance metadata definitions (0005): namespaces and what they hold. */
  metadef_namespaces: {
    id: string;
    namespace: string;
    display_name: string | null;
    description: string | null;
    visibility: string;
    protected: number;
    owner: string;
    created_at: string;
    updated_at: string;
  };
  metadef_resource_types: { name: string; protected: number; created_at: string; updated_at: string };
  metadef_namespace_resource_types: {
    namespace_id: string;
    resource_type: string;
    prefix: string | null;
    properties_target: string | null;
    created_at: string;
    updated_at: string;
  };
  /** schema: the property's JSON schema (JSON text). */
  metadef_properties: {
    namespace_id: string;
    name: string;
    schema: string | null;
    created_at: string;
    updated_at: string;
  };
  /** required and properties: JSON text. */
  metadef_objects: {
    namespace_id: string;
    name: string;
    description: string | null;
    required: string | null;
    properties: string | null;
    created_at: string;
    updated_at: string;
  };
  metadef_tags: { namespace_id: string; name: string; created_at: string; updated_at: string };
  /** The audit trail, an HMAC chain in seq order (0005); see audit-repository.ts. */
  audit_events: {
    seq: number;
    id: string;
    time: string;
    operation: string;
    resource_type: string;
    resource_id: string | null;
    resource_name: string | null;
    project_id: string | null;
    domain_id: string | null;
    user_id: string | null;
    source_ip: string | null;
    request_id: string | null;
    result: string;
    http_status: number | null;
    error_code: string | null;
    job_id: string | null;
    prev_mac: string;
    mac: string;
  };
  /** One row (id 1): the last event's seq and mac, kept apart from the events. */
  audit_chain_head: { id: number; seq: number; mac: string };
  /** Organizations for URN sharing (0006). */
  organizations: {
    id: string;
    name: string;
    management_account_id: string;
    root_id: string;
    created_at: string;
  };
  /** The root unit (parent_id null) and organizational units of an organization. */
  organization_units: {
    id: string;
    organization_id: string;
    parent_id: string | null;
    name: string;
    created_at: string;
  };
  /** Member accounts (domains) of organizations, each in one unit. */
  organization_accounts: { domain_id: string; organization_id: string; unit_id: string; joined_at: string };
  /** Buckets of the tenants' object store granted to a project (0012). */
  project_buckets: { project_id: string; bucket: string; granted_at: string };
  /** Buckets granted to every project of an account (0015). */
  account_buckets: { domain_id: string; bucket: string; granted_at: string };
  /** Multipart uploads IMS started in tenants' buckets, by the job that started them (0015). */
  user_uploads: { upload_id: string; bucket: string; object_key: string; job_id: string; started_at: string };
  /** Resumable upload sessions (0014). */
  upload_sessions: {
    id: string;
    image_id: string;
    project_id: string;
    user_id: string | null;
    client_ref: string | null;
    size: number;
    store: string;
    status: 'open' | 'committed';
    created_at: string;
    updated_at: string;
    expires_at: string;
  };
  /** The byte ranges [start_offset, end_offset) an upload session holds, each a committed object. */
  upload_session_chunks: {
    session_id: string;
    start_offset: number;
    end_offset: number;
    store_key: string;
    created_at: string;
  };
  /** Failed authentications per source address in the current window (0013). */
  auth_failures: { source: string; window_start: string; failures: number };
  /** The process receiving an image's bytes, until expires_at unless it renews (0013). */
  data_leases: { image_id: string; owner: string; expires_at: string };
  /** Store objects seen unreferenced by the garbage collector, and since when (0013). */
  gc_candidates: { store: string; store_key: string; first_seen_at: string };
}
