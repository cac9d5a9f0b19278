<?php

namespace Wiremesh\Laravel\Events;

/** A channel lost its last subscriber anywhere in the cluster. */
class ChannelVacated extends WebhookEvent
{
}
