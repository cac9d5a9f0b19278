<?php

namespace Wiremesh\Laravel\Events;

/** wiremesh's own: a user left their last presence channel anywhere in the cluster: userId(). */
class UserOffline extends WebhookEvent
{
}
