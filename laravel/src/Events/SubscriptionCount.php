<?php

namespace Wiremesh\Laravel\Events;

/** A channel's subscriber count changed: payload['subscription_count']. */
class SubscriptionCount extends WebhookEvent
{
}
