import type { FastifyInstance } from 'fastify';
import type { FileImageRoute } from '../../domain/object-files.ts';
import type { ObjectImageService } from '../../services/object-images.ts';
import { callerOf } from '../context.ts';

const tags = ['images (IMS)'];
const text = (description: string) => ({ type: 'string', description }) as const;
const int = (description: string) => ({ type: 'integer', description }) as const;
const bool = (description: string) => ({ type: 'boolean', description }) as const;
const keyValueTags = {
  type: 'array',
  description: 'Key/value tags (at most 10); not together with tags',
  items: { type: 'object', properties: { key: { type: 'string' }, value: { type: 'string' } } },
} as const;

const common = {
  name: text('1-128 characters (IMG.0013, IMG.0002, IMG.0003)'),
  image_url: text(
    '"bucket:object" in the tenants\' object store, in a bucket granted to the project; ' +
      'the extension names the format (.qcow2 .vhd .vhdx .vmdk .raw .img .qed .vdi .zvhd .zvhd2 .iso)',
  ),
  description: text('At most 1024 characters (IMG.0004)'),
  os_type: text('Linux (default), Windows or Other'),
  tags: { type: 'array', items: { type: 'string' }, description: 'Legacy "key.value" tags' },
  image_tags: keyValueTags,
  enterprise_project_id: text('"0" (default) or an enterprise project id'),
  cmk_id: text('Refused with IMG.0095: this deployment has no KMS'),
} as const;

const systemProps = {
  ...common,
  min_disk: int("GB, 1-1024; the file's virtual disk must fit (IMG.0055)"),
  os_version: text('From GET /v1/cloudimages/os_version; required for ISO images and quick imports'),
  type: text('ECS (default), FusionCompute, BMS, Ironic or IsoImage (an .iso file)'),
  is_config: bool('Accepted; this deployment does no guest configuration'),
  is_quick_import: bool('RAW or ZVHD2 only; os_version required'),
  architecture: text('x86 (default) or arm (UEFI)'),
  hw_firmware_type: text('bios or uefi (IMG.0141)'),
  min_ram: int('MB, 0 = no limit'),
  max_ram: int('MB'),
  instance_id: text('Refused with IMG.0105: source type not available in this deployment'),
  volume_id: text('Refused with IMG.0105: source type not available in this deployment'),
  data_images: {
    type: 'array',
    items: { type: 'object' },
    description:
      'Up to 3 data-disk images from files ({name, image_url, min_disk 1-2048, description, ' +
      'is_quick_import, tags, image_tags}), made by the same job (sub_jobs_result: one result per ' +
      'image); without image_url (a server data disk): refused with IMG.0105',
  },
} as const;

const dataProps = { ...common, min_disk: int('GB, 1-2048') } as const;

const quickProps = {
  ...systemProps,
  type: text('ECS (default), BMS, or DataImage for a data-disk image'),
  license_type: text('platform or byol (Windows); recorded nowhere'),
} as const;

const imageParams = {
  type: 'object',
  properties: { image_id: { type: 'string', description: 'Image id (UUID)' } },
  required: ['image_id'],
} as const;

// The schemas document the bodies; the domain checks them, with IMS's codes.
const domainChecks = { validatorCompiler: () => () => true };
const created = { operation: 'createImage', resourceType: 'image' } as const;

/**
 * IMS's routes between images and the tenants' object store: create from a
 * file (system, ISO, data disk, quick import), register, export; and the
 * variants from servers, volumes and backups, refused with IMG.0105.
 */
export function registerObjectImageRoutes(app: FastifyInstance, service: ObjectImageService): void {
  const create = (paths: string[], route: FileImageRoute, summary: string, properties: object) => {
    for (const url of paths) {
      app.post(
        url,
        {
          schema: { tags, summary, body: { type: 'object', properties, required: ['name', 'image_url'] } },
          ...domainChecks,
          config: { audit: created },
        },
        async (request) => {
          const { jobId } = await service.createFromFile(callerOf(request), route, request.body);
          return { job_id: jobId };
        },
      );
    }
  };
  create(
    ['/v2/cloudimages/action', '/v2.1/cloudimages/action'],
    'system',
    'Create an image from a file in the object store (IMS CreateImage; type IsoImage for an .iso). ' +
      'Job imsImportImageJob. From a server, volume or backup: IMG.0105, not available in this deployment',
    systemProps,
  );
  create(
    ['/v1/cloudimages/dataimages/action', '/v2.1/cloudimages/dataimages/action'],
    'data',
    'Create a data-disk image from a file in the object store (IMS CreateDataImage): job imsImportDataImageJob',
    dataProps,
  );
  create(
    ['/v2/cloudimages/quickimport/action', '/v2.1/cloudimages/quickimport/action'],
    'quick',
    'Quick import of a RAW or ZVHD2 file (IMS ImportImageQuick; type DataImage for a data disk); ' +
      'the file is checked as every import is',
    quickProps,
  );

  app.post(
    '/v1/cloudimages/wholeimages/action',
    {
      schema: {
        tags,
        summary:
          'Full-ECS image (IMS CreateWholeImage): refused with IMG.0105, source type not available in this ' +
          'deployment (it needs a compute and backup service)',
        body: {
          type: 'object',
          properties: { name: text('image name'), instance_id: text('server'), backup_id: text('backup') },
        },
      },
      ...domainChecks,
      config: { audit: created },
    },
    async (request) => {
      const { jobId } = await service.createWholeImage(callerOf(request), request.body);
      return { job_id: jobId };
    },
  );

  app.put<{ Params: { image_id: string } }>(
    '/v1/cloudimages/:image_id/upload',
    {
      schema: {
        tags,
        summary:
          'Register a file of the object store into a queued image made with POST /v2/images ' +
          '(IMS RegisterImage): job imsNativeImportImageJob',
        params: imageParams,
        body: {
          type: 'object',
          properties: { image_url: common.image_url },
          required: ['image_url'],
        },
      },
      ...domainChecks,
      config: { audit: { operation: 'updateImage', resourceType: 'image', resourceParam: 'image_id' } },
    },
    async (request) => {
      const { jobId } = await service.register(callerOf(request), request.params.image_id, request.body);
      return { job_id: jobId };
    },
  );

  for (const prefix of ['/v1', '/v2.1']) {
    app.post<{ Params: { image_id: string } }>(
      `${prefix}/cloudimages/:image_id/file`,
      {
        schema: {
          tags,
          summary:
            'Export an image to a new file in a granted bucket (IMS ExportImage): job imsNativeExportImageJob',
          params: imageParams,
          body: {
            type: 'object',
            properties: {
              bucket_url: text(
                '"bucket:object" in a bucket granted to the project; must not exist yet (IMG.0070)',
              ),
              file_format: text('qcow2, vhd, zvhd or vmdk; converted by qemu-img when not the stored format'),
              is_quick_export: bool('true: the stored bytes unchanged, file_format absent'),
            },
            required: ['bucket_url'],
          },
        },
        ...domainChecks,
        config: { audit: { operation: 'exportImage', resourceType: 'image', resourceParam: 'image_id' } },
      },
      async (request) => {
        const { jobId } = await service.export(callerOf(request), request.params.image_id, request.body);
        return { job_id: jobId };
      },
    );
  }
}
