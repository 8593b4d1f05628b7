import { useRef } from 'react';

/** A tab list (WAI-ARIA tabs: arrows move between tabs, the selected one is in the Tab order). */
export function Tabs<K extends string>({
  label,
  tabs,
  selected,
  onSelect,
  idPrefix,
}: {
  label: string;
  tabs: { key: K; label: string }[];
  selected: K;
  onSelect: (key: K) => void;
  idPrefix: string;
}) {
  const list = useRef<HTMLDivElement>(null);
  const onKey = (e: React.KeyboardEvent) => {
    const at = tabs.findIndex((t) => t.key === selected);
    let next = -1;
    if (e.key === 'ArrowRight') next = (at + 1) % tabs.length;
    if (e.key === 'ArrowLeft') next = (at - 1 + tabs.length) % tabs.length;
    if (e.key === 'Home') next = 0;
    if (e.key === 'End') next = tabs.length - 1;
    if (next < 0) return;
    e.preventDefault();
    onSelect(tabs[next]!.key);
    list.current?.querySelectorAll<HTMLElement>('[role=tab]')[next]?.focus();
  };
  return (
    <div ref={list} role="tablist" aria-label={label} className="tabs" onKeyDown={onKey}>
      {tabs.map((tab) => (
        <button
          key={tab.key}
          type="button"
          role="tab"
          id={`${idPrefix}-tab-${tab.key}`}
          aria-selected={tab.key === selected}
          aria-controls={`${idPrefix}-panel`}
          tabIndex={tab.key === selected ? 0 : -1}
          className="tab"
          onClick={() => onSelect(tab.key)}
        >
          {tab.label}
        </button>
      ))}
    </div>
  );
}
