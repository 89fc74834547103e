/** The chosen project lives in the address (?projectId=), so a board can be bookmarked and shared. */
export function projectIdFromUrl(): number | null {
  const value = new URLSearchParams(location.search).get('projectId');
  const id = Number(value);
  return value && Number.isInteger(id) && id > 0 ? id : null;
}

export function showProjectInUrl(projectId: number | null): void {
  const params = new URLSearchParams(location.search);
  if (projectId === null) params.delete('projectId');
  else params.set('projectId', String(projectId));
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
}
