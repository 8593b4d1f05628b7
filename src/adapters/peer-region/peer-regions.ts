import { readFileSync } from 'node:fs';

/**
 * The other regions this deployment may copy images to (IMS_PEER_REGIONS_FILE), each another
 * IMS deployment reached through its public API. The trust between two regions is explicit:
 * the peer's operator creates a service user with the admin role on one of its projects and
 * gives its password to this region's operator, who writes it here under an agency name.
 * A caller names that agency (`agency_name`, as IMS's IAM agency) to use the trust.
 */
export interface PeerRegion {
  region: string;
  /** The peer's public URL (its IMS_PUBLIC_URL): Keystone under /v3, images under /v2. */
  url: string;
  agency: string;
  auth: { user: string; password: string; domain: string; project: string };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Reads and checks the file once at start-up; every problem is listed. */
export function loadPeerRegions(file: string | undefined, ownRegion: string): Map<string, PeerRegion> {
  const peers = new Map<string, PeerRegion>();
  if (!file) return peers;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`IMS_PEER_REGIONS_FILE ${file}: ${(err as Error).message}`, { cause: err });
  }
  const problems: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error(`IMS_PEER_REGIONS_FILE ${file}: expected an object of regions`);
  }
  for (const [region, raw] of Object.entries(doc)) {
    const where = `region "${region}"`;
    if (!NAME.test(region)) problems.push(`${where}: not a region name`);
    if (region === ownRegion) problems.push(`${where}: is this deployment's own region (IMS_REGION)`);
    const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const auth = (typeof entry.auth === 'object' && entry.auth !== null ? entry.auth : {}) as Record<
      string,
      unknown
    >;
    const text = (v: unknown, what: string): string => {
      if (typeof v === 'string' && v.length > 0) return v;
      problems.push(`${where}: ${what} must be a non-empty string`);
      return '';
    };
    const url = text(entry.url, 'url');
    if (url && !/^https?:\/\/[^/\s]+(\/[^\s]*)?$/.test(url)) problems.push(`${where}: url must be http(s)`);
    peers.set(region, {
      region,
      url: url.replace(/\/+$/, ''),
      agency: text(entry.agency, 'agency'),
      auth: {
        user: text(auth.user, 'auth.user'),
        password: text(auth.password, 'auth.password'),
        domain: typeof auth.domain === 'string' && auth.domain ? auth.domain : 'Default',
        project: text(auth.project, 'auth.project'),
      },
    });
  }
  if (problems.length)
    throw new Error(`IMS_PEER_REGIONS_FILE ${file} is invalid:\n  - ${problems.join('\n  - ')}`);
  return peers;
}
