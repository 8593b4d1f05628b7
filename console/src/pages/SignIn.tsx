import { useId, useState, type FormEvent } from 'react';
import { useSession } from '../api/client-context.tsx';
import { anonymousClient, rescope, scopableProjects, sessionOf } from '../api/session.ts';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { useI18n } from '../i18n/i18n.tsx';

/** Keystone password sign-in; without a project, the first project the user may use is chosen. */
export function SignIn() {
  const { t } = useI18n();
  const { signIn, endedBecause } = useSession();
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [userDomain, setUserDomain] = useState('Default');
  const [project, setProject] = useState('');
  const [projectDomain, setProjectDomain] = useState('Default');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { token, body } = await anonymousClient().passwordToken({
        user: user.trim(),
        password,
        userDomain: userDomain.trim() || 'Default',
        ...(project.trim()
          ? { project: project.trim(), projectDomain: projectDomain.trim() || 'Default' }
          : {}),
      });
      const scoped = sessionOf(token, body);
      if (scoped) return signIn(scoped);
      const projects = await scopableProjects(token);
      if (projects.length === 0) throw new Error(t('signIn.noProject'));
      signIn(await rescope(token, projects[0]!.id));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <form className="card form" onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-title`}>
        <h1 id={`${id}-title`}>{t('signIn.title')}</h1>
        {endedBecause === 'expired' && (
          <p className="notice" role="status">
            {t('session.expired')}
          </p>
        )}
        <label htmlFor={`${id}-user`}>{t('signIn.user')}</label>
        <input
          id={`${id}-user`}
          name="username"
          autoComplete="username"
          value={user}
          onChange={(e) => setUser(e.target.value)}
          required
        />
        <label htmlFor={`${id}-password`}>{t('signIn.password')}</label>
        <input
          id={`${id}-password`}
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
        <label htmlFor={`${id}-udomain`}>{t('signIn.userDomain')}</label>
        <input
          id={`${id}-udomain`}
          name="user-domain"
          value={userDomain}
          onChange={(e) => setUserDomain(e.target.value)}
        />
        <label htmlFor={`${id}-project`}>{t('signIn.project')}</label>
        <input
          id={`${id}-project`}
          name="project"
          value={project}
          onChange={(e) => setProject(e.target.value)}
          aria-describedby={`${id}-project-hint`}
        />
        <p id={`${id}-project-hint`} className="hint">
          {t('signIn.projectHint')}
        </p>
        <label htmlFor={`${id}-pdomain`}>{t('signIn.projectDomain')}</label>
        <input
          id={`${id}-pdomain`}
          name="project-domain"
          value={projectDomain}
          onChange={(e) => setProjectDomain(e.target.value)}
        />
        <ErrorMessage error={error} />
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy}>
            {busy ? t('signIn.busy') : t('signIn.submit')}
          </button>
        </div>
      </form>
    </main>
  );
}
