import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import type { GlanceImage, ImageMember } from '../../../sdk/client.ts';
import { useApi } from '../api/client-context.tsx';
import { formatDate } from '../api/format.ts';
import {
  addMembers,
  listMembers,
  parseMemberIds,
  PATCH_TYPE,
  removeMember,
  shareWithAccountsOrOrganizations,
  type MemberInputProblem,
  type MemberKind,
} from '../api/sharing.ts';
import { useJobs } from '../api/jobs.tsx';
import { Dialog } from '../components/Dialog.tsx';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { MemberBadge } from '../components/StatusBadge.tsx';
import { Tabs } from '../components/Tabs.tsx';
import { useI18n, type Translate } from '../i18n/i18n.tsx';

type Pane = 'add' | 'cancel';

const KINDS: MemberKind[] = ['project', 'account', 'organization'];
const KIND_TEXT = {
  project: {
    label: 'share.projectIds',
    hint: 'share.projectIdsHint',
    empty: 'share.empty',
    invalid: 'share.invalid',
  },
  account: {
    label: 'share.accountIds',
    hint: 'share.accountIdsHint',
    empty: 'share.emptyAccount',
    invalid: 'share.invalidAccount',
  },
  organization: {
    label: 'share.orgUrns',
    hint: 'share.orgUrnsHint',
    empty: 'share.emptyOrganization',
    invalid: 'share.invalidOrganization',
  },
} as const;

function problemText(t: Translate, p: MemberInputProblem, kind: MemberKind): string {
  switch (p.kind) {
    case 'empty':
      return t(KIND_TEXT[kind].empty);
    case 'tooMany':
      return t('share.tooMany', { max: p.max });
    case 'invalid':
      return t(KIND_TEXT[kind].invalid, { id: p.id });
    case 'self':
      return t('share.self', { id: p.id });
    case 'duplicate':
      return t('share.duplicate', { id: p.id });
    case 'already':
      return t('share.already', { id: p.id });
  }
}

/**
 * Huawei's share dialog: add members by project id (several, comma separated,
 * checked before anything is sent), and a "Cancel sharing" tab to remove some.
 */
