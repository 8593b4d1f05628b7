/**
 * IMS's update (`PATCH /v2/cloudimages/{id}`): a bare JSON array of
 * `{op, path, value}` whose values are strings. It is turned into Glance patch
 * operations, so the rules both share (image-rules.ts) apply once.
 */
import { DomainError } from './errors.ts';
import { classifyAttribute } from './image.ts';
import type { PatchOp } from './image-rules.ts';
import { checkImsName } from './ims-properties.ts';

/** Paths IMS documents as updatable; other lower-case extension attributes may be added and removed. */
export const IMS_UPDATABLE_PATHS = new Set([
  'name',
  '__description',
  '__support_kvm',
  '__support_xen',
  '__support_largememory',
  '__support_diskintensive',
  '__support_highperformance',
  '__support_xen_gpu_type',
  '__support_kvm_gpu_type',
  '__support_xen_hana',
  '__support_kvm_infiniband',
  '__is_config_init',
  'enterprise_project_id',
  'min_ram',
  'max_ram',
  'hw_vif_multiqueue_enabled',
  'hw_firmware_type',
  '__support_fc_inject',
  '__support_amd',
  '__support_kvm_hi1822_hisriov',
  '__support_kvm_hi1822_hivirtionet',
  'os_shutdown_timeout',
]);

/** Attributes that are columns: they can be set but never removed. */
const COLUMNS = new Set(['name', 'min_ram', 'enterprise_project_id']);
const EXTENSION_NAME = /^[a-z0-9_][a-z0-9_.:-]{0,254}$/;

const bad = (message: string, imsCode = 'IMG.0001'): never => {
  throw new DomainError('ValidationFailed', message, { imsCode });
};

function checkPath(i: number, name: string): void {
  if (IMS_UPDATABLE_PATHS.has(name)) return;
  const access = classifyAttribute(name);
  if (access === 'read-only' || access === 'reserved')
    bad(`Operation ${i}: '${name}' is set by the service and cannot be changed`, 'IMG.0035');
  if (access === 'base') bad(`Operation ${i}: '${name}' cannot be changed through /v2/cloudimages`);
  if (!EXTENSION_NAME.test(name))
    bad(`Operation ${i}: extension attribute names are lower-case letters, digits and _ . : -`);
}

function valueOf(i: number, name: string, value: unknown): unknown {
  if (name === 'min_ram') {
    // IMS takes numbers as strings here; Glance's rules then check the integer.
    if (typeof value === 'string' && /^\d{1,10}$/.test(value)) return Number(value);
    if (typeof value === 'number') return value;
    return bad(`Operation ${i}: 'min_ram' must be a number of MB`, 'IMG.0055');
  }
  if (name === 'max_ram' && typeof value === 'number' && Number.isInteger(value)) return String(value);
  if (typeof value !== 'string') return bad(`Operation ${i}: the value of '${name}' must be a string`);
  if (name === 'name') return checkImsName(value);
  return value;
}

/** Parses and checks the IMS update body; values and names are checked further by the shared rules. */
export function parseImsPatch(body: unknown): PatchOp[] {
  if (body === undefined) return bad('The request body is empty', 'IMG.0007');
  if (!Array.isArray(body)) return bad('The body must be a JSON array of {op, path, value} operations');
  if (body.length === 0) return bad('The body must hold at least one operation');
  if (body.length > 128) return bad('At most 128 operations per request');
  return body.map((raw: unknown, i): PatchOp => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      return bad(`Operation ${i} must be an object`);
    const { op, path, value } = raw as Record<string, unknown>;
    if (op !== 'add' && op !== 'replace' && op !== 'remove')
      return bad(`Operation ${i}: "op" must be one of add, replace, remove`);
    if (typeof path !== 'string' || !/^\/[^/]+$/.test(path))
      return bad(`Operation ${i}: "path" must be "/" and an attribute name, such as "/name"`);
    const name = path.slice(1);
    checkPath(i, name);
    if (op === 'remove') {
      if (COLUMNS.has(name)) bad(`Operation ${i}: '${name}' cannot be removed`);
      return { op, path: name };
    }
    if (!('value' in raw)) return bad(`Operation ${i}: "value" is required for ${op}`);
    return { op, path: name, value: valueOf(i, name, value) };
  });
}
