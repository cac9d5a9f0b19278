<?php

namespace Wiremesh\Laravel\Events;

/** A client subscribed to a cache channel that holds no event yet. */
class CacheMiss extends WebhookEvent
{
}
