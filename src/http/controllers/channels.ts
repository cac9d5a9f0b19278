/** GET /apps/{id}/channels, /channels/{name}, /channels/{name}/users */
import { httpError } from '../../errors.js';
import { channelKind, channelNameProblem } from '../../protocol/channels.js';
import { infoFields, type ApiContext } from '../context.js';

export function listChannels(ctx: ApiContext): unknown {
  const prefix = ctx.query.filter_by_prefix ?? '';
  const info = infoFields(ctx.query.info);
  if (info.has('user_count') && !prefix.startsWith('presence-')) {
    throw httpError(400, 'info=user_count is only allowed with filter_by_prefix=presence-');
  }
  const channels: Record<string, Record<string, number>> = Object.create(null); // a channel may be "__proto__"
  for (const c of ctx.queries.channels(ctx.app.id, prefix)) {
    const entry: Record<string, number> = {};
    if (info.has('user_count')) entry.user_count = c.userCount;
    if (info.has('subscription_count')) entry.subscription_count = c.subscriptionCount;
    channels[c.name] = entry;
  }
  return { channels };
}

function channelParam(ctx: ApiContext): string {
  const name = ctx.params.channel as string;
  const problem = channelNameProblem(name, ctx.maxChannelNameLength);
  if (problem) throw httpError(400, `Invalid channel name: ${problem}`);
  return name;
}

export function showChannel(ctx: ApiContext): unknown {
  const name = channelParam(ctx);
  const info = infoFields(ctx.query.info);
  const presence = channelKind(name) === 'presence';
  if (info.has('user_count') && !presence)
    throw httpError(400, 'info=user_count is only allowed for presence channels');
  const snap = ctx.queries.channel(ctx.app.id, name);
  const out: Record<string, unknown> = { occupied: snap.occupied };
  if (info.has('user_count')) out.user_count = snap.userCount ?? 0;
  if (info.has('subscription_count')) out.subscription_count = snap.subscriptionCount;
  return out;
}

export function channelUsers(ctx: ApiContext): unknown {
  const name = channelParam(ctx);
  if (channelKind(name) !== 'presence') throw httpError(400, 'Users can only be listed for presence channels');
  return { users: ctx.queries.users(ctx.app.id, name).map((id) => ({ id })) };
}

export function terminateConnections(ctx: ApiContext): unknown {
  const userId = ctx.params.user as string;
  if (!userId) throw httpError(400, 'User id is required');
  ctx.publisher.terminateUser(ctx.app, userId);
  return {};
}
