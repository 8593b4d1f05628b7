import type { ImsClient } from '../../../sdk/client.ts';
import { EXIT, ExitError, UsageError } from '../client/exit-codes.ts';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** An image given by id or by a name that exactly one visible image has. */
export async function resolveImage(client: ImsClient, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const { images } = await client.GET('/v2/images', { query: { name: ref, limit: 2 } });
  if (images.length === 1) return images[0]!.id;
  throw new ExitError(
    images.length
      ? `more than one image is named "${ref}": give its id`
      : `no image with id or name "${ref}"`,
    EXIT.api,
  );
}

type Kind = 'projects' | 'users' | 'domains' | 'roles';

/** A Keystone entity given by id or by name (an exact name match wins; otherwise the text is the id). */
export async function resolveIdentity(
  client: ImsClient,
  kind: Kind,
  ref: string,
  domainId?: string,
): Promise<string> {
  const query = { name: ref, ...(domainId ? { domain_id: domainId } : {}) };
  const found: { id: string }[] =
    kind === 'projects'
      ? (await client.GET('/v3/projects', { query })).projects
      : kind === 'users'
        ? (await client.GET('/v3/users', { query })).users
        : kind === 'domains'
          ? (await client.GET('/v3/domains', { query: { name: ref } })).domains
          : (await client.GET('/v3/roles', { query: { name: ref } })).roles;
  if (found.length > 1)
    throw new UsageError(`more than one ${kind.slice(0, -1)} is named "${ref}": give its id`);
  return found[0]?.id ?? ref;
}

/** The account (Keystone domain) an `--account` option names, when it is given. */
export async function accountOf(client: ImsClient, ref: string | undefined): Promise<string | undefined> {
  return ref === undefined ? undefined : resolveIdentity(client, 'domains', ref);
}

/** A project or user by id or name, a name looked up within the `--account` option's account. */
export async function resolveInAccount(
  client: ImsClient,
  kind: 'projects' | 'users',
  ref: string,
  accountRef: string | undefined,
): Promise<string> {
  return resolveIdentity(client, kind, ref, await accountOf(client, accountRef));
}

/** `key=value` options into an object. */
export function keyValues(pairs: string[], option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`${option} takes KEY=VALUE, not "${pair}"`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** A non-negative integer option. */
export function intOption(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new UsageError(`${option} must be a non-negative integer, not "${value}"`);
  return Number(value);
}
