<?php

namespace Wiremesh\Laravel\Tests;

use Illuminate\Support\Facades\Blade;
use Wiremesh\Laravel\Facades\Wiremesh;

/** Shared fragments: the package's render route (signed with the derived key) and the Blade component. */
class FragmentTest extends TestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        Wiremesh::fragment('online-users', fn (string $channel, $members) => view()->file(__DIR__.'/fixtures/online-users.blade.php', [
            'channel' => $channel,
            'members' => $members->sortBy('name'),
        ]), ['presence-lobby', 'presence-room.*']);
    }

    private function render(array $event, ?string $key = null, ?int $timeMs = null): \Illuminate\Testing\TestResponse
    {
        [$raw, $headers] = $this->signed(
            ['time_ms' => $timeMs ?? $this->nowMs(), 'events' => [['name' => 'fragment_render', 'subscription_count' => 2] + $event]],
            $key ?? hash_hmac('sha256', 'wiremesh-fragment-v1', 'app-secret'),
        );

        return $this->call('POST', '/wiremesh/fragments', [], [], [], $headers + ['HTTP_X_WIREMESH_NODE' => 'node-a'], $raw);
    }

    public function test_the_route_renders_the_fragment_with_the_members_outside_the_session(): void
    {
        $response = $this->render(['fragment' => 'online-users', 'channel' => 'presence-room.4', 'members' => [
            ['user_id' => '2', 'user_info' => ['name' => 'Grace']],
            ['user_id' => '1', 'user_info' => ['name' => 'Ada']],
        ]]);

        $response->assertOk()->assertHeader('Content-Type', 'text/html; charset=UTF-8');
        $this->assertSame("<p>2 online in presence-room.4</p><ul><li>Ada</li><li>Grace</li></ul>\n", $response->getContent());
        $this->assertEmpty($response->headers->getCookies(), 'no session, no cookie');
    }

    public function test_a_bad_signature_a_stale_request_or_an_unknown_fragment_is_refused(): void
    {
        $event = ['fragment' => 'online-users', 'channel' => 'presence-lobby', 'members' => []];

        $signedWithSecret = $this->render($event, 'app-secret');
        $signedWithSecret->assertStatus(401);
        $this->assertSame('Invalid signature', $signedWithSecret->getContent(), 'a webhook signature is not a render signature');
        $this->render($event, 'wrong')->assertStatus(401);
        $this->render($event, null, $this->nowMs() - 120_000)->assertStatus(401);
        $this->render(['fragment' => 'secrets'] + $event)->assertNotFound();
        $this->render(['channel' => 'private-admin'] + $event)->assertNotFound();
        $this->render($event)->assertOk();
    }

    public function test_the_component_renders_the_first_html_inside_the_marker(): void
    {
        $html = Blade::render('<x-wiremesh-fragment name="online-users" channel="presence-lobby" class="online" />');

        $this->assertSame(
            '<div data-wiremesh-fragment="online-users" data-channel="presence-lobby" wire:ignore class="online">'
            ."<p>0 online in presence-lobby</p><ul></ul>\n</div>",
            $html,
        );
        $this->assertStringStartsWith('<div data-wiremesh-fragment="online-users" data-channel="presence-lobby" wire:ignore>', Blade::render("@wiremeshFragment('online-users', 'presence-lobby')"));
    }
}
