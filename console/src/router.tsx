import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

/** The console lives under /console; its routes are the paths below it. */
export const BASE = '/console';

export interface Route {
  /** e.g. "", "create", "images/<id>" */
  path: string;
  query: URLSearchParams;
}

function current(): Route {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';
  return { path: p.replace(/^\/+|\/+$/g, ''), query: new URLSearchParams(location.search) };
}

const listeners = new Set<() => void>();

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = `${BASE}/${to.replace(/^\/+/, '')}`;
  if (options.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  listeners.forEach((l) => l());
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** An in-app link: a real href (open in a new tab works), client-side navigation on a plain click. */
export function Link({ to, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    rest.onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a {...rest} href={`${BASE}/${to}`} onClick={onClick} />;
}
