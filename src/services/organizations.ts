import { randomBytes } from 'node:crypto';
import type { Clock } from '../adapters/clock.ts';
import { currentAudit } from '../adapters/audit-scope.ts';
import type { IdentityRepository } from '../adapters/db/identity-repository.ts';
import type {
  MembershipRow,
  OrganizationRepository,
  OrganizationRow,
  UnitRow,
} from '../adapters/db/organization-repository.ts';
import { fail } from '../domain/errors.ts';
import {
  checkOrgName,
  newOrgId,
  newOuId,
  newRootId,
  organizationUrn,
  parseOrgRef,
  unitUrn,
  type OrgRef,
} from '../domain/organization.ts';
import type { PolicySubject } from '../domain/policy.ts';
import type { Policy } from './policy.ts';

const randomId = () => randomBytes(8).toString('hex');
const notFound = (what: string, id: string): never => fail('NotFound', `Could not find ${what}: ${id}.`);

export interface OrganizationView {
  id: string;
  urn: string;
  name: string;
  management_account_id: string;
  root_id: string;
  root_urn: string;
  created_at: string;
}

export interface UnitView {
  id: string;
  urn: string;
  name: string;
  organization_id: string;
  parent_id: string | null;
  created_at: string;
}

export interface AccountMembershipView {
  account_id: string;
  organization_id: string;
  parent_id: string;
  parent_urn: string;
  joined_at: string;
}

const orgView = (o: OrganizationRow): OrganizationView => ({
  id: o.id,
  urn: organizationUrn(o.management_account_id, o.id),
  name: o.name,
  management_account_id: o.management_account_id,
  root_id: o.root_id,
  root_urn: unitUrn(o.management_account_id, o.id, o.root_id),
  created_at: o.created_at,
});

const unitView = (o: OrganizationRow, u: UnitRow): UnitView => ({
  id: u.id,
  urn: unitUrn(o.management_account_id, o.id, u.id),
  name: u.name,
  organization_id: o.id,
  parent_id: u.parent_id,
  created_at: u.created_at,
});

const memberView = (o: OrganizationRow, m: MembershipRow): AccountMembershipView => ({
  account_id: m.domain_id,
  organization_id: o.id,
  parent_id: m.unit_id,
  parent_urn: unitUrn(o.management_account_id, o.id, m.unit_id),
  joined_at: m.joined_at,
});

/** Every unit below (and including) `unitId`, from the organization's whole unit list. */
function subtree(units: UnitRow[], unitId: string): string[] {
  const children = new Map<string, string[]>();
  for (const u of units) {
    if (u.parent_id === null) continue;
    children.set(u.parent_id, [...(children.get(u.parent_id) ?? []), u.id]);
  }
  const out: string[] = [];
  const stack = [unitId];
  while (stack.length) {
    const id = stack.pop()!;
    out.push(id);
    stack.push(...(children.get(id) ?? []));
  }
  return out;
}

/**
 * Organizations for URN sharing: an organization belongs to its management
 * account; below its root are organizational units (nested); each member
 * account (Keystone domain) sits in one unit. Managed by administrators.
 */
export class OrganizationService {
  constructor(
    private readonly repo: OrganizationRepository,
    private readonly identity: IdentityRepository,
    private readonly clock: Clock,
    private readonly policy: Policy,
  ) {}

  /**
   * Every account in the organization or unit the URN (or bare id) names,
   * sub-units included: what an image shared with that URN reaches. An
   * unknown organization or unit, or a URN whose account is not the
   * organization's management account, is a 404.
   */
  async accountsInOrganization(urn: string): Promise<string[]> {
    const { org, unitId } = await this.resolve(parseOrgRef(urn));
    if (unitId === null || unitId === org.root_id)
      return (await this.repo.accounts(org.id)).map((m) => m.domain_id);
    const units = await this.repo.units(org.id);
    return (await this.repo.accounts(org.id, subtree(units, unitId))).map((m) => m.domain_id);
  }

