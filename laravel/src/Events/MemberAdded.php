<?php

namespace Wiremesh\Laravel\Events;

/** A user joined a presence channel (their first connection on it): channel(), userId(). */
class MemberAdded extends WebhookEvent
{
}
