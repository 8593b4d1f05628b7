import { apiError } from '../../../sdk/client.ts';

export interface UploadProgress {
  loaded: number;
  total: number;
  /** Bytes per second since the start. */
  rate: number;
}

/**
 * PUT /v2/images/{id}/file with upload progress. Browsers report upload progress
 * for XMLHttpRequest only (fetch has none, and streamed fetch bodies need HTTP/2),
 * so this one call does not go through the SDK's fetch; its errors do, through the
 * SDK's own parser, so they read as every other API error.
 * The browser streams the File from disk: it is never read into memory here.
 */
export function uploadImageFile(
  imageId: string,
  file: File,
  token: string,
  onProgress: (p: UploadProgress) => void,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const started = performance.now();
    xhr.open('PUT', `${location.origin}/v2/images/${encodeURIComponent(imageId)}/file`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.setRequestHeader('accept', 'application/json');
    xhr.setRequestHeader('x-auth-token', token);
    xhr.upload.onprogress = (e) => {
      const seconds = Math.max((performance.now() - started) / 1000, 0.001);
      onProgress({
        loaded: e.loaded,
        total: e.lengthComputable ? e.total : file.size,
        rate: e.loaded / seconds,
      });
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      const headers = new Headers();
      for (const line of xhr.getAllResponseHeaders().trim().split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
      }
      const response = new Response(xhr.responseText, {
        status: xhr.status,
        statusText: xhr.statusText,
        headers,
      });
      apiError(response).then(reject, reject);
    };
    xhr.onerror = () => reject(new TypeError('network error'));
    xhr.onabort = () => reject(new DOMException('The upload was stopped', 'AbortError'));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}
