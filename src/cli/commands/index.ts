import type { CommandSpec, GroupSpec } from '../client/command.ts';
import { auditQuery } from './audit-query.ts';
import { accountCreate, accountDelete, accountList, accountShow } from './accounts.ts';
import { imageCopy } from './image-copy.ts';
import { imageCreate } from './image-create.ts';
import { imageExport } from './image-export.ts';
import { imageDelete } from './image-delete.ts';
import { imageDownload } from './image-download.ts';
import { imageImport } from './image-import.ts';
import { imageList } from './image-list.ts';
import { imageAccept, imageMembers, imageReject, imageShare, imageUnshare } from './image-members.ts';
import { imageShow } from './image-show.ts';
import { imageTagAdd, imageTagRemove } from './image-tags.ts';
import { imageUpload } from './image-upload.ts';
import { jobList } from './job-list.ts';
import { jobShow } from './job-show.ts';
import { jobWait } from './job-wait.ts';
import { keyCreate, keyDelete, keyList } from './keys.ts';
import { login } from './login.ts';
import {
  orgAccountAdd,
  orgAccountList,
  orgAccountRemove,
  orgCreate,
  orgDelete,
  orgList,
  orgMembers,
  orgShow,
  orgUnitCreate,
  orgUnitDelete,
  orgUnitList,
} from './organizations.ts';
import { profileDelete, profileList, profileSet, profileShow, profileUse } from './profile.ts';
import { quotaSet, quotaShow } from './quota.ts';
import { projectCreate, projectDelete, projectList, projectShow } from './projects.ts';
import { roleAssignments, roleGrant, roleList, roleRevoke } from './roles.ts';
import { userCreate, userDelete, userList, userShow } from './users.ts';

/** Command groups in the order `ims --help` shows them. */
export const GROUPS: GroupSpec[] = [
  { name: 'login', summary: 'Sign in with a password; the token is kept in a profile' },
  { name: 'profile', summary: 'Profiles: endpoints and credentials (list, show, use, set, delete)' },
  {
    name: 'image',
    summary:
      'Images: list, show, create, import, upload, download, copy, export, delete, tag, share, accept, reject',
  },
  { name: 'job', summary: 'Asynchronous jobs: list, show, wait' },
  { name: 'quota', summary: 'Image quotas: show (yours), set (admin)' },
  {
    name: 'audit',
    summary: 'Audit events: query (server side: `ims audit verify|export`, see `ims --help`)',
  },
  { name: 'account', summary: 'Accounts (Keystone domains; admin)' },
  { name: 'project', summary: 'Projects (admin)' },
  { name: 'user', summary: 'Users (admin)' },
  { name: 'role', summary: 'Roles and role grants (admin)' },
  { name: 'key', summary: 'Access keys (AK/SK)' },
  { name: 'org', summary: 'Organizations, their units and accounts, for sharing by URN (admin)' },
];

/** Every client command. A new one: a module under src/cli/commands/ and a line here. */
export const COMMANDS: CommandSpec[] = [
  login,
  profileList,
  profileShow,
  profileUse,
  profileSet,
  profileDelete,
  imageList,
  imageShow,
  imageCreate,
  imageImport,
  imageUpload,
  imageDownload,
  imageCopy,
  imageExport,
  imageDelete,
  imageTagAdd,
  imageTagRemove,
  imageShare,
  imageUnshare,
  imageMembers,
  imageAccept,
  imageReject,
  jobList,
  jobShow,
  jobWait,
  quotaShow,
  quotaSet,
  auditQuery,
  accountList,
  accountCreate,
  accountShow,
  accountDelete,
  projectList,
  projectCreate,
  projectShow,
  projectDelete,
  userList,
  userCreate,
  userShow,
  userDelete,
  roleList,
  roleGrant,
  roleRevoke,
  roleAssignments,
  keyCreate,
  keyList,
  keyDelete,
  orgList,
  orgCreate,
  orgShow,
  orgDelete,
  orgUnitList,
  orgUnitCreate,
  orgUnitDelete,
  orgAccountList,
  orgAccountAdd,
  orgAccountRemove,
  orgMembers,
];
