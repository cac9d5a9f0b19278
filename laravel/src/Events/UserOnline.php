<?php

namespace Wiremesh\Laravel\Events;

/** wiremesh's own: a user's first presence channel anywhere in the cluster: userId(). */
class UserOnline extends WebhookEvent
{
}
