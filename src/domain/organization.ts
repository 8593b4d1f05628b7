import { fail } from './errors.ts';

/**
 * Organization references as IMS sharing takes them (ims-api.md §4.1):
 * `organizations::{account_id}:organization:o-{id}`,
 * `organizations::{account_id}:root:o-{id}/r-{id}`,
 * `organizations::{account_id}:ou:o-{id}/ou-{id}`; the account is the
 * organization's management account. Bare `o-…`, `r-…`, `ou-…` ids are
 * accepted too and normalised to the URN once the organization is known.
 */
export type OrgRef =
  | { kind: 'organization'; accountId?: string; orgId: string }
  | { kind: 'root'; accountId?: string; orgId?: string; unitId: string }
  | { kind: 'ou'; accountId?: string; orgId?: string; unitId: string };

const ORG = 'o-[a-z0-9]{1,64}';
const ROOT = 'r-[a-z0-9]{1,64}';
const OU = 'ou-[a-z0-9-]{1,96}';
const ACCOUNT = '[A-Za-z0-9_-]{1,64}';
const URN = new RegExp(
  `^organizations::(${ACCOUNT}):(?:organization:(${ORG})|root:(${ORG})/(${ROOT})|ou:(${ORG})/(${OU}))$`,
);

export const newOrgId = (random: string): string => `o-${random}`;
export const newRootId = (random: string): string => `r-${random}`;
export const newOuId = (random: string): string => `ou-${random}`;

/** Parses a URN or bare id; anything else is a 400. */
export function parseOrgRef(text: unknown): OrgRef {
  if (typeof text !== 'string' || text.length > 400)
    return fail('BadRequest', 'An organization reference must be a URN or an o-, r- or ou- id.');
  const m = URN.exec(text);
  if (m) {
    const accountId = m[1]!;
    if (m[2]) return { kind: 'organization', accountId, orgId: m[2] };
    if (m[3]) return { kind: 'root', accountId, orgId: m[3], unitId: m[4]! };
    return { kind: 'ou', accountId, orgId: m[5]!, unitId: m[6]! };
  }
  if (new RegExp(`^${ORG}$`).test(text)) return { kind: 'organization', orgId: text };
  if (new RegExp(`^${ROOT}$`).test(text)) return { kind: 'root', unitId: text };
  if (new RegExp(`^${OU}$`).test(text)) return { kind: 'ou', unitId: text };
  return fail('BadRequest', `Invalid organization URN: ${text.slice(0, 200)}`);
}

export const organizationUrn = (accountId: string, orgId: string): string =>
  `organizations::${accountId}:organization:${orgId}`;

/** The URN of a unit: the root (`r-…`) or an organizational unit (`ou-…`). */
export const unitUrn = (accountId: string, orgId: string, unitId: string): string =>
  unitId.startsWith('r-')
    ? `organizations::${accountId}:root:${orgId}/${unitId}`
    : `organizations::${accountId}:ou:${orgId}/${unitId}`;

/** Unit names: 1-64 characters, no control characters (Huawei Organizations' rule, roughly). */
export function checkOrgName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.trim() === '' || [...name].length > 64 || /[\p{Cc}]/u.test(name))
    return fail('ValidationFailed', `Invalid ${what} name: 1-64 characters, no control characters.`);
  return name;
}
