/** Only http(s) links are rendered, so a stored URL can never run script. */
export function safeHref(url: string | null): string | null {
  if (!url) return null;
  try {
    const { protocol } = new URL(url);
    return protocol === 'http:' || protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

const UNITS: Array<[limit: number, seconds: number, unit: string]> = [
  [3600, 60, 'min'],
  [86_400, 3600, 'h'],
  [Infinity, 86_400, 'd'],
];

/** "<1 min", "5 min", "3 h", "2 d": how long ago `since` was, as a person scans it. */
export function elapsed(since: string, now: number): string {
  const seconds = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (seconds < 60) return '<1 min';
  const [, size, unit] = UNITS.find(([limit]) => seconds < limit)!;
  return `${Math.floor(seconds / size)} ${unit}`;
}

export const stateLabel = (state: string) => state.replace(/_/g, ' ');
