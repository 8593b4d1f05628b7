import { readFile } from 'node:fs/promises';
import { fail } from '../domain/errors.ts';
import { PropertyProtections } from '../domain/property-protections.ts';
import {
  DEFAULT_POLICY,
  parsePolicyOverride,
  permits,
  type Action,
  type PolicySubject,
  type PolicyTable,
  type PolicyTarget,
} from '../domain/policy.ts';

/**
 * The one authorisation check of every service: `policy.authorize(ctx, action, target)`
 * refuses with 403 what the policy table does not allow. A service checks
 * before it reads or writes anything on the caller's behalf.
 */
export class Policy {
  constructor(readonly table: PolicyTable = DEFAULT_POLICY) {}

  /** Throws Forbidden unless the caller may do the action to the target. */
  authorize(subject: PolicySubject, action: Action, target?: PolicyTarget): void {
    if (!permits(this.table, subject, action, target)) {
      const roles = subject.roles.length ? subject.roles.join(', ') : 'no';
      const plural = subject.roles.length > 1 ? 's' : '';
      const other =
        target?.projectId != null && target.projectId !== subject.projectId ? ' on another project' : '';
      fail(
        'Forbidden',
        `Policy doesn't allow ${action} to be performed${other} by the ${roles} role${plural}.`,
      );
    }
  }

  /** Whether the caller may; for services that choose rather than refuse. */
  allows(subject: PolicySubject, action: Action, target?: PolicyTarget): boolean {
    return permits(this.table, subject, action, target);
  }
}

/** The policy: the default table, with the operator's file (IMS_POLICY_FILE) over it when set. */
export async function loadPolicy(file: string | undefined): Promise<Policy> {
  if (!file) return new Policy();
  return new Policy(parsePolicyOverride(await readFile(file, 'utf8'), file));
}

/** Property protections from IMS_PROPERTY_PROTECTION_FILE; a bad file stops the start-up. */
export async function loadPropertyProtections(file: string | undefined): Promise<PropertyProtections> {
  if (!file) return PropertyProtections.none();
  return PropertyProtections.parse(await readFile(file, 'utf8'), file);
}
