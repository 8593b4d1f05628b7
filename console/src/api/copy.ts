import type { ImsClient } from '../../../sdk/client.ts';

export type CopyProblem = 'nameEmpty' | 'nameLong' | 'nameChars' | 'descriptionLong' | 'descriptionChars';

/** IMS's rules for a copy's name and description (IMG.0013, 0002, 0003, 0004, 0054), checked before sending. */
export function checkCopyRequest(name: string, description: string): CopyProblem[] {
  const problems: CopyProblem[] = [];
  if (name === '') problems.push('nameEmpty');
  else if ([...name].length > 128) problems.push('nameLong');
  else if (!/^[\p{L}\p{N}_.\- ]+$/u.test(name) || name.trim() !== name) problems.push('nameChars');
  if ([...description].length > 1024) problems.push('descriptionLong');
  else if (/[\r\n<>]/.test(description)) problems.push('descriptionChars');
  return problems;
}

/** A name for the copy that IMS accepts: the source's, its other characters dropped, with "-copy". */
export function defaultCopyName(source: string): string {
  const base = [...source.replace(/[^\p{L}\p{N}_.\- ]/gu, '').trim()].slice(0, 123).join('').trim();
  return base ? `${base}-copy` : 'image-copy';
}

/** POST /v1/cloudimages/{id}/copy: the job that makes the copy. */
export async function copyImage(
  client: ImsClient,
  imageId: string,
  name: string,
  description: string,
): Promise<string> {
  const answer = (await client.POST('/v1/cloudimages/{image_id}/copy', {
    path: { image_id: imageId },
    body: { name, ...(description ? { description } : {}) },
  })) as unknown as { job_id: string };
  return answer.job_id;
}
