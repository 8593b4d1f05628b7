import type { FastifyInstance } from 'fastify';
import type { QueryInput } from '../../domain/image-query.ts';
import { parseImsPatch } from '../../domain/ims-patch.ts';
import type { ImageService } from '../../services/images.ts';
import { callerOf } from '../context.ts';
import { imsImage } from './ims-image-view.ts';

const tags = ['images (IMS)'];
const text = (description: string) => ({ type: 'string', description }) as const;
const oneOrMany = (description: string) =>
  ({ anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description }) as const;
const flag = (description: string) => ({ type: 'string', enum: ['true', 'false'], description }) as const;

/** Documents IMS's list filters; values are checked by the domain (IMG codes), unknown ones ignored. */
const listQuery = {
  type: 'object',
  properties: {
    __imagetype: text('gold (public), private, shared or market'),
    __isregistered: text('only "true": the native list shows registered images'),
    __whole_image: flag('full-ECS images'),
    __system__cmkid: text('KMS key of encrypted images'),
    __os_bit: text('32 or 64'),
    __os_type: text('Linux, Windows or Other'),
    __platform: text('e.g. CentOS, Ubuntu, Windows (GET /v1/cloudimages/os_version)'),
    __support_kvm: flag('KVM images'),
    __support_xen: flag('Xen images'),
    __support_largememory: flag('large-memory flavors'),
    __support_diskintensive: flag('disk-intensive flavors'),
    __support_highperformance: flag('high-performance flavors'),
    __support_xen_hana: flag('Xen HANA flavors'),
    __support_kvm_infiniband: flag('InfiniBand NICs'),
    __support_arm: flag('Arm images'),
    __support_amd: flag('AMD images'),
    __support_xen_gpu_type: text('Xen GPU type, e.g. M60_vGPU'),
    __support_kvm_gpu_type: text('KVM GPU type, e.g. V100'),
    architecture: text('x86 or arm'),
    container_format: text('bare'),
    disk_format: text('zvhd2, vhd, zvhd, raw, qcow2, iso, ...'),
    enterprise_project_id: text('"0" (default), an enterprise project id, or all_granted_eps'),
    flavor_id: text('only images that boot on this flavor (e.g. s6.large.2, e3.7xlarge.12)'),
    id: text('image id'),
    member_status: text('accepted (default), rejected or pending, for images shared with the caller'),
    min_disk: text('GB'),
    min_ram: text('MB'),
    name: text('exact name'),
    owner: text('owning project id'),
    protected: flag('protected images'),
    status: text('queued, saving, active, killed, ...'),
    tag: oneOrMany('a tag; key/value tags as key=value'),
    virtual_env_type: text('FusionCompute, Ironic, DataImage or IsoImage'),
    visibility: text('public, private or shared'),
    created_at: oneOrMany('<op>:<time>, op one of gt gte lt lte eq neq, e.g. gt:2024-01-01T00:00:00Z'),
    updated_at: oneOrMany('<op>:<time>, as created_at'),
    marker: text('id of the last image of the previous page'),
    limit: text('page size, default 500, at most 1000'),
    sort_key: text('name, container_format, disk_format, status, id, size or created_at (default)'),
    sort_dir: text('desc (default) or asc'),
  },
} as const;

const patchBody = {
  type: 'array',
  description: 'Bare JSON array; values are strings (min_ram and max_ram may be numbers)',
  items: {
    type: 'object',
    properties: {
      op: { type: 'string', enum: ['add', 'replace', 'remove'] },
      path: {
        type: 'string',
        description: '"/" and an attribute, e.g. /name, /__description, /__support_kvm',
      },
      value: { description: 'the new value, a string' },
    },
    required: ['op', 'path'],
  },
} as const;

const imageParams = {
  type: 'object',
  properties: { image_id: { type: 'string', description: 'Image id (UUID)' } },
  required: ['image_id'],
} as const;

/** IMS's native image routes: the list with its filters, the update, the OS version catalogue. */
export function registerCloudImageRoutes(app: FastifyInstance, images: ImageService): void {
  app.get(
    '/v2/cloudimages',
    {
      schema: {
        tags,
        summary: 'List images (IMS ListImages; 500 per page by default)',
        querystring: listQuery,
      },
    },
    async (request) => {
      const page = await images.listIms(callerOf(request), request.query as QueryInput);
      return { images: page.images.map(imsImage) };
    },
  );

  app.patch<{ Params: { image_id: string } }>(
    '/v2/cloudimages/:image_id',
    {
      config: { audit: { operation: 'updateImage', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Update an active image (IMS UpdateImage): a bare array of {op, path, value}',
        params: imageParams,
        body: patchBody,
      },
      // The schema documents the body; the domain checks it, with IMS's codes.
      // (Fastify's validator would also wrap a lone object into an array.)
      validatorCompiler: () => () => true,
    },
    async (request) => {
      const ops = parseImsPatch(request.body);
      return imsImage(await images.updateIms(callerOf(request), request.params.image_id, ops));
    },
  );

  app.get<{ Querystring: { tag?: string | string[] } }>(
    '/v1/cloudimages/os_version',
    {
      schema: {
        tags,
        summary: 'The OS versions __os_version accepts (IMS ListOsVersions): a top-level array',
        querystring: {
          type: 'object',
          properties: { tag: oneOrMany('bms, uefi, arm, x86 or kvm; every one given must apply') },
        },
      },
    },
    async (request) => {
      callerOf(request);
      const asked = request.query.tag;
      const wanted = asked === undefined ? [] : Array.isArray(asked) ? asked : [asked];
      return images.osVersions(wanted).map(({ platform, versions }) => ({
        platform,
        version_list: versions.map((v) => ({
          platform: v.platform,
          os_version_key: v.osVersion,
          os_version: v.osVersion,
          os_bit: v.osBit,
          os_type: v.osType,
        })),
      }));
    },
  );
}
