import { ImsApiError } from '../../../sdk/client.ts';
import { useI18n } from '../i18n/i18n.tsx';

/**
 * Any failure of an API call, as the user needs it: the server's own message, the
 * HTTP status and code, and the request id to quote to an operator.
 */
export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  const { t } = useI18n();
  if (error === null || error === undefined) return null;
  const api = error instanceof ImsApiError ? error : null;
  // Failures that are not answers (a failed job or import) may still name the request behind them.
  const otherRequestId =
    !api && error instanceof Error ? (error as { requestId?: unknown }).requestId : undefined;
  const message = api
    ? api.message
    : error instanceof TypeError
      ? t('error.network')
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <div className="error" role="alert">
      <p className="error-title">{title ?? t('error.title')}</p>
      <p className="error-message">{message}</p>
      {api && (
        <p className="error-meta">
          <span>{t('error.status', { status: api.status })}</span>
          {api.code && api.code !== message && <span> · {api.code}</span>}
          {api.requestId && (
            <span>
              {' · '}
              {t('error.requestId')}: <code className="request-id">{api.requestId}</code>
            </span>
          )}
        </p>
      )}
      {typeof otherRequestId === 'string' && otherRequestId && (
        <p className="error-meta">
          {t('error.requestId')}: <code className="request-id">{otherRequestId}</code>
        </p>
      )}
    </div>
  );
}