  /** The normalised URN of a reference (bare ids become URNs); 404 when it names nothing. */
  async normalize(ref: string): Promise<string> {
    const { org, unitId } = await this.resolve(parseOrgRef(ref));
    return unitId === null
      ? organizationUrn(org.management_account_id, org.id)
      : unitUrn(org.management_account_id, org.id, unitId);
  }

  async create(caller: PolicySubject & { domainId: string }, body: unknown): Promise<OrganizationView> {
    this.manage(caller);
    const input = objectOf(body, 'organization');
    const name = checkOrgName(input.name, 'organization');
    const accountId = input.management_account_id ?? caller.domainId;
    if (typeof accountId !== 'string' || !(await this.identity.domainById(accountId)))
      return notFound('domain', String(accountId));
    const row: OrganizationRow = {
      id: newOrgId(randomId()),
      name,
      management_account_id: accountId,
      root_id: newRootId(randomId()),
      created_at: this.now(),
    };
    currentAudit()?.resource(row.id, name);
    await this.repo.transaction(async (repo) => {
      await repo.create(row, 'Root');
      // The management account is a member of its own organization, at the root.
      if ((await repo.placeAccount(this.membership(row, row.root_id, accountId))) === 'taken')
        fail('Conflict', `Account ${accountId} already belongs to another organization.`);
    });
    return orgView(row);
  }

  async list(caller: PolicySubject): Promise<OrganizationView[]> {
    this.policy.authorize(caller, 'ims:organizations:get');
    return (await this.repo.list()).map(orgView);
  }

  async get(caller: PolicySubject, id: string): Promise<OrganizationView> {
    this.policy.authorize(caller, 'ims:organizations:get');
    return orgView(await this.org(id));
  }

  async delete(caller: PolicySubject, id: string): Promise<void> {
    this.manage(caller);
    await this.repo.transaction(async (repo) => {
      if (!(await repo.delete(id))) notFound('organization', id);
    });
  }

  async createUnit(caller: PolicySubject, orgId: string, body: unknown): Promise<UnitView> {
    this.manage(caller);
    const org = await this.org(orgId);
    const input = objectOf(body, 'organizational_unit');
    const name = checkOrgName(input.name, 'organizational unit');
    const parentId = input.parent_id ?? org.root_id;
    await this.unitOf(org, parentId);
    const unit: UnitRow = {
      id: newOuId(randomId()),
      organization_id: org.id,
      parent_id: parentId as string,
      name,
      created_at: this.now(),
    };
    currentAudit()?.resource(unit.id, name);
    await this.repo.transaction(async (repo) => {
      if ((await repo.createUnit(unit)) === 'conflict')
        fail('Conflict', `The parent unit already has a unit named ${name}.`);
    });
    return unitView(org, unit);
  }

  async listUnits(caller: PolicySubject, orgId: string): Promise<UnitView[]> {
    this.policy.authorize(caller, 'ims:organizations:get');
    const org = await this.org(orgId);
    return (await this.repo.units(org.id)).filter((u) => u.parent_id !== null).map((u) => unitView(org, u));
  }

  /** Only an empty unit (no sub-units, no accounts) goes, as in Huawei Organizations. */
  async deleteUnit(caller: PolicySubject, orgId: string, unitId: string): Promise<void> {
    this.manage(caller);
    const org = await this.org(orgId);
    const unit = await this.unitOf(org, unitId);
    if (unit.parent_id === null) fail('Forbidden', 'The root of an organization cannot be deleted.');
    await this.repo.transaction(async (repo) => {
      if (await repo.unitHasContents(unit.id))
        fail('Conflict', `Unit ${unit.id} still holds units or accounts; move or remove them first.`);
      await repo.deleteUnit(unit.id);
    });
  }

