/** The Image API versions this server speaks, newest first, as Glance lists them. */
const IMAGE_VERSIONS = [
  '2.16',
  '2.15',
  '2.14',
  '2.13',
  '2.12',
  '2.11',
  '2.10',
  '2.9',
  '2.8',
  '2.7',
  '2.6',
  '2.5',
  '2.4',
  '2.3',
  '2.2',
  '2.1',
  '2.0',
];

export function imageVersions(publicUrl: string) {
  return {
    versions: IMAGE_VERSIONS.map((v, i) => ({
      id: `v${v}`,
      status: i === 0 ? 'CURRENT' : 'SUPPORTED',
      links: [{ rel: 'self', href: `${publicUrl}/v2/` }],
    })),
  };
}

/** IMS's own deprecated versions of its `/v1/...` routes, listed by its version document. */
const IMS_V1_VERSIONS = ['1.1', '1.0'];

/**
 * One version as IMS's ShowVersion (`GET /{version}`, e.g. `/v2.0`) answers it: the version
 * document with only that version, or null when the server does not speak it.
 */
export function imageVersion(publicUrl: string, id: string) {
  const v2 = imageVersions(publicUrl).versions.find((v) => v.id === id);
  if (v2) return { versions: [v2] };
  if (IMS_V1_VERSIONS.includes(id.slice(1)) && id.startsWith('v'))
    return { versions: [{ id, status: 'DEPRECATED', links: [{ rel: 'self', href: `${publicUrl}/v1/` }] }] };
  return null;
}

export function identityVersion(publicUrl: string) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${publicUrl}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}
