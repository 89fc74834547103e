/** Gitea writes times as RFC 3339; a missing or unreadable one is no time at all. */
export function giteaTime(value: string | null | undefined): Date | null {
  if (!value) return null;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? null : t;
}
