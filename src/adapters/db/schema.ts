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
  };
  users: {
    id: string;
    name: string;
    domain_id: string;
    password_hash: string | null;
    default_project_id: string | null;
    enabled: number;
    created_at: string;
  };
  roles: { id: string; name: string };
  role_assignments: { user_id: string; project_id: string; role_id: string };
  revoked_tokens: { token_id: string; expires_at: string };
  blobs: {
    id: string;
    store_key: string;
    size: number;
    checksum: string;
    os_hash_algo: string;
    os_hash_value: string;
    refcount: number;
    created_at: string;
  };
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
  };
  image_properties: { image_id: string; name: string; value: string };
  image_tags: { image_id: string; tag: string };
  image_members: {
    image_id: string;
    member_id: string;
    status: string;
    created_at: string;
    updated_at: string;
  };
}
