<?php

namespace Wiremesh\Laravel\Events;

/** A user left a presence channel (their last connection on it): channel(), userId(). */
class MemberRemoved extends WebhookEvent
{
}
