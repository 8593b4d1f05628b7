import type { Kysely, Selectable } from 'kysely';
import { isUniqueViolation } from './identity-repository.ts';
import type { Database } from './schema.ts';
import { auditedTransaction } from '../audit-scope.ts';

export type OrganizationRow = Selectable<Database['organizations']>;
export type UnitRow = Selectable<Database['organization_units']>;
export type MembershipRow = Selectable<Database['organization_accounts']>;

/** Organizations, their unit trees and member accounts. */
export class OrganizationRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Runs the work in one transaction, with the request's audit event. */
  transaction<T>(work: (repo: OrganizationRepository) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return auditedTransaction(this.db, (trx) => work(new OrganizationRepository(trx)));
  }

  /** Creates the organization and its root unit (call inside a transaction). */
  async create(org: OrganizationRow, rootName: string): Promise<void> {
    await this.db.insertInto('organizations').values(org).execute();
    await this.db
      .insertInto('organization_units')
      .values({
        id: org.root_id,
        organization_id: org.id,
        parent_id: null,
        name: rootName,
        created_at: org.created_at,
      })
      .execute();
  }

  find(id: string): Promise<OrganizationRow | undefined> {
    return this.db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
  }

  list(): Promise<OrganizationRow[]> {
    return this.db.selectFrom('organizations').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  async delete(id: string): Promise<boolean> {
    // Children first: SQLite and PostgreSQL both cascade, but member rows name units too.
    await this.db.deleteFrom('organization_accounts').where('organization_id', '=', id).execute();
    await this.db
      .updateTable('organization_units')
      .set({ parent_id: null })
      .where('organization_id', '=', id)
      .execute();
    await this.db.deleteFrom('organization_units').where('organization_id', '=', id).execute();
    const r = await this.db.deleteFrom('organizations').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  findUnit(id: string): Promise<UnitRow | undefined> {
    return this.db.selectFrom('organization_units').selectAll().where('id', '=', id).executeTakeFirst();
  }

  units(orgId: string): Promise<UnitRow[]> {
    return this.db
      .selectFrom('organization_units')
      .selectAll()
      .where('organization_id', '=', orgId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  /** 'conflict' when the parent already has a unit of that name. */
  async createUnit(unit: UnitRow): Promise<'created' | 'conflict'> {
    try {
      await this.db.insertInto('organization_units').values(unit).execute();
      return 'created';
    } catch (err) {
      if (isUniqueViolation(err)) return 'conflict';
      throw err;
    }
  }

  async deleteUnit(id: string): Promise<void> {
    await this.db.deleteFrom('organization_units').where('id', '=', id).execute();
  }

  async unitHasContents(id: string): Promise<boolean> {
    const child = await this.db
      .selectFrom('organization_units')
      .select('id')
      .where('parent_id', '=', id)
      .executeTakeFirst();
    if (child) return true;
    const member = await this.db
      .selectFrom('organization_accounts')
      .select('domain_id')
      .where('unit_id', '=', id)
      .executeTakeFirst();
    return member !== undefined;
  }

  membership(domainId: string): Promise<MembershipRow | undefined> {
    return this.db
      .selectFrom('organization_accounts')
      .selectAll()
      .where('domain_id', '=', domainId)
      .executeTakeFirst();
  }

  /** Puts the account in the unit (moving it within its organization); 'taken' when it belongs to another one. */
  async placeAccount(row: MembershipRow): Promise<'placed' | 'taken'> {
    const current = await this.membership(row.domain_id);
    if (current && current.organization_id !== row.organization_id) return 'taken';
    if (current) {
      await this.db
        .updateTable('organization_accounts')
        .set({ unit_id: row.unit_id })
        .where('domain_id', '=', row.domain_id)
        .execute();
      return 'placed';
    }
    try {
      await this.db.insertInto('organization_accounts').values(row).execute();
      return 'placed';
    } catch (err) {
      if (isUniqueViolation(err)) return 'taken';
      throw err;
    }
  }

  async removeAccount(orgId: string, domainId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('organization_accounts')
      .where('organization_id', '=', orgId)
      .where('domain_id', '=', domainId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Member accounts of the organization, or of the given units only. */
  async accounts(orgId: string, unitIds?: string[]): Promise<MembershipRow[]> {
    if (unitIds && unitIds.length === 0) return [];
    let q = this.db.selectFrom('organization_accounts').selectAll().where('organization_id', '=', orgId);
    if (unitIds) q = q.where('unit_id', 'in', unitIds);
    return q.orderBy('domain_id').execute();
  }
}
