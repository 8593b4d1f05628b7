import { useEffect, useId, useState } from 'react';
import { useSession } from './api/client-context.tsx';
import { rescope, scopableProjects, type ProjectRef } from './api/session.ts';
import { JobsProvider } from './api/jobs.tsx';
import { ErrorMessage } from './components/ErrorMessage.tsx';
import { JobsPanel } from './components/JobsPanel.tsx';
import { useI18n } from './i18n/i18n.tsx';
import { LANGUAGES, type Language } from './i18n/messages.ts';
import type { TabKey } from './api/image-lists.ts';
import { CreateImage } from './pages/CreateImage.tsx';
import { ImageDetails } from './pages/ImageDetails.tsx';
import { ImageList } from './pages/ImageList.tsx';
import { SignIn } from './pages/SignIn.tsx';
import { Link, useRoute } from './router.tsx';

function LanguageSwitch() {
  const { t, lang, setLang } = useI18n();
  const id = useId();
  return (
    <div className="lang">
      <label htmlFor={id}>{t('lang.label')}</label>
      <select id={id} value={lang} onChange={(e) => setLang(e.target.value as Language)}>
        {Object.entries(LANGUAGES).map(([code, name]) => (
          <option key={code} value={code} lang={code}>
            {name}
          </option>
        ))}
      </select>
    </div>
  );
}

function ProjectSwitch() {
  const { t } = useI18n();
  const { session, signIn } = useSession();
  const [projects, setProjects] = useState<ProjectRef[]>([]);
  const [error, setError] = useState<unknown>(null);
  const id = useId();
  useEffect(() => {
    if (!session) return;
    scopableProjects(session.token).then(setProjects, setError);
  }, [session]);
  if (!session) return null;
  const choose = async (projectId: string) => {
    try {
      signIn(await rescope(session.token, projectId));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div className="project">
      <label htmlFor={id}>{t('session.project')}</label>
      <select
        id={id}
        value={session.project.id}
        onChange={(e) => void choose(e.target.value)}
        title={t('session.switchProject')}
      >
        {!projects.some((p) => p.id === session.project.id) && (
          <option value={session.project.id}>{session.project.name}</option>
        )}
        {projects.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
          </option>
        ))}
      </select>
      <span className="mono small project-id" data-project-id={session.project.id}>
        {session.project.id}
      </span>
      {error ? <ErrorMessage error={error} /> : null}
    </div>
  );
}

export function App() {
  const { t } = useI18n();
  const { session, signOut } = useSession();
  const route = useRoute();

  useEffect(() => {
    document.title = `IMS — ${t('app.title')}`;
  }, [t]);

  let page;
  const details = /^images\/([^/]+)$/.exec(route.path);
  if (!session) page = null;
  else if (route.path === '') {
    const tab = route.query.get('tab');
    page = (
      <ImageList
        key={session.project.id}
        initialTab={tab === 'shared' || tab === 'public' ? (tab as TabKey) : 'private'}
      />
    );
  } else if (route.path === 'create') page = <CreateImage key={session.project.id} />;
  else if (details)
    page = (
      <ImageDetails key={`${session.project.id}/${details[1]}`} imageId={decodeURIComponent(details[1]!)} />
    );
  else
    page = (
      <section>
        <h1>{t('notFound.title')}</h1>
        <Link to="">{t('actions.back')}</Link>
      </section>
    );

  return (
    <>
      <a href="#main" className="skip-link">
        {t('app.skip')}
      </a>
      <header className="topbar">
        <Link to="" className="brand">
          IMS <span className="brand-sub">{t('app.title')}</span>
        </Link>
        <div className="topbar-right">
          {session && <ProjectSwitch />}
          <LanguageSwitch />
          {session && (
            <>
              <span className="user">{session.user.name}</span>
              <button type="button" className="button button-quiet" onClick={() => signOut()}>
                {t('session.signOut')}
              </button>
            </>
          )}
        </div>
      </header>
      {session ? (
        <JobsProvider key={session.project.id}>
          <main id="main" className="content">
            {page}
            <JobsPanel />
          </main>
        </JobsProvider>
      ) : (
        <SignIn />
      )}
    </>
  );
}
