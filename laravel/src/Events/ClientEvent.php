<?php

namespace Wiremesh\Laravel\Events;

/** A client event (Echo's whisper) on a private or presence channel: channel(), event(), data(), socketId(). */
class ClientEvent extends WebhookEvent
{
    public function event(): string
    {
        return (string) ($this->payload['event'] ?? '');
    }

    /** The event's data, decoded from JSON when it is JSON. */
    public function data(): mixed
    {
        $data = $this->payload['data'] ?? null;
        if (! is_string($data)) {
            return $data;
        }
        $decoded = json_decode($data, true);

        return json_last_error() === JSON_ERROR_NONE ? $decoded : $data;
    }

    public function socketId(): string
    {
        return (string) ($this->payload['socket_id'] ?? '');
    }
}
