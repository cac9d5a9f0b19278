/**
 * Channel names and kinds, as the Pusher protocol defines them.
 * Names: 1–164 characters from `A-Z a-z 0-9 _ - = @ , . ;`; `#server-to-user-{id}` is reserved for
 * user authentication and may only be subscribed by the signed-in user it names.
 */
export type ChannelKind = 'public' | 'private' | 'presence' | 'encrypted' | 'server-to-user';

const VALID_NAME = /^[A-Za-z0-9_\-=@,.;]+$/;
export const SERVER_TO_USER_PREFIX = '#server-to-user-';

export function channelKind(name: string): ChannelKind {
  if (name.startsWith('private-encrypted-')) return 'encrypted';
  if (name.startsWith('private-')) return 'private';
  if (name.startsWith('presence-')) return 'presence';
  if (name.startsWith(SERVER_TO_USER_PREFIX)) return 'server-to-user';
  return 'public';
}

export function isCacheChannel(name: string): boolean {
  return (
    name.startsWith('cache-') ||
    name.startsWith('private-cache-') ||
    name.startsWith('private-encrypted-cache-') ||
    name.startsWith('presence-cache-')
  );
}

/** Returns why `name` is not a valid channel name, or null when it is. */
export function channelNameProblem(name: unknown, maxLength: number): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'channel name must be a non-empty string';
  if (name.length > maxLength) return `channel name is longer than ${maxLength} characters`;
  if (name.startsWith(SERVER_TO_USER_PREFIX)) {
    return name.length > SERVER_TO_USER_PREFIX.length ? null : 'channel name is missing the user id';
  }
  if (!VALID_NAME.test(name)) return 'channel name may only contain A-Z, a-z, 0-9, and _-=@,.;';
  return null;
}

/** Channels that need a signed `auth` to subscribe. */
export function needsAuth(kind: ChannelKind): boolean {
  return kind === 'private' || kind === 'presence' || kind === 'encrypted';
}

/** Channels on which clients may send `client-*` events. */
export function allowsClientEvents(kind: ChannelKind): boolean {
  return kind === 'private' || kind === 'presence';
}

export function serverToUserChannel(userId: string): string {
  return SERVER_TO_USER_PREFIX + userId;
}
