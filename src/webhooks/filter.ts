/** Which events an endpoint receives: its `events` list and its channel name filter. Pure. */
import type { WebhookEndpointConfig, WebhookEventName } from '../config/schema.js';
import type { WebhookEvent } from './types.js';

export function endpointWantsName(endpoint: WebhookEndpointConfig, name: WebhookEventName): boolean {
  return endpoint.events.includes(name);
}

export function endpointAccepts(endpoint: WebhookEndpointConfig, event: WebhookEvent): boolean {
  if (!endpoint.events.includes(event.name)) return false;
  if (!('channel' in event)) return true; // user events: channel filters do not apply
  const { channelNamePrefix, channelNameSuffix } = endpoint.filter;
  if (channelNamePrefix && !event.channel.startsWith(channelNamePrefix)) return false;
  if (channelNameSuffix && !event.channel.endsWith(channelNameSuffix)) return false;
  return true;
}
