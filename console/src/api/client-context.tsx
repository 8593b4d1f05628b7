import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { ImsClient } from '../../../sdk/client.ts';
import { loadSession, saveSession, type Session } from './session.ts';

interface SessionState {
  session: Session | null;
  /** A client carrying the session's token; its 401 answers end the session. */
  client: ImsClient;
  signIn: (s: Session) => void;
  signOut: (reason?: 'expired') => void;
  /** Why the last session ended, for the sign-in page. */
  endedBecause: 'expired' | null;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [endedBecause, setEndedBecause] = useState<'expired' | null>(null);

  const signIn = useCallback((s: Session) => {
    saveSession(s);
    setEndedBecause(null);
    setSession(s);
  }, []);
  const signOut = useCallback((reason?: 'expired') => {
    const old = loadSession();
    saveSession(null);
    setEndedBecause(reason ?? null);
    setSession(null);
    // Revoke the token too, as a courtesy to the server; the answer does not matter.
    if (old && !reason) {
      void fetch(`${location.origin}/v3/auth/tokens`, {
        method: 'DELETE',
        headers: { 'x-auth-token': old.token, 'x-subject-token': old.token },
      }).catch(() => undefined);
    }
  }, []);

  const client = useMemo(
    () =>
      new ImsClient({
        baseUrl: location.origin,
        token: () => session?.token,
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          if (response.status === 401 && session) signOut('expired');
          return response;
        },
      }),
    [session, signOut],
  );
  const value = useMemo(
    () => ({ session, client, signIn, signOut, endedBecause }),
    [session, client, signIn, signOut, endedBecause],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const ctx = useContext(SessionContext);
  if (!ctx) throw new Error('useSession outside SessionProvider');
  return ctx;
}

/** The client and session of a signed-in page. */
export function useApi(): { client: ImsClient; session: Session } {
  const { client, session } = useSession();
  if (!session) throw new Error('useApi needs a session');
  return { client, session };
}
