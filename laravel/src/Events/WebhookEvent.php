<?php

namespace Wiremesh\Laravel\Events;

use Illuminate\Foundation\Events\Dispatchable;

/**
 * One event of a wiremesh webhook, as a Laravel event: listen for the subclass you need
 * (MemberAdded, ChannelOccupied, UserOnline, …) or for this class to get them all.
 */
abstract class WebhookEvent
{
    use Dispatchable;

    /** @var array<string, class-string<WebhookEvent>> */
    public const CLASSES = [
        'channel_occupied' => ChannelOccupied::class,
        'channel_vacated' => ChannelVacated::class,
        'member_added' => MemberAdded::class,
        'member_removed' => MemberRemoved::class,
        'client_event' => ClientEvent::class,
        'subscription_count' => SubscriptionCount::class,
        'cache_miss' => CacheMiss::class,
        'user_online' => UserOnline::class,
        'user_offline' => UserOffline::class,
    ];

    /**
     * @param  string  $name  the webhook event's name (`member_added`, …)
     * @param  int  $timeMs  when wiremesh sent the batch (ms since the epoch)
     * @param  array<string, mixed>  $payload  the event as wiremesh sent it
     */
    final public function __construct(
        public readonly string $name,
        public readonly int $timeMs,
        public readonly array $payload,
    ) {
    }

    /** The Laravel event for one webhook event, or null for a name this package does not know. */
    public static function from(array $event, int $timeMs): ?self
    {
        $class = self::CLASSES[$event['name'] ?? ''] ?? null;

        return $class === null ? null : new $class($event['name'], $timeMs, $event);
    }

    public function channel(): ?string
    {
        return isset($this->payload['channel']) ? (string) $this->payload['channel'] : null;
    }

    public function userId(): ?string
    {
        return isset($this->payload['user_id']) ? (string) $this->payload['user_id'] : null;
    }
}
