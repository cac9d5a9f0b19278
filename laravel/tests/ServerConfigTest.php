<?php

namespace Wiremesh\Laravel\Tests;

use Wiremesh\Laravel\Facades\Wiremesh;

/** The configuration wiremesh:start hands to wiremesh, built from Laravel's. */
class ServerConfigTest extends TestCase
{
    private function started(array $options = []): array
    {
        $this->artisan('wiremesh:start', ['--dry-run' => true] + $options)->assertSuccessful();
        $file = storage_path('framework/wiremesh/wiremesh.json');
        $this->assertSame('0600', substr(sprintf('%o', fileperms($file)), -4), 'the file holds the app secret');

        return json_decode(file_get_contents($file), true);
    }

    public function test_the_app_comes_from_the_broadcasting_connection_and_the_tunnel_from_app_url(): void
    {
        config(['app.url' => 'https://shop.example.com/', 'wiremesh.livewire.upstream' => 'http://127.0.0.1:8000']);

        $config = $this->started();

        $this->assertSame('127.0.0.1', $config['host']);
        $this->assertSame(6001, $config['port'], 'the port Laravel\'s broadcaster posts to');
        $this->assertSame([
            'id' => 'app-id',
            'key' => 'app-key',
            'secret' => 'app-secret',
            'livewire' => ['backends' => ['http://127.0.0.1:8000'], 'publicUrl' => 'https://shop.example.com', 'healthPath' => '/wiremesh/up'],
            'webhooks' => [[
                'url' => 'http://127.0.0.1:8000/wiremesh/webhook',
                'events' => ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'user_online', 'user_offline'],
            ]],
        ], $config['apps'][0]);
        $this->assertArrayNotHasKey('cluster', $config);
    }

    public function test_options_fragments_cluster_and_history_reach_the_config(): void
    {
        config([
            'app.url' => 'http://localhost:8000',
            'wiremesh.cluster.driver' => 'redis',
            'wiremesh.cluster.redis.url' => 'redis://10.0.0.5:6379',
            'wiremesh.history' => ['channels' => ['private-orders.*'], 'maxEvents' => 50],
        ]);
        Wiremesh::fragment('online-users', fn ($channel, $members) => count($members).' online', ['presence-lobby']);

        $config = $this->started(['--host' => '0.0.0.0', '--port' => '7001', '--debug' => true]);

        $this->assertSame(['0.0.0.0', 7001, 'debug'], [$config['host'], $config['port'], $config['logLevel']]);
        $this->assertSame(['driver' => 'redis', 'redis' => ['url' => 'redis://10.0.0.5:6379']], $config['cluster']);
        $app = $config['apps'][0];
        $this->assertSame('http://localhost:8000', $app['livewire']['publicUrl']);
        $this->assertSame(['path' => '/wiremesh/fragments', 'names' => ['online-users' => ['presence-lobby']], 'windowMs' => 100, 'intervalMs' => 0], $app['fragments']);
        $this->assertSame(['channels' => ['private-orders.*'], 'maxEvents' => 50], $app['history']);
    }

    public function test_the_command_runs_the_pinned_npm_package_or_the_configured_binary(): void
    {
        config(['wiremesh.binary' => null]);
        $local = base_path('node_modules/.bin/wiremesh');
        if (! is_file($local)) {
            $this->artisan('wiremesh:start', ['--dry-run' => true])
                ->expectsOutputToContain('--yes wiremesh@'.json_decode(file_get_contents(__DIR__.'/../composer.json'), true)['extra']['wiremesh']['npm-version'].' start --config')
                ->assertSuccessful();
        }
        $this->assertSame(config('wiremesh.version'), json_decode(file_get_contents(__DIR__.'/../composer.json'), true)['extra']['wiremesh']['npm-version']);

        config(['wiremesh.binary' => 'no/such/wiremesh.js']);
        $this->expectExceptionMessage('wiremesh.binary (WIREMESH_BINARY) is no/such/wiremesh.js, which does not exist');
        $this->artisan('wiremesh:start', ['--dry-run' => true])->run();
    }

    public function test_a_bad_port_is_refused(): void
    {
        $this->artisan('wiremesh:start', ['--dry-run' => true, '--port' => 'http'])
            ->expectsOutputToContain('--port must be a port number, not http')
            ->assertExitCode(2);
    }

    public function test_the_health_route_answers_without_a_session_and_the_routes_can_be_cached(): void
    {
        $response = $this->get('/wiremesh/up');
        $response->assertOk()->assertSee('OK');
        $this->assertEmpty($response->headers->getCookies());
        foreach (['wiremesh.up', 'wiremesh.webhook', 'wiremesh.fragments', 'wiremesh.assets'] as $name) {
            $route = app('router')->getRoutes()->getByName($name);
            $this->assertNotNull($route, $name);
            $this->assertIsString($route->getAction('uses'), "{$name} is a controller (route:cache)");
            $this->assertSame([], $route->gatherMiddleware(), "{$name} is outside the web group");
        }
    }
}
