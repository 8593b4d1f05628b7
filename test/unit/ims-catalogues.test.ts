import { describe, expect, it } from 'vitest';
import { loadCatalogues } from '../../src/adapters/catalogue-files.ts';
import { bootableOn, parseFlavorCatalogue } from '../../src/domain/flavors.ts';
import { checkImsProperties, imsProperties } from '../../src/domain/ims-properties.ts';
import { fieldsOf } from '../../src/domain/image-rules.ts';
import { parseOsVersionCatalogue } from '../../src/domain/os-versions.ts';
import { expectDomainError, makeImage } from '../helpers/domain.ts';

const shipped = await loadCatalogues({ osVersionsFile: '', flavorsFile: '' });

describe('the shipped catalogues', () => {
  it('hold the OS versions the IMS reference names', () => {
    for (const v of [
      'CentOS 7.6 64bit',
      'CentOS 6.10 32bit',
      'Ubuntu 18.04 server 64bit',
      'Ubuntu 16.04.3 Server 64bit',
      'Debian GNU/Linux 10.0.0 64bit',
      'EulerOS 2.5 64bit',
      'openEuler 20.03 64bit',
      'Fedora 30 64bit',
      'openSUSE 15.1 64bit',
      'SUSE Linux Enterprise Server 12 SP5 64bit',
      'Oracle Linux Server release 7.6 64bit',
      'Redhat Linux Enterprise 7.5 64bit',
      'Windows Server 2016 Standard 64bit',
      'Windows Server 2012 R2 Datacenter 64bit',
      'CoreOS 1068.10.0',
      'Other Linux(64 bit)',
      'Other(32 bit)',
    ])
      expect(shipped.osVersions.find(v), v).toBeDefined();
  });

  it('hold the flavor families the issue names', () => {
    for (const f of [
      'm3ne',
      'e3',
      'e6',
      'e7',
      'i3',
      'ir3',
      'i7',
      'ir7',
      'ac7',
      'ac8',
      's6',
      'kc1',
      'physical',
    ])
      expect(shipped.flavors.familyNames(), f).toContain(f);
  });

  it('resolve flavor ids to a family and RAM', () => {
    expect(shipped.flavors.resolve('e3.7xlarge.12')).toMatchObject({ ramMb: 28 * 12 * 1024 });
    expect(shipped.flavors.resolve('s6.medium.2')).toMatchObject({ ramMb: 2048 });
    expect(shipped.flavors.resolve('physical.s4.3xlarge')).toMatchObject({ ramMb: 393216 });
    expectDomainError(() => shipped.flavors.resolve('q9.large.2'), 'ValidationFailed', 400);
    expect(bootableOn(shipped.flavors.resolve('kc1.large.2'))).toBeDefined();
  });
});

describe('catalogue files an operator got wrong', () => {
  it('lists every problem of an OS version file', () => {
    expect(() =>
      parseOsVersionCatalogue(
        {
          os_versions: [
            { os_version: 'A', platform: 'P', os_type: 'Linux', os_bit: 64 },
            { os_version: 'A', platform: 'P', os_type: 'Linux', os_bit: 64 },
            { os_version: 'B', platform: 'P', os_type: 'BeOS', os_bit: 64 },
            { os_version: 'C', platform: 'P', os_type: 'Linux', os_bit: 16 },
          ],
        },
        'os.json',
      ),
    ).toThrow(/listed twice[\s\S]*os_type[\s\S]*os_bit[\s\S]*Other Linux\(64 bit\)/);
    expect(() => parseOsVersionCatalogue([], 'os.json')).toThrow(/os_versions/);
  });

  it('lists every problem of a flavor file, unknown OS versions included', () => {
    expect(() =>
      parseFlavorCatalogue(
        {
          families: [
            { name: 'Bad Name' },
            { name: 'ok1', architecture: 'sparc', os_versions: ['Nope 1.0'] },
            { name: 'ok2', requires: { __support_kvm: true } },
          ],
          flavors: [{ id: 'f', family: 'missing', vcpus: 1, ram_mb: 1 }],
        },
        'flavors.json',
        () => false,
      ),
    ).toThrow(/name[\s\S]*architecture[\s\S]*Nope 1\.0[\s\S]*requires[\s\S]*family/);
  });

  it('refuses a missing or malformed file at start-up, naming the setting', async () => {
    await expect(loadCatalogues({ osVersionsFile: '/nonexistent/os.json', flavorsFile: '' })).rejects.toThrow(
      /IMS_OS_VERSIONS_FILE/,
    );
    await expect(loadCatalogues({ osVersionsFile: '', flavorsFile: '/etc/hostname' })).rejects.toThrow(
      /IMS_FLAVORS_FILE/,
    );
  });
});

describe('IMS properties', () => {
  const check = (props: Record<string, string>, before = makeImage({ status: 'active' })) => {
    const fields = { ...fieldsOf(before), properties: { ...before.properties, ...props } };
    checkImsProperties(fields, before, shipped.osVersions);
    return fields.properties;
  };

  it('derives the OS facts from __os_version and drops them with it', () => {
    expect(check({ __os_version: 'SUSE Linux Enterprise Server 12 SP5 64bit' })).toMatchObject({
      __os_type: 'Linux',
      __platform: 'SUSE',
      __os_bit: '64',
    });
    const image = makeImage({
      properties: {
        __os_version: 'CentOS 6.10 32bit',
        __os_type: 'Linux',
        __platform: 'CentOS',
        __os_bit: '32',
      },
    });
    const fields = { ...fieldsOf(image), properties: {} };
    checkImsProperties(fields, image, shipped.osVersions);
    expect(fields.properties).toEqual({});
  });

  it('keeps a value an older catalogue allowed when the write leaves it alone', () => {
    const old = makeImage({ status: 'active', properties: { __os_version: 'Retired OS 1' } });
    expect(check({ __description: 'still editable' }, old).__os_version).toBe('Retired OS 1');
  });

  it('refuses a data-disk image turning into a system image (IMG.0168)', () => {
    const data = makeImage({ status: 'active', properties: { virtual_env_type: 'DataImage' } });
    const err = expectDomainError(
      () => check({ virtual_env_type: 'FusionCompute' }, data),
      'ValidationFailed',
      400,
    );
    expect(err.imsCode).toBe('IMG.0168');
  });

  it('shows IMS defaults: KVM unless tied to Xen, UEFI for Arm, IsoImage for ISO files', () => {
    expect(imsProperties(makeImage(), false)).toMatchObject({
      __support_kvm: 'true',
      hw_firmware_type: 'bios',
    });
    expect(imsProperties(makeImage({ properties: { __support_xen: 'true' } }), false)).not.toHaveProperty(
      '__support_kvm',
    );
    expect(imsProperties(makeImage({ properties: { __support_arm: 'true' } }), false).hw_firmware_type).toBe(
      'uefi',
    );
    expect(imsProperties(makeImage({ diskFormat: 'iso' }), false).virtual_env_type).toBe('IsoImage');
    expect(imsProperties(makeImage({ visibility: 'public' }), true).__imagetype).toBe('gold');
    expect(imsProperties(makeImage(), true).__imagetype).toBe('shared');
    expect(imsProperties(makeImage({ status: 'queued' }), false).__isregistered).toBe('false');
  });
});
