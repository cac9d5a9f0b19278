import type { Logger } from '../log/logger.js';

/**
 * One line per socket closed for a frame over `limits.maxFrameBytes` (1009, or a cut by uWS past
 * twice the limit): the client, and the setting to raise if the frames are legitimate.
 */
export function frameTooLarge(logger: Logger, client: string, bytes: number | undefined, limit: number): void {
  logger.warn('socket closed: a frame exceeded limits.maxFrameBytes (1009 Message too big)', {
    client: client || 'unknown',
    ...(bytes === undefined ? {} : { bytes }),
    limit,
    setting: 'limits.maxFrameBytes',
  });
}
