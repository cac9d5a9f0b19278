<?php

namespace Wiremesh\Laravel\Tests;

use Illuminate\Support\Facades\Event;
use Wiremesh\Laravel\Events\ChannelOccupied;
use Wiremesh\Laravel\Events\ClientEvent;
use Wiremesh\Laravel\Events\MemberAdded;
use Wiremesh\Laravel\Events\UserOnline;
use Wiremesh\Laravel\Events\WebhookEvent;

/** wiremesh's webhooks on the package's route, as Laravel events. */
class WebhookTest extends TestCase
{
    public function test_each_webhook_event_becomes_a_laravel_event(): void
    {
        Event::fake();
        [$raw, $headers] = $this->signed(['time_ms' => $this->nowMs(), 'events' => [
            ['name' => 'channel_occupied', 'channel' => 'presence-lobby'],
            ['name' => 'member_added', 'channel' => 'presence-lobby', 'user_id' => '7'],
            ['name' => 'user_online', 'user_id' => '7'],
            ['name' => 'client_event', 'channel' => 'private-chat', 'event' => 'client-typing', 'data' => '{"who":"ada"}', 'socket_id' => '1.2'],
            ['name' => 'something_new', 'channel' => 'x'],
        ]], 'app-secret');

        $response = $this->call('POST', '/wiremesh/webhook', [], [], [], $headers, $raw);

        $response->assertOk()->assertExactJson(['dispatched' => 4]);
        $this->assertEmpty($response->headers->getCookies(), 'outside the session middleware');
        Event::assertDispatched(ChannelOccupied::class, fn ($e) => $e->channel() === 'presence-lobby');
        Event::assertDispatched(MemberAdded::class, fn ($e) => $e->channel() === 'presence-lobby' && $e->userId() === '7');
        Event::assertDispatched(UserOnline::class, fn ($e) => $e->userId() === '7' && $e->channel() === null);
        Event::assertDispatched(ClientEvent::class, fn ($e) => $e->event() === 'client-typing' && $e->data() === ['who' => 'ada'] && $e->socketId() === '1.2');
    }

    public function test_a_listener_receives_it(): void
    {
        $seen = [];
        Event::listen(MemberAdded::class, function (MemberAdded $e) use (&$seen) {
            $seen[] = "{$e->userId()} joined {$e->channel()}";
        });
        [$raw, $headers] = $this->signed(['time_ms' => $this->nowMs(), 'events' => [
            ['name' => 'member_added', 'channel' => 'presence-room.1', 'user_id' => '3'],
        ]], 'app-secret');

        $this->call('POST', '/wiremesh/webhook', [], [], [], $headers, $raw)->assertOk();

        $this->assertSame(['3 joined presence-room.1'], $seen);
    }

    public function test_a_bad_signature_is_a_401_without_a_trace_and_nothing_is_dispatched(): void
    {
        Event::fake();
        $body = ['time_ms' => $this->nowMs(), 'events' => [['name' => 'member_added', 'channel' => 'presence-lobby', 'user_id' => '7']]];
        foreach ([
            'another secret' => $this->signed($body, 'not-the-secret'),
            'the fragment key' => $this->signed($body, hash_hmac('sha256', 'wiremesh-fragment-v1', 'app-secret')),
            'another key' => $this->signed($body, 'app-secret', 'other-key'),
        ] as $case => [$raw, $headers]) {
            $response = $this->call('POST', '/wiremesh/webhook', [], [], [], $headers, $raw);
            $response->assertStatus(401);
            $this->assertSame('Invalid signature', $response->getContent(), $case);
        }
        [$raw, $headers] = $this->signed($body, 'app-secret');
        $this->call('POST', '/wiremesh/webhook', [], [], [], $headers, $raw.' ')->assertStatus(401);
        Event::assertNotDispatched(WebhookEvent::class);
        Event::assertNotDispatched(MemberAdded::class);
    }
}
