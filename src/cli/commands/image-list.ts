import type { GlanceImage, ImageListQuery } from '../../../sdk/client.ts';
import { list, str, type CommandSpec } from '../client/command.ts';
import { intOption, keyValues } from './resolve.ts';
import { IMAGE_COLUMNS } from './image-view.ts';

const FILTERS = {
  name: 'Exact name, or in:"a","b"',
  status: 'Status (queued, saving, active, killed, deactivated...), or in:a,b',
  visibility: 'public, private, shared, community or all',
  'member-status': 'With --visibility shared: pending, accepted, rejected or all',
  owner: 'Owner project id',
  'disk-format': 'Disk format, or in:a,b',
  'container-format': 'Container format, or in:a,b',
  'size-min': 'Minimum size in bytes',
  'size-max': 'Maximum size in bytes',
  'created-at': '[gt|gte|lt|lte|eq|neq:]ISO-8601 time',
  'updated-at': '[gt|gte|lt|lte|eq|neq:]ISO-8601 time',
  sort: 'key[:asc|desc],... e.g. name:asc,created_at:desc',
  marker: 'Id of the last image of the previous page',
} as const;

export const imageList: CommandSpec = {
  name: 'image list',
  summary: 'List the images you can see, with the API filters',
  options: {
    ...Object.fromEntries(
      Object.entries(FILTERS).map(([k, d]) => [
        k,
        { type: 'string' as const, value: 'VALUE', description: d },
      ]),
    ),
    tag: { type: 'string', multiple: true, value: 'TAG', description: 'Only images with this tag' },
    property: { type: 'string', multiple: true, value: 'KEY=VALUE', description: 'Custom property equals' },
    protected: { type: 'string', value: 'true|false', description: 'Protected or not' },
    hidden: { type: 'boolean', description: 'Include images with os_hidden=true' },
    limit: { type: 'string', value: 'N', description: 'Page size (server default 25, at most 1000)' },
    all: { type: 'boolean', description: 'Follow the pages to the end' },
  },
  examples: [
    'ims image list --status active --sort name:asc',
    'ims image list --visibility shared --member-status pending',
    'ims image list --tag web --all -o json',
  ],
  async run(ctx, { options }) {
    const { client } = await ctx.open();
    const query: Record<string, string | string[] | number> = {};
    for (const key of Object.keys(FILTERS)) {
      const value = str(options, key);
      if (value !== undefined) query[key.replace(/-/g, '_')] = value;
    }
    const limit = intOption(str(options, 'limit'), '--limit');
    if (limit !== undefined) query.limit = limit;
    if (list(options, 'tag').length) query.tag = list(options, 'tag');
    if (str(options, 'protected') !== undefined) query.protected = str(options, 'protected')!;
    if (options.hidden) query.os_hidden = 'true';
    Object.assign(query, keyValues(list(options, 'property'), '--property'));

    const images: GlanceImage[] = [];
    let page = await client.GET('/v2/images', { query: query as ImageListQuery });
    images.push(...page.images);
    while (options.all && page.next) {
      const next = new URL(page.next, 'http://next');
      page = await client.GET('/v2/images', {
        query: Object.fromEntries([...next.searchParams.keys()].map((k) => [k, next.searchParams.getAll(k)])),
      });
      images.push(...page.images);
    }
    ctx.printList(images, IMAGE_COLUMNS);
    if (!options.all && page.next && !ctx.json && images.length) {
      ctx.note(`(more images: --marker ${images[images.length - 1]!.id}, or --all)`);
    }
  },
};
