"""An openstacksdk user's image scenario against IMS, run by glanceclient.test.ts.

Run with Debian's /usr/bin/python3. Arguments: auth URL, then the owner's and
the member's user, password and project. Prints one JSON document of what the
SDK saw; the test checks it, so this script only reports (it asserts nothing).
"""
import hashlib
import io
import json
import sys

import openstack


def connect(auth_url, user, password, project):
    return openstack.connect(
        auth_url=auth_url,
        username=user,
        password=password,
        project_name=project,
        user_domain_name='Default',
        project_domain_name='Default',
        region_name='RegionOne',
        interface='public',
        identity_api_version='3',
    )


def main():
    auth_url, owner_user, owner_pw, owner_project, member_user, member_pw, member_project = sys.argv[1:8]
    owner = connect(auth_url, owner_user, owner_pw, owner_project)
    member = connect(auth_url, member_user, member_pw, member_project)
    data = bytes(range(256)) * 4096 + b'tail'
    report = {}

    image = owner.image.create_image(
        name='sdk-image', disk_format='raw', container_format='bare', visibility='shared',
        data=io.BytesIO(data), validate_checksum=False, wait=True,
    )
    image = owner.image.get_image(image.id)
    report['created'] = {'status': image.status, 'size': image.size, 'checksum': image.checksum,
                         'name': image.name}
    report['expected_md5'] = hashlib.md5(data).hexdigest()
    report['listed'] = image.id in [i.id for i in owner.image.images()]

    downloaded = owner.image.download_image(image)
    report['downloaded_md5'] = hashlib.md5(downloaded.content if hasattr(downloaded, 'content') else downloaded).hexdigest()

    owner.image.add_tag(image, 'sdk-tag')
    report['tags_after_add'] = owner.image.get_image(image.id).tags
    owner.image.remove_tag(image, 'sdk-tag')
    report['tags_after_remove'] = owner.image.get_image(image.id).tags

    member_project_id = member.current_project_id
    added = owner.image.add_member(image, member_id=member_project_id)
    report['member_added'] = added.status
    member.image.update_member(added, image, status='accepted')
    report['member_sees'] = image.id in [i.id for i in member.image.images()]
    report['members'] = [(m.member_id, m.status) for m in owner.image.members(image)]
    owner.image.remove_member(member_project_id, image)
    report['members_after_remove'] = [m.member_id for m in owner.image.members(image)]

    owner.image.update_image(image, name='sdk-renamed', os_distro='cirros')
    updated = owner.image.get_image(image.id)
    report['updated'] = {'name': updated.name, 'os_distro': updated.os_distro}
    owner.image.delete_image(image)
    report['deleted'] = owner.image.find_image(image.id) is None
    print(json.dumps(report))


if __name__ == '__main__':
    main()
