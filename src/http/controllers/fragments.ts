/**
 * POST /apps/{id}/fragments/{name}/refresh — re-render a shared fragment on every node that has
 * viewers of it (docs/fragments.md). Body: `{"channel": "presence-lobby"}` for one channel's
 * fragment, or empty / `{}` for the fragment on every channel. Answers `{}` at once; the renders
 * happen in the background, coalesced with other triggers.
 */
import { FRAGMENT_NAME } from '../../config/fragments.js';
import { httpError } from '../../errors.js';
import { channelNameProblem } from '../../protocol/channels.js';
import { jsonBody, type ApiContext } from '../context.js';

export function refreshFragment(ctx: ApiContext): unknown {
  const fragments = ctx.fragments;
  if (!ctx.app.fragments || !fragments) throw httpError(404, 'Shared fragments are not enabled for this app');
  const name = ctx.params.name as string;
  if (!FRAGMENT_NAME.test(name)) throw httpError(400, 'Fragment name must be 1–64 characters A-Z a-z 0-9 _ - . :');
  if (!Object.hasOwn(ctx.app.fragments.names, name)) {
    throw httpError(404, `No fragment named ${name}`);
  }
  const body = ctx.body.length === 0 ? {} : jsonBody(ctx);
  const channel = body.channel;
  if (channel !== undefined) {
    const problem =
      typeof channel === 'string' ? channelNameProblem(channel, ctx.maxChannelNameLength) : 'must be a string';
    if (problem || typeof channel !== 'string') throw httpError(400, `Invalid channel: ${problem}`);
  }
  fragments.refresh(ctx.app, name, channel);
  return {};
}
