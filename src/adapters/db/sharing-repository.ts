import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { organizationUrn, unitUrn } from '../../domain/organization.ts';
import type { MemberType, SharingPolicy, SharingReach, ShareTarget } from '../../domain/sharing.ts';
import type { MemberStatus } from '../../domain/visibility.ts';

/** A member row with its IMS fields (domain/sharing.ts). */
export interface SharedMember {
  imageId: string;
  memberId: string;
  memberType: MemberType;
  urn: string | null;
  status: MemberStatus;
  sharedBy: string | null;
  createdAt: string;
  updatedAt: string;
}

/** An image shared with a project, as the recipient's view lists it. */
export interface IncomingShare {
  imageId: string;
  imageName: string | null;
  owner: string;
  ownerAccountId: string | null;
  memberType: MemberType;
  memberId: string;
  urn: string | null;
  sharedBy: string | null;
  sharedAt: string;
  status: MemberStatus;
  answeredBy: string | null;
  answeredAt: string | null;
}

type MemberRow = {
  image_id: string;
  member_id: string;
  member_type: string;
  urn: string | null;
  status: string;
  shared_by: string | null;
  created_at: string;
  updated_at: string;
};

const toMember = (r: MemberRow): SharedMember => ({
  imageId: r.image_id,
  memberId: r.member_id,
  memberType: r.member_type as MemberType,
  urn: r.urn,
  status: r.status as MemberStatus,
  sharedBy: r.shared_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Precedence when several shares reach one project: its own member row first. */
const TYPE_ORDER: Record<MemberType, number> = { project: 0, domain: 1, organization: 2 };

/**
 * Sharing by account and organization and the sharing policies (migration
 * 0011). Glance's project members stay in member-repository.ts; this one
 * reads them too, with their IMS type.
 */
export class SharingRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async project(id: string): Promise<{ id: string; domainId: string; region: string } | null> {
    const row = await this.db
      .selectFrom('projects')
      .select(['id', 'domain_id', 'region'])
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? { id: row.id, domainId: row.domain_id, region: row.region } : null;
  }

  async domainExists(id: string): Promise<boolean> {
    const row = await this.db.selectFrom('domains').select('id').where('id', '=', id).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * The URNs that reach an account: its organization's, the root's, and each
   * unit's from the account's own up to the root. Empty outside an organization.
   */
  async orgUrnsOf(accountId: string): Promise<string[]> {
    const member = await this.db
      .selectFrom('organization_accounts')
      .innerJoin('organizations', 'organizations.id', 'organization_accounts.organization_id')
      .select(['organizations.id as org', 'organizations.management_account_id as mgmt', 'unit_id'])
      .where('organization_accounts.domain_id', '=', accountId)
      .executeTakeFirst();
    if (!member) return [];
    const units = await this.db
      .selectFrom('organization_units')
      .select(['id', 'parent_id'])
      .where('organization_id', '=', member.org)
      .execute();
    const parent = new Map(units.map((u) => [u.id, u.parent_id]));
    const urns = [organizationUrn(member.mgmt, member.org)];
    const seen = new Set<string>();
    for (let u: string | null = member.unit_id; u !== null && !seen.has(u); u = parent.get(u) ?? null) {
      seen.add(u);
      urns.push(unitUrn(member.mgmt, member.org, u));
    }
    return urns;
  }

  /**
   * What reaches a project; grants reach only projects of `region`, so a
   * project of another region is reached by its own member rows alone.
   */
  async reach(projectId: string, accountId: string, region: string): Promise<SharingReach> {
    const project = await this.project(projectId);
    if (!project || project.region !== region) return { projectId, accountId: '', orgUrns: [] };
    return { projectId, accountId: project.domainId, orgUrns: await this.orgUrnsOf(project.domainId) };
  }

  /**
   * Those of the keys (account id, URNs) that some image is shared with: a
   * list then tests only these, and none at all in the common case of an
   * account that nothing is shared with.
   */
  async liveGrantKeys(keys: string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const rows = await this.db
      .selectFrom('image_members')
      .select('member_id')
      .distinct()
      .where('member_id', 'in', keys)
      .where('member_type', '!=', 'project')
      .execute();
    return rows.map((r) => r.member_id);
  }

  /** Every member of the image with its type, oldest first. */
  async members(imageId: string): Promise<SharedMember[]> {
    const rows = await this.db
      .selectFrom('image_members')
      .selectAll()
      .where('image_id', '=', imageId)
      .orderBy('created_at')
      .orderBy('member_id')
      .execute();
    return rows.map(toMember);
  }

  /** IMS shares a private image by making it shared (ims-api.md §4.3); false when it was not private. */
  async makeShared(imageId: string, now: string): Promise<boolean> {
    const res = await this.db
      .updateTable('images')
      .set({ visibility: 'shared', updated_at: now })
      .where('id', '=', imageId)
      .where('deleted', '=', 0)
      .where('visibility', '=', 'private')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** The account and organization members of an image: what keeps it from being deleted. */
  async grants(imageId: string): Promise<ShareTarget[]> {
    const rows = await this.db
      .selectFrom('image_members')
      .select(['member_type', 'member_id'])
      .where('image_id', '=', imageId)
      .where('member_type', '!=', 'project')
      .orderBy('member_id')
      .execute();
    return rows.map((r) => ({ type: r.member_type as MemberType, id: r.member_id }));
  }

  /** Adds a member; false when the image already has one with this id (left as it was). */
  async insert(member: SharedMember): Promise<boolean> {
    const res = await this.db
      .insertInto('image_members')
      .values({
        image_id: member.imageId,
        member_id: member.memberId,
        member_type: member.memberType,
        urn: member.urn,
        status: member.status,
        shared_by: member.sharedBy,
        created_at: member.createdAt,
        updated_at: member.updatedAt,
      })
      .onConflict((oc) => oc.columns(['image_id', 'member_id']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /**
   * Removes a member. A project member's answer goes with it; the answers of
   * projects reached by grants go when the image's last grant goes.
   */
  async remove(imageId: string, memberId: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('image_members')
      .where('image_id', '=', imageId)
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1) return false;
    await this.db
      .deleteFrom('image_member_answers')
      .where('image_id', '=', imageId)
      .where('project_id', '=', memberId)
      .execute();
    if ((await this.grants(imageId)).length === 0)
      await this.db.deleteFrom('image_member_answers').where('image_id', '=', imageId).execute();
    return true;
  }

  /** The project's recorded answer to the image, if any. */
  async answer(imageId: string, projectId: string): Promise<MemberStatus | null> {
    const row = await this.db
      .selectFrom('image_member_answers')
      .select('status')
      .where('image_id', '=', imageId)
      .where('project_id', '=', projectId)
      .executeTakeFirst();
    return (row?.status as MemberStatus | undefined) ?? null;
  }

  /**
   * Records a project's answer: the answer row, and its project member row
   * when it has one, so both agree (domain/sharing.ts).
   */
  async setAnswer(
    imageId: string,
    projectId: string,
    status: MemberStatus,
    by: 'project' | 'policy',
    now: string,
  ): Promise<void> {
    await this.db
      .insertInto('image_member_answers')
      .values({ image_id: imageId, project_id: projectId, status, answered_by: by, updated_at: now })
      .onConflict((oc) =>
        oc.columns(['image_id', 'project_id']).doUpdateSet({ status, answered_by: by, updated_at: now }),
      )
      .execute();
    await this.db
      .updateTable('image_members')
      .set({ status, updated_at: now })
      .where('image_id', '=', imageId)
      .where('member_id', '=', projectId)
      .where('member_type', '=', 'project')
      .where('status', '!=', status)
      .execute();
  }

  /**
   * How a project is reached by the image's shares, best first: the share
   * (project row, else the first grant) and the project's status; null when
   * nothing reaches it.
   */
  async reachedBy(
    imageId: string,
    reach: SharingReach,
  ): Promise<{ member: SharedMember; status: MemberStatus } | null> {
    const keys = [reach.projectId, ...(reach.accountId ? [reach.accountId, ...reach.orgUrns] : [])];
    const rows = (
      await this.db
        .selectFrom('image_members')
        .selectAll()
        .where('image_id', '=', imageId)
        .where('member_id', 'in', keys)
        .execute()
    )
      .map(toMember)
      .filter((m) => (m.memberType === 'project') === (m.memberId === reach.projectId))
      .sort((a, b) => TYPE_ORDER[a.memberType] - TYPE_ORDER[b.memberType]);
    const best = rows[0];
    if (!best) return null;
    if (best.memberType === 'project') return { member: best, status: best.status };
    return { member: best, status: (await this.answer(imageId, reach.projectId)) ?? 'pending' };
  }

  async policy(projectId: string): Promise<SharingPolicy | null> {
    const row = await this.db
      .selectFrom('project_sharing_policies')
      .selectAll()
      .where('project_id', '=', projectId)
      .executeTakeFirst();
    return row
      ? {
          acceptOwnAccount: row.accept_own_account === 1,
          acceptOrganizations: JSON.parse(row.accept_organizations) as string[],
          updatedAt: row.updated_at,
        }
      : null;
  }

  async setPolicy(projectId: string, policy: SharingPolicy & { updatedAt: string }): Promise<void> {
    const values = {
      accept_own_account: policy.acceptOwnAccount ? 1 : 0,
      accept_organizations: JSON.stringify(policy.acceptOrganizations),
      updated_at: policy.updatedAt,
    };
    await this.db
      .insertInto('project_sharing_policies')
      .values({ project_id: projectId, ...values })
      .onConflict((oc) => oc.column('project_id').doUpdateSet(values))
      .execute();
  }

  /**
   * Projects of these accounts in the region that have a sharing policy: the
   * candidates for an automatic accept when an image is shared with them.
   */
  async policiesIn(
    accountIds: string[],
    region: string,
  ): Promise<{ projectId: string; accountId: string; policy: SharingPolicy }[]> {
    if (accountIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('project_sharing_policies')
      .innerJoin('projects', 'projects.id', 'project_sharing_policies.project_id')
      .selectAll('project_sharing_policies')
      .select('projects.domain_id')
      .where('projects.domain_id', 'in', accountIds)
      .where('projects.region', '=', region)
      .execute();
    return rows.map((r) => ({
      projectId: r.project_id,
      accountId: r.domain_id,
      policy: {
        acceptOwnAccount: r.accept_own_account === 1,
        acceptOrganizations: JSON.parse(r.accept_organizations) as string[],
        updatedAt: r.updated_at,
      },
    }));
  }

  /**
   * Every image shared with the project (its own member rows and the grants
   * reaching it), with who shared it and when, newest share first; one entry
   * per image, the best share reaching it.
   */
  async incoming(reach: SharingReach): Promise<IncomingShare[]> {
    const keys = [reach.projectId, ...(reach.accountId ? [reach.accountId, ...reach.orgUrns] : [])];
    const rows = await this.db
      .selectFrom('image_members as m')
      .innerJoin('images as i', 'i.id', 'm.image_id')
      .leftJoin('projects as p', 'p.id', 'i.owner')
      .leftJoin('image_member_answers as a', (j) =>
        j.onRef('a.image_id', '=', 'm.image_id').on('a.project_id', '=', reach.projectId),
      )
      .select([
        'm.image_id',
        'm.member_id',
        'm.member_type',
        'm.urn',
        'm.status',
        'm.shared_by',
        'm.created_at',
        'i.name',
        'i.owner',
        'p.domain_id',
        'a.status as answer_status',
        'a.answered_by',
        'a.updated_at as answered_at',
      ])
      .where('i.deleted', '=', 0)
      .where('i.visibility', '=', 'shared')
      .where('i.owner', '!=', reach.projectId)
      .where('m.member_id', 'in', keys)
      .orderBy('m.created_at', 'desc')
      .orderBy('m.image_id')
      .execute();
    const best = new Map<string, IncomingShare & { rank: number }>();
    for (const r of rows) {
      const type = r.member_type as MemberType;
      if ((type === 'project') !== (r.member_id === reach.projectId)) continue;
      const rank = TYPE_ORDER[type];
      const seen = best.get(r.image_id);
      if (seen && seen.rank <= rank) continue;
      const direct = type === 'project';
      best.set(r.image_id, {
        rank,
        imageId: r.image_id,
        imageName: r.name,
        owner: r.owner,
        ownerAccountId: r.domain_id ?? null,
        memberType: type,
        memberId: r.member_id,
        urn: r.urn,
        sharedBy: r.shared_by,
        sharedAt: r.created_at,
        status: direct ? (r.status as MemberStatus) : ((r.answer_status as MemberStatus | null) ?? 'pending'),
        answeredBy: r.answered_by ?? null,
        answeredAt: r.answered_at ?? null,
      });
    }
    return [...best.values()].map(({ rank: _rank, ...share }) => share);
  }
}
