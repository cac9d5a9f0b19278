<?php

namespace Wiremesh\Laravel\Events;

/** A channel got its first subscriber anywhere in the cluster. */
class ChannelOccupied extends WebhookEvent
{
}