  /** Adds an account to the organization, or moves it to another of its units (default: the root). */
  async placeAccount(
    caller: PolicySubject,
    orgId: string,
    accountId: string,
    body: unknown,
  ): Promise<AccountMembershipView> {
    this.manage(caller);
    const org = await this.org(orgId);
    const input = body === undefined || body === null ? {} : objectOf(body, 'account');
    const unit = await this.unitOf(org, input.parent_id ?? org.root_id);
    if (!(await this.identity.domainById(accountId))) notFound('domain', accountId);
    const row = this.membership(org, unit.id, accountId);
    await this.repo.transaction(async (repo) => {
      if ((await repo.placeAccount(row)) === 'taken')
        fail('Conflict', `Account ${accountId} already belongs to another organization.`);
    });
    return memberView(org, (await this.repo.membership(accountId)) ?? row);
  }

  async removeAccount(caller: PolicySubject, orgId: string, accountId: string): Promise<void> {
    this.manage(caller);
    const org = await this.org(orgId);
    if (accountId === org.management_account_id)
      fail('Forbidden', 'The management account stays in its organization; delete the organization instead.');
    await this.repo.transaction(async (repo) => {
      if (!(await repo.removeAccount(org.id, accountId))) notFound('account in the organization', accountId);
    });
  }

  async listAccounts(caller: PolicySubject, orgId: string): Promise<AccountMembershipView[]> {
    this.policy.authorize(caller, 'ims:organizations:get');
    const org = await this.org(orgId);
    return (await this.repo.accounts(org.id)).map((m) => memberView(org, m));
  }

  private manage(caller: PolicySubject): void {
    this.policy.authorize(caller, 'ims:organizations:manage');
  }

  private membership(org: OrganizationRow, unitId: string, accountId: string): MembershipRow {
    return { domain_id: accountId, organization_id: org.id, unit_id: unitId, joined_at: this.now() };
  }

  private async org(id: string): Promise<OrganizationRow> {
    return (await this.repo.find(id)) ?? notFound('organization', id);
  }

  private async unitOf(org: OrganizationRow, unitId: unknown): Promise<UnitRow> {
    if (typeof unitId !== 'string') return fail('ValidationFailed', 'parent_id must be a unit id.');
    const unit = await this.repo.findUnit(unitId);
    if (!unit || unit.organization_id !== org.id) return notFound('organizational unit', unitId);
    return unit;
  }

  private async resolve(ref: OrgRef): Promise<{ org: OrganizationRow; unitId: string | null }> {
    let unitId: string | null = null;
    let orgId = ref.orgId;
    if (ref.kind !== 'organization') {
      const unit = (await this.repo.findUnit(ref.unitId)) ?? notFound('organizational unit', ref.unitId);
      if ((ref.kind === 'root') !== (unit.parent_id === null) || (orgId && unit.organization_id !== orgId))
        return notFound('organizational unit', ref.unitId);
      unitId = unit.id;
      orgId = unit.organization_id;
    }
    const org = (await this.repo.find(orgId!)) ?? notFound('organization', orgId!);
    if (ref.accountId !== undefined && ref.accountId !== org.management_account_id)
      return notFound('organization', `${ref.accountId}/${org.id}`);
    return { org, unitId };
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

/** The body's object under `key` (or the body itself), with string-or-absent fields. */
function objectOf(body: unknown, key: string): Record<string, string | undefined> {
  const outer = typeof body === 'object' && body !== null && !Array.isArray(body) ? body : null;
  const inner = outer && key in outer ? (outer as Record<string, unknown>)[key] : outer;
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner))
    return fail('BadRequest', `The request body must be a JSON object {"${key}": {...}}.`);
  for (const [k, v] of Object.entries(inner))
    if (v !== undefined && v !== null && typeof v !== 'string')
      fail('ValidationFailed', `Invalid ${k}: must be a string.`);
  return inner as Record<string, string | undefined>;
}