export function ShareDialog({
  image,
  onClose,
}: {
  image: GlanceImage;
  onClose: (changed: string | null) => void;
}) {
  const { t, locale } = useI18n();
  const { client, session } = useApi();
  const [pane, setPane] = useState<Pane>('add');
  const [visibility, setVisibility] = useState(image.visibility);
  const [members, setMembers] = useState<ImageMember[]>([]);
  const [text, setText] = useState('');
  const [problems, setProblems] = useState<MemberInputProblem[]>([]);
  const [results, setResults] = useState<{ id: string; error: unknown }[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [changed, setChanged] = useState<string | null>(null);
  const [kind, setKind] = useState<MemberKind>('project');
  // Glance members need a `shared` image; IMS batch sharing (accounts, organizations) takes a
  // private one and makes it shared.
  const needsShared = kind === 'project' && visibility !== 'shared';
  const [batch, setBatch] = useState<{ ids: string[]; job: string | null; error: unknown } | null>(null);
  const { track } = useJobs();
  const inputId = useId();
  const hintId = useId();
  const problemsId = useId();
  const name = image.name || image.id!;

  const reload = useCallback(async () => {
    if (visibility !== 'shared') return setMembers([]);
    try {
      setMembers(await listMembers(client, image.id!));
    } catch (err) {
      setError(err);
    }
  }, [client, image.id, visibility]);
  useEffect(() => {
    void reload();
  }, [reload]);

  const makeShared = async () => {
    setBusy(true);
    setError(null);
    try {
      await client.PATCH('/v2/images/{image_id}', {
        path: { image_id: image.id! },
        body: [{ op: 'replace', path: '/visibility', value: 'shared' }],
        contentType: PATCH_TYPE,
      });
      setVisibility('shared');
      setChanged(t('share.nowShared'));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const add = async (e: FormEvent) => {
    e.preventDefault();
    setResults([]);
    setError(null);
    setBatch(null);
    const parsed = parseMemberIds(
      text,
      session.project.id,
      members.map((m) => m.member_id!),
      kind,
    );
    setProblems(parsed.problems);
    if (parsed.problems.length > 0) return;
    setBusy(true);
    if (kind !== 'project') {
      // Accounts and organizations: one IMS batch job for all of them, followed in the jobs panel.
      try {
        const job = await shareWithAccountsOrOrganizations(client, image.id!, kind, parsed.ids);
        track(job, t('share.batchJob', { name, ids: parsed.ids.join(', ') }));
        setBatch({ ids: parsed.ids, job, error: null });
        setText('');
      } catch (err) {
        setBatch({ ids: parsed.ids, job: null, error: err });
      } finally {
        setBusy(false);
      }
      return;
    }
    const outcome = await addMembers(client, image.id!, parsed.ids);
    setBusy(false);
    setResults(outcome);
    const ok = outcome.filter((r) => !r.error).map((r) => r.id);
    if (ok.length) setChanged(ok.map((id) => t('share.added', { id })).join(' '));
    setText(
      outcome
        .filter((r) => r.error)
        .map((r) => r.id)
        .join(', '),
    );
    await reload();
  };

  const remove = async () => {
    setBusy(true);
    setError(null);
    const done: string[] = [];
    try {
      for (const id of selected) {
        await removeMember(client, image.id!, id);
        done.push(id);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      setSelected(new Set());
      if (done.length) setChanged(done.map((id) => t('share.removed', { id })).join(' '));
      await reload();
    }
  };

  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <Dialog title={t('share.title', { name })} onClose={() => onClose(changed)} wide>
      <Tabs
        label={t('share.title', { name })}
        idPrefix="share"
        tabs={[
          { key: 'add' as Pane, label: t('share.addTab') },
          { key: 'cancel' as Pane, label: t('share.cancelTab') },
        ]}
        selected={pane}
        onSelect={setPane}
      />
      <div id="share-panel" role="tabpanel" aria-labelledby={`share-tab-${pane}`} className="panel">
        {needsShared && (
          <div className="callout">
            <p>{t('share.needShared', { visibility: t(`visibility.${visibility ?? 'private'}`) })}</p>
            <button type="button" className="button" disabled={busy} onClick={() => void makeShared()}>
              {t('share.makeShared')}
            </button>
          </div>
        )}
        {visibility === 'shared' && image.status !== 'active' && (
          <p className="muted">{t('share.notActive')}</p>
        )}
        {pane === 'add' ? (
          <form onSubmit={(e) => void add(e)} noValidate>
            <fieldset className="segmented">
              <legend>{t('share.memberKind')}</legend>
              {KINDS.map((k) => (
                <label key={k} className={kind === k ? 'segment selected' : 'segment'}>
                  <input
                    type="radio"
                    name="member-kind"
                    value={k}
                    checked={kind === k}
                    onChange={() => {
                      setKind(k);
                      setProblems([]);
                      setBatch(null);
                    }}
                  />
                  {t(`share.kind.${k}`)}
                </label>
              ))}
            </fieldset>
            <label htmlFor={inputId}>{t(KIND_TEXT[kind].label)}</label>
            <textarea
              id={inputId}
              name="member-ids"
              rows={3}
              value={text}
              onChange={(e) => setText(e.target.value)}
              aria-describedby={`${hintId} ${problemsId}`}
              aria-invalid={problems.length > 0 || undefined}
              disabled={needsShared}
            />
            <p id={hintId} className="hint">
              {t(KIND_TEXT[kind].hint)}
            </p>
            <ul id={problemsId} className="problems" aria-live="polite">
              {problems.map((p, i) => (
                <li key={i}>{problemText(t, p, kind)}</li>
              ))}
            </ul>
            <ul className="results" aria-live="polite">
              {results.map((r) => (
                <li key={r.id} className={r.error ? 'result-bad' : 'result-ok'}>
                  {r.error ? (
                    <ErrorMessage error={r.error} title={t('share.addFailed', { id: r.id })} />
                  ) : (
                    t('share.added', { id: r.id })
                  )}
                </li>
              ))}
            </ul>
            <div aria-live="polite">
              {batch?.job && (
                <p className="notice">
                  {t('share.batchStarted', { ids: batch.ids.join(', '), job: batch.job })}
                </p>
              )}
            </div>
            {batch?.error ? (
              <ErrorMessage error={batch.error} title={t('share.addFailed', { id: batch.ids.join(', ') })} />
            ) : null}
            <div className="dialog-actions">
              <button type="button" className="button button-quiet" onClick={() => onClose(changed)}>
                {t('actions.close')}
              </button>
              <button type="submit" className="button button-primary" disabled={busy || needsShared}>
                {t('share.add')}
              </button>
            </div>
          </form>
        ) : (
          <div>
            {members.length === 0 ? (
              <p className="empty">{t('share.noMembers')}</p>
            ) : (
              <table className="members">
                <thead>
                  <tr>
                    <th scope="col">
                      <input
                        type="checkbox"
                        aria-label={t('share.selectAll')}
                        checked={selected.size === members.length}
                        onChange={(e) =>
                          setSelected(new Set(e.target.checked ? members.map((m) => m.member_id!) : []))
                        }
                      />
                    </th>
                    <th scope="col">{t('details.memberProject')}</th>
                    <th scope="col">{t('details.memberStatus')}</th>
                    <th scope="col">{t('details.memberSince')}</th>
                  </tr>
                </thead>
                <tbody>
                  {members.map((m) => (
                    <tr key={m.member_id}>
                      <td>
                        <input
                          type="checkbox"
                          aria-label={t('share.select', { id: m.member_id! })}
                          checked={selected.has(m.member_id!)}
                          onChange={() => toggle(m.member_id!)}
                        />
                      </td>
                      <td className="mono">{m.member_id}</td>
                      <td>
                        <MemberBadge status={m.status ?? 'pending'} />
                      </td>
                      <td>{formatDate(m.created_at, locale)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <div className="dialog-actions">
              <button type="button" className="button button-quiet" onClick={() => onClose(changed)}>
                {t('actions.close')}
              </button>
              <button
                type="button"
                className="button button-danger"
                disabled={busy || selected.size === 0}
                onClick={() => void remove()}
              >
                {t('share.remove')}
              </button>
            </div>
          </div>
        )}
        <div aria-live="polite">{changed && <p className="notice">{changed}</p>}</div>
        <ErrorMessage error={error} />
      </div>
    </Dialog>
  );
}
