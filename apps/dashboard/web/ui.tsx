import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { RunStatus } from './api.js';
import { formatDuration } from './run-model.js';
import type { LinkState } from './sse.js';

/** Client-side navigation: the History API plus an event the router listens to. */
export function navigate(to: string, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  dispatchEvent(new Event('runstream:navigate'));
}

export function useLocation(): { path: string; search: URLSearchParams } {
  const read = () => ({ path: location.pathname, search: new URLSearchParams(location.search) });
  const [current, setCurrent] = useState(read);
  useEffect(() => {
    const update = () => setCurrent(read());
    addEventListener('popstate', update);
    addEventListener('runstream:navigate', update);
    return () => {
      removeEventListener('popstate', update);
      removeEventListener('runstream:navigate', update);
    };
  }, []);
  return current;
}

/** An in-app link: a real `<a href>` (middle-click, copy link and keyboard all work) that navigates in place. */
export function Link({
  href,
  children,
  ...rest
}: {
  href: string;
  children: ComponentChildren;
  class?: string;
  'aria-label'?: string;
  'aria-current'?: 'page' | undefined;
}) {
  const onClick = (event: MouseEvent) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}

const statusLabels: Record<string, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
  completed: 'Completed',
  retrying: 'Retrying',
  cancelling: 'Cancelling',
};

/** A status as colour and text (never colour alone). */
export function StatusBadge({ status }: { status: RunStatus | string }) {
  return (
    <span class={`badge badge-${status}`} data-status={status}>
      <span class="badge-dot" aria-hidden="true" />
      {statusLabels[status] ?? status}
    </span>
  );
}

/** Re-renders every `ms` while `active`: live durations and relative times. */
export function useNow(ms = 1_000, active = true): number {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setTick((n) => n + 1), ms);
    return () => clearInterval(timer);
  }, [ms, active]);
  // The state only schedules renders; each render reads the clock, so a render for any reason is current.
  return Date.now();
}

export function relativeTime(iso: string, now: number): string {
  const seconds = Math.round((now - new Date(iso).getTime()) / 1_000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ago`;
  return new Date(iso).toLocaleDateString();
}

export function RelativeTime({ iso }: { iso: string }) {
  const now = useNow(5_000);
  return (
    <time dateTime={iso} title={new Date(iso).toLocaleString()}>
      {relativeTime(iso, now)}
    </time>
  );
}

/** Finished: the run's duration; running: a live one; not started: a dash. */
export function RunDuration({ startedAt, finishedAt }: { startedAt: string | null; finishedAt: string | null }) {
  const live = startedAt !== null && finishedAt === null;
  const now = useNow(1_000, live);
  if (!startedAt) return <span class="muted">—</span>;
  const end = finishedAt ? new Date(finishedAt).getTime() : now;
  return <span class={live ? 'live-duration' : undefined}>{formatDuration(end - new Date(startedAt).getTime())}</span>;
}

export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" aria-label={label} tabIndex={0}>
      {JSON.stringify(value, null, 2) ?? 'undefined'}
    </pre>
  );
}

const linkLabels: Record<LinkState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  ended: 'Ended',
  failed: 'Disconnected',
};

/** The state of a live stream, for people (text) and tests (data-link). */
export function LinkIndicator({ state, detail }: { state: LinkState; detail?: string | undefined }) {
  return (
    <span class={`link link-${state}`} data-link={state} role="status" title={detail}>
      <span class="link-dot" aria-hidden="true" />
      {linkLabels[state]}
      {detail && state !== 'live' ? <span class="visually-hidden"> ({detail})</span> : null}
    </span>
  );
}

/** Run ids are UUIDv7, whose leading digits are a timestamp shared by runs created together: show the tail. */
export function shortId(id: string): string {
  return id.length > 12 ? `…${id.slice(-8)}` : id;
}
