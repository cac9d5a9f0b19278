/**
 * wiremesh-livewire: Livewire 3/4 component updates (and Echo authorization) over the page's
 * pusher-js socket to a wiremesh server, with a transparent fallback to HTTP.
 *
 *   import { installLivewireTransport } from 'wiremesh-livewire';
 *   installLivewireTransport({ pusher: window.Echo.connector.pusher });
 *
 * The script build exposes the same names on `window.WiremeshLivewire`.
 */
export {
  installLivewireTransport,
  currentTransport,
  DEFAULT_TIMEOUT_MS,
  type LivewireTransportOptions,
  type TransportHandle,
  type TransportEvent,
  type HttpReason,
} from './transport.js';
export {
  isLivewireUpdate,
  isLivewireUpdatePath,
  configuredUpdatePath,
  type RequestShape,
  type RequestMatcher,
} from './match.js';
export {
  socketChannelAuthorizer,
  socketUserAuthenticator,
  AuthRequestError,
  type SocketAuthOptions,
  type TransportRef,
  type ChannelAuthorizationHandler,
  type UserAuthenticationHandler,
} from './auth.js';
export { connectShared, type SharedConnectOptions, type SharedSocket } from './shared-client.js';
export { CircuitBreaker, DEFAULT_BREAKER, type BreakerOptions, type BreakerState } from './fallback.js';
export { TunnelError, ConfigError, type TunnelErrorCode } from './errors.js';
export { TunnelEvents } from './protocol.js';
export {
  installFragments,
  FragmentEvents,
  type FragmentsOptions,
  type FragmentsHandle,
  type FragmentEvent,
  type FragmentSocket,
  type FragmentChannel,
} from './fragments.js';
export type { TunnelSocket } from './socket.js';
export { enableResume, type ResumablePusher, type ResumeOptions, type ResumeHandle } from './resume.js';
